#!/usr/bin/env bash
# Installs what classcast needs on Debian 12, skipping what is already there.
# Usage: scripts/install-deps.sh [run|test|bench]
#   run   — GStreamer 1.22 runtime and build headers, Node.js for the web
#           app's build (enough for `make run`)
#   test  — also ffmpeg, Chromium, Node and Python test clients, PostgreSQL, Redis
#   bench — also Janus (the WebRTC fan-out peer) and perf; the benchmarks run
#           in a network namespace with no way out, so nothing can be fetched there
set -euo pipefail
mode=${1:-run}
here=$(cd "$(dirname "$0")/.." && pwd)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: Rust is missing. Install it with rustup (Rust 1.94 or newer), then run make again." >&2
  exit 1
fi

run_pkgs=(
  pkg-config gcc libssl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice gstreamer1.0-tools
  gstreamer1.0-x
)
# The emoji font: reactions in the browser tests' screenshots are glyphs, not boxes.
test_pkgs=(ffmpeg chromium fonts-noto-color-emoji python3-venv postgresql redis-server)
bench_pkgs=(janus linux-perf)

want=("${run_pkgs[@]}")
# Node builds the web app (player/) for every mode.
command -v node >/dev/null 2>&1 || want+=(nodejs npm)
[ "$mode" = bench ] && want+=("${bench_pkgs[@]}")
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  want+=("${test_pkgs[@]}")
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$mode" = test ] || [ "$mode" = bench ]; then
  # Python test clients (aiortc) live in a project-local venv.
  # (moto's server is the S3 + CloudFront the storage tests run against.)
  venv="$here/target/pyenv"
  requirements="$here/tests/python/requirements.txt"
  stamp="$venv/.requirements.sha256"
  want_sum=$(sha256sum "$requirements" | cut -d' ' -f1)
  if ! "$venv/bin/python" -c 'import aiortc, aiohttp, moto' 2>/dev/null \
     || [ "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ]; then
    echo "install-deps: installing the Python test clients into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    echo "$want_sum" > "$stamp"
  fi
  # playwright-core drives Debian's chromium; it never downloads a browser.
  if [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
    (cd "$here/tests/browser" && npm ci --silent --no-audit --no-fund)
  fi
fi
