#!/usr/bin/env python3
"""Independent WHIP publisher built on aiortc, for classcast's integration tests.

It is deliberately written against the WHIP spec (RFC 9725) and aiortc only, so the
server is exercised by "a client nobody here wrote".

Usage:
    python whip_publish.py --whip URL --token T [--codec h264|vp8] [--seconds N]
                           [--width 640 --height 360 --fps 30] [--no-delete] [--ice-loopback]

Output: one JSON object per line on stdout, flushed at once:
    {"event":"published","status":201,"location":...,"etag":...,"links":[...],"ms_to_201":N}
    {"event":"negotiated","video_codec":"video/H264","audio_codec":"audio/opus"}
    {"event":"state","connection":"connecting"|"connected"|"failed"|"closed"|...}
    {"event":"stats","video":{"frames":N,"packets":N,"bytes":N},"audio":{...}}
    {"event":"deleted","status":200}
    {"event":"terminated","signal":"SIGTERM"}      (on SIGTERM/SIGINT: pc closed, no DELETE)
    {"event":"error","status":403,"body":"..."}    exit 2 (WHIP POST answered non-201)
    {"event":"error","message":"..."}              exit 1 (any other failure, incl. timeout)
Exit 0 on success or after SIGTERM/SIGINT.

The whole run is bounded by --seconds + 30 s (then a hard watchdog exits the process).
ICE uses no STUN/TURN server at all (host candidates only): the test machine has no network.
aioice leaves out 127.0.0.1; --ice-loopback adds it (it is added anyway when the machine has
no other IPv4 address). IPv6 candidates in the answer are dropped before it is applied.
"""

import argparse
import array
import asyncio
import fractions
import math
import sys
import time
from urllib.parse import urljoin

from clientlib import emit, patch_host_addresses, run_client, strip_ipv6_candidates

HTTP_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
OVERALL_SLACK_S = 30.0


try:
    import aiohttp
    import av
    from aiortc import (
        AudioStreamTrack,
        RTCConfiguration,
        RTCPeerConnection,
        RTCRtpSender,
        RTCSessionDescription,
        VideoStreamTrack,
    )
    from aiortc.mediastreams import MediaStreamError
    from aiortc.sdp import SessionDescription
    av.logging.set_level(av.logging.ERROR)  # keep libx264's chatter off stderr
except Exception as exc:  # pragma: no cover - environment problem
    emit({"event": "error", "message": f"import failed: {exc!r}"})
    sys.exit(1)


# --------------------------------------------------------------------------- media


class SyntheticVideoTrack(VideoStreamTrack):
    """yuv420p frames whose content changes every frame.

    A diagonal luma gradient scrolls by 4 levels per frame, the chroma planes drift
    slowly, and the top 16 rows carry the frame counter as 16 black/white bars
    (most significant bit first) so a receiver can check frames really advance.
    """

    COUNTER_BITS = 16
    COUNTER_ROWS = 16

    def __init__(self, width, height, fps):
        super().__init__()
        self.width = width
        self.height = height
        self.fps = fps
        self.frames = 0
        self._start = None
        # Triangle ramp 0..255..0 so the scrolling gradient has no hard edge.
        period = bytes(range(256)) + bytes(range(255, -1, -1))
        probe = av.VideoFrame(width, height, "yuv420p")
        self._y_stride = probe.planes[0].line_size
        need = self._y_stride + height + 4 * 512
        self._ramp = period * (need // len(period) + 2)
        self._bar_w = max(1, width // self.COUNTER_BITS)

    def _luma(self, n):
        stride, h = self._y_stride, self.height
        ramp = self._ramp
        shift = (n * 4) % 512
        rows = [ramp[shift + r : shift + r + stride] for r in range(h)]
        # Frame counter bars over the first rows.
        bars = bytearray(rows[0])
        for i in range(self.COUNTER_BITS):
            bit = (n >> (self.COUNTER_BITS - 1 - i)) & 1
            x0 = i * self._bar_w
            x1 = min(self.width, x0 + self._bar_w)
            if x0 >= x1:
                break
            bars[x0:x1] = (b"\xeb" if bit else b"\x10") * (x1 - x0)
        bars = bytes(bars)
        for r in range(min(self.COUNTER_ROWS, h)):
            rows[r] = bars
        return b"".join(rows)

    def make_frame(self, n):
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        y, u, v = frame.planes
        y.update(self._luma(n))
        u.update(bytes([int(128 + 60 * math.sin(n / 30.0))]) * u.buffer_size)
        v.update(bytes([int(128 + 60 * math.cos(n / 45.0))]) * v.buffer_size)
        return frame

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + n / self.fps - now
            if wait > 0:
                await asyncio.sleep(wait)
        frame = self.make_frame(n)
        frame.pts = int(round(n * 90000 / self.fps))
        frame.time_base = fractions.Fraction(1, 90000)
        self.frames += 1
        return frame


class SineAudioTrack(AudioStreamTrack):
    """48 kHz mono s16 440 Hz sine (-14 dBFS), 20 ms (960-sample) frames."""

    RATE = 48000
    SAMPLES = 960  # 20 ms

    def __init__(self, freq=440):
        super().__init__()
        self.frames = 0
        self._start = None
        # One second holds a whole number of periods, so slicing it cycles seamlessly.
        amp = 0.2 * 32767
        pcm = array.array(
            "h", (int(amp * math.sin(2 * math.pi * freq * i / self.RATE)) for i in range(self.RATE))
        )
        if sys.byteorder != "little":
            pcm.byteswap()
        self._pcm = pcm.tobytes()

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + n * self.SAMPLES / self.RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
        per_sec = self.RATE // self.SAMPLES
        off = (n % per_sec) * self.SAMPLES * 2
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        frame.planes[0].update(self._pcm[off : off + self.SAMPLES * 2])
        frame.sample_rate = self.RATE
        frame.pts = n * self.SAMPLES
        frame.time_base = fractions.Fraction(1, self.RATE)
        self.frames += 1
        return frame


# --------------------------------------------------------------------------- ICE host addresses


# --------------------------------------------------------------------------- SDP helpers

def negotiated_codecs(answer_sdp):
    """First codec of each m-line in the answer (the one aiortc will send)."""
    res = {}
    try:
        desc = SessionDescription.parse(answer_sdp)
        for media in desc.media:
            codecs = [c for c in media.rtp.codecs if c.mimeType.lower() not in ("video/rtx", "audio/rtx")]
            if codecs and media.kind not in res:
                res[media.kind] = codecs[0].mimeType
    except Exception as exc:  # informational only
        res["parse_error"] = repr(exc)
    return res


# --------------------------------------------------------------------------- main flow


class Run:
    def __init__(self, args):
        self.args = args
        self.pc = None
        self.http = None
        self.location = None
        self.deleted = False
        self.published = False
        self.phase = "setup"
        self.signal_name = None
        self.video = None
        self.audio = None

    async def close_pc(self):
        pc, self.pc = self.pc, None
        if pc is not None:
            try:
                await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT_S)
            except Exception:
                pass

    async def delete(self):
        if self.deleted or self.args.no_delete:
            return
        self.deleted = True
        if not self.location:
            emit({"event": "deleted", "status": None, "message": "no Location header"})
            return
        try:
            async with self.http.delete(
                self.location, headers={"Authorization": f"Bearer {self.args.token}"}
            ) as resp:
                await resp.read()
                emit({"event": "deleted", "status": resp.status})
        except Exception as exc:
            emit({"event": "deleted", "status": None, "message": repr(exc)})

    async def stats(self):
        out = {
            "event": "stats",
            "video": {"frames": self.video.frames if self.video else 0},
            "audio": {"frames": self.audio.frames if self.audio else 0},
        }
        try:
            report = await asyncio.wait_for(self.pc.getStats(), 5)
            for s in report.values():
                if getattr(s, "type", None) == "outbound-rtp" and s.kind in ("video", "audio"):
                    out[s.kind]["packets"] = s.packetsSent
                    out[s.kind]["bytes"] = s.bytesSent
        except Exception as exc:
            out["message"] = repr(exc)
        emit(out)

    async def main(self):
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        try:
            return await self._main()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            detail = str(exc) or "(no detail)"
            emit({"event": "error", "message": f"{self.phase}: {type(exc).__name__}: {detail}"})
            # Do not leave a resource behind on the server if it was created.
            if self.location:
                await self.delete()
            return 1
        finally:
            await self.close_pc()
            await self.http.close()

    async def _main(self):
        a = self.args
        # Explicit empty ICE server list: aiortc's default would use a public STUN server.
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("connectionstatechange")
        async def _on_state():
            # Only once published: a pc closed after a failed POST is not news.
            if self.location is not None or self.published:
                emit({"event": "state", "connection": pc.connectionState})

        self.audio = SineAudioTrack()
        self.video = SyntheticVideoTrack(a.width, a.height, a.fps)
        pc.addTransceiver(self.audio, direction="sendonly")
        vt = pc.addTransceiver(self.video, direction="sendonly")

        want = {"h264": "video/h264", "vp8": "video/vp8"}[a.codec]
        caps = RTCRtpSender.getCapabilities("video").codecs
        prefs = [c for c in caps if c.mimeType.lower() == want]
        if not prefs:
            raise RuntimeError(f"aiortc has no {want} encoder")
        prefs += [c for c in caps if c.mimeType.lower() == "video/rtx"]
        vt.setCodecPreferences(prefs)

        self.phase = "createOffer"
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)  # gathers all candidates (non-trickle)

        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {a.token}"}
        self.phase = "POST offer"
        t0 = time.monotonic()
        async with self.http.post(a.whip, data=pc.localDescription.sdp.encode(), headers=headers) as resp:
            body = await resp.text(errors="replace")
            ms = int(round((time.monotonic() - t0) * 1000))
            if resp.status != 201:
                emit({"event": "error", "status": resp.status, "body": body[:4000]})
                return 2
            loc = resp.headers.get("Location")
            self.location = urljoin(a.whip, loc) if loc else None
            self.published = True
            emit(
                {
                    "event": "published",
                    "status": resp.status,
                    "location": self.location,
                    "etag": resp.headers.get("ETag"),
                    "links": resp.headers.getall("Link", []),
                    "ms_to_201": ms,
                }
            )

        self.phase = "setRemoteDescription"
        answer = strip_ipv6_candidates(body)
        neg = negotiated_codecs(answer)
        emit({"event": "negotiated", "video_codec": neg.get("video"), "audio_codec": neg.get("audio")})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

        self.phase = "streaming"
        await asyncio.sleep(a.seconds)
        self.phase = "teardown"

        await self.stats()
        await self.delete()
        await self.close_pc()
        return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="WHIP publisher (aiortc) with synthetic audio/video")
    p.add_argument("--whip", required=True, help="WHIP endpoint URL")
    p.add_argument("--token", required=True, help="bearer token")
    p.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to stay published")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--no-delete", action="store_true", help="do not DELETE the resource at the end")
    p.add_argument(
        "--ice-loopback",
        action="store_true",
        help="also offer a 127.0.0.1 host candidate (added anyway when no other IPv4 address exists)",
    )
    a = p.parse_args(argv)
    if a.width < 16 or a.height < 16 or a.width % 2 or a.height % 2:
        p.error("--width/--height must be even and >= 16")
    if not (0 < a.fps <= 120):
        p.error("--fps must be in (0, 120]")
    if a.seconds < 0:
        p.error("--seconds must be >= 0")
    return a


def main(argv=None):
    args = parse_args(argv)
    patch_host_addresses(args.ice_loopback)
    overall = args.seconds + OVERALL_SLACK_S

    return run_client(lambda: Run(args), overall)


if __name__ == "__main__":
    sys.exit(main())
