#!/usr/bin/env bash
# benches/netns.sh CMD [ARGS...] — runs CMD inside a private network namespace
# whose only addresses are on the loopback range, so every WebRTC candidate of
# the benchmark (classcast's, Janus's, the viewers') is a 127.x address and no
# media ever goes to the host's own interface address.
#
# The namespace "classcast-bench" (created once, kept; `benches/netns.sh --delete`
# removes it) has `lo` (127.0.0.1) and one veth pair with 127.0.0.2/32 on vb0:
# Janus (libnice) and GStreamer's webrtcbin (libnice too) never gather
# candidates on a loopback *interface*, but they do on 127.0.0.2 carried by a
# non-loopback one. HTTP servers still listen on 127.0.0.1.
#
# Needs root (ip netns); `make bench` runs as root on the CI machine size.
set -euo pipefail
NS=${BENCH_NETNS:-classcast-bench}
ADDR=${BENCH_ICE_IP:-127.0.0.2}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${1:-}" = --delete ]; then
  as_root ip netns del "$NS" 2>/dev/null || true
  exit 0
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...] | --delete" >&2
  exit 2
fi

if ! as_root ip netns exec "$NS" ip -4 -o addr show dev vb0 2>/dev/null | grep -q " $ADDR/"; then
  as_root ip netns del "$NS" 2>/dev/null || true
  as_root ip netns add "$NS"
  as_root ip netns exec "$NS" ip link set lo up
  as_root ip netns exec "$NS" ip link add vb0 type veth peer name vb1
  as_root ip netns exec "$NS" ip addr add "$ADDR/32" dev vb0
  as_root ip netns exec "$NS" ip link set vb0 up
  as_root ip netns exec "$NS" ip link set vb1 up
fi
export BENCH_ICE_IP=$ADDR
if [ "$(id -u)" -eq 0 ]; then exec ip netns exec "$NS" "$@"; fi
exec sudo --preserve-env ip netns exec "$NS" "$@"
