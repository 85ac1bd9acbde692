#!/usr/bin/env python3
"""viewers.py of ../shared/tools/janus-fanout, with video frames counted per viewer.

    class_viewers.py TOOLS_DIR [viewers.py arguments]

viewers.py's `--rx count` viewers read each SRTP datagram's cleartext RTP
header (payload type, sequence number, SSRC) at the socket and drop it; the
per-viewer `frames` of its JSON is only filled when aiortc decodes (`--rx
aiortc`). This wraps its socket hook once more: a video packet with the RTP
marker bit set (the last packet of a frame, RFC 6184) adds one to the viewer's
`frames`, so its per-viewer rows carry the frames whose last packet arrived in
the window. Everything else is viewers.py unchanged (the class_bench example
runs this).
"""
from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, sys.argv[1])
    argv = sys.argv[2:]

    import aioice.ice
    import viewers  # type: ignore[import-not-found]

    # viewers.py installs its hooks once (idempotent); ours must wrap them.
    local_ip = argv[argv.index("--local-ip") + 1] if "--local-ip" in argv else None
    viewers.install_hooks(ipv6="--ipv6" in argv, local_ip=local_ip)
    counted = aioice.ice.StunProtocol.datagram_received

    def datagram_received(self, data, addr, _counted=counted):
        tag = getattr(self.receiver, "_fanout_rx", None)
        if tag is not None and len(data) > 12 and 127 < data[0] < 192:
            b1 = data[1]
            # Marker set, and not RTCP (the same test as viewers.py's).
            if b1 & 0x80 and not 191 < b1 < 224:
                stats = tag[0]
                if stats.pt_kind.get(b1 & 0x7F) == "video":
                    stats.frames += 1
        return _counted(self, data, addr)

    aioice.ice.StunProtocol.datagram_received = datagram_received
    return viewers.main(argv)


if __name__ == "__main__":
    sys.exit(main())
