#!/usr/bin/env python3
"""Independent WHEP viewer built on aiortc, for classcast's integration tests.

Written against the WHEP spec and aiortc only, like whip_publish.py: it POSTs a
non-trickle recvonly offer (audio + video), applies the answer, pulls and decodes the
frames of both tracks, and DELETEs the resource at the end.

Usage:
    python whep_view.py --url URL [--url URL ...] --token T [--seconds N] [--audio-only]
                        [--police KBPS@START-END ...] [--kill-after S] [--ice-loopback]

--url may be repeated: one viewer on one downlink watching several WHEP resources at
once (e.g. a class's camera and screen-share publishes, …/whep/<session>?publish=<id>),
with the same token. Each URL is a view of its own (peer connection, POST and DELETE),
set up one after the other in the order given; the media datagrams of every view go
through the one policer below, so --police limits their combined rate. The run ends
after --seconds, or earlier once every view's connection has failed or closed.

--police KBPS@START-END (repeatable) simulates a constrained downlink: during
[START, END) seconds after the (first) answer arrived, a token-bucket policer (rate KBPS
kbit/s, bucket 1/4 s of that rate, at least 1500 bytes; KBPS 0 drops everything)
sits where the viewer's ICE connections receive their UDP datagrams. SRTP media
packets (first byte 128..191, second byte not 192..223, i.e. not RTCP) above the
rate are dropped before aiortc sees them, so aiortc's jitter buffer, NACKs, PLIs and
receiver reports see real loss. STUN, DTLS and RTCP always pass. END may be left
out ("300@5-" = from 5 s to the end).

--kill-after S: S seconds after the answer, print "killed" and leave with os._exit(0):
no DELETE, no DTLS close, no RTCP BYE (the server has to notice the viewer is gone).

Output: one JSON object per line on stdout, flushed at once:
    {"event":"answer","status":201,"location":...,"links":[...],"ms_to_201":N,
     "video_codec":"video/H264"|null,"audio_codec":"audio/opus"|null}
    {"event":"state","connection":"connecting"|"connected"|"failed"|"closed"|...}
    {"event":"first-frame","ms":N}          first decoded video frame, ms since the POST
    {"event":"stats","t":S,"connection":"connected",
     "video":{"frames_received":N,"frames_decoded":N,"fps":F,"width":W,"height":H,
              "packets":N,"bytes":N,"kbps":K,"lost":N,"rtx_packets":N,"nacks":N,"plis":N},
     "audio":{"frames_decoded":N,"packets":N,"bytes":N,"kbps":K,"lost":N},
     "police":{"active":bool,"kbps":K|null,"passed":N,"dropped":N,
               "passed_bytes":N,"dropped_bytes":N}}
        once a second. video/audio counters are totals since the start, except
        fps/kbps (the last second); police counts are for the last second only.
        frames_received: complete encoded frames aiortc's jitter buffer handed to its
        decoder; frames_decoded: frames pulled with track.recv(). packets/bytes/lost are
        counted at the socket after the policer (what aiortc got), on the media SSRCs
        (RTX retransmissions separately in rtx_packets, their bytes included in bytes);
        lost = expected - received by sequence number. nacks/plis: RTCP feedback aiortc sent.
        With several --url, video/audio/connection are the first URL's, and the line
        also has "views":[{"connection":...,"video":{...},"audio":{...}}, ...] (one entry
        per URL, in order; the first is the same as the top level); police is shared.
    {"event":"killed","after":S}            then os._exit(0) (--kill-after)
    {"event":"deleted","status":200}
    {"event":"done","reason":"seconds"|"connection-failed"|"connection-closed",
     "seconds":S,"first_frame_ms":N|null,"video":{...totals},"audio":{...totals},
     "police":{"passed":N,"dropped":N,"passed_bytes":N,"dropped_bytes":N}}
        With several --url, everything but police is the first URL's (reason: why the
        run stopped, the first URL's ending when all ended), and "views" comes before
        "police", one entry per URL in order:
        {"url":U,"ended":null|"connection-failed"|"connection-closed","first_frame_ms":N|null,
         "video":{...totals,"max_width":W|null,"max_height":H|null,"fps_5s":F,
                  "sizes":[{"t":S,"width":W,"height":H},...]},
         "audio":{...totals}}
        width/height: the last decoded frame's; max_width/max_height: the largest seen;
        fps_5s: frames decoded over the last 5 s of the run; sizes: every change of the
        decoded size, t in s since the first answer.
    {"event":"terminated","signal":"SIGTERM"}   (SIGTERM/SIGINT: pc closed, no DELETE)
    {"event":"error","status":503,"body":"...","retry_after":"5","links":[...],
     "location":null}                       exit 2 (the POST answered non-201)
    {"event":"error","message":"..."}       exit 1 (any other failure, incl. timeout)
With several --url, every line about one view (answer, state, first-frame, deleted, a
non-201 error) also has "view":I (its index, 0 = the first --url) and "url":U after
"event"; a non-201 POST DELETEs the views already set up before the exit 2.
Exit 0 after --seconds (or SIGTERM/SIGINT, or --kill-after); 3 when the connection (every
view's) went to failed/closed first (the done line is printed all the same, with its reason).

The whole run is bounded by --seconds + 30 s (then a hard watchdog exits the process).
ICE uses no STUN/TURN server (host candidates only: the test machine has no network),
gathers IPv4 only, and drops IPv6 candidates from the answer. aioice leaves out
127.0.0.1; --ice-loopback adds it (it is added anyway when there is no other IPv4 address).
"""

import argparse
import asyncio
import collections
import os
import re
import sys
import time
from urllib.parse import urljoin

from clientlib import emit, patch_host_addresses, run_client, strip_ipv6_candidates

HTTP_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
OVERALL_SLACK_S = 30.0
MIN_BUCKET_BYTES = 1500
FPS_WINDOW_S = 5.0


try:
    import aiohttp
    import aioice.ice
    import av
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    av.logging.set_level(av.logging.ERROR)
except Exception as exc:  # pragma: no cover - environment problem
    emit({"event": "error", "message": f"import failed: {exc!r}"})
    sys.exit(1)


# --------------------------------------------------------------------------- policer


class Window:
    def __init__(self, spec):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*@\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)?\s*", spec)
        if not m:
            raise ValueError(f"--police {spec!r}: expected KBPS@START-END, e.g. 300@5-15")
        self.kbps = float(m.group(1))
        self.start = float(m.group(2))
        self.end = float(m.group(3)) if m.group(3) is not None else float("inf")
        if self.end <= self.start:
            raise ValueError(f"--police {spec!r}: END must be after START")
        self.rate = self.kbps * 1000 / 8  # bytes per second
        self.bucket = max(self.rate / 4, MIN_BUCKET_BYTES) if self.rate > 0 else 0.0

    def __repr__(self):
        return f"{self.kbps:g}@{self.start:g}-{self.end:g}"


class Policer:
    """Token bucket over the media datagrams of every view's ICE connection (one downlink),
    active in windows of time measured from t0 (the first answer). Before t0 and outside
    every window all pass."""

    def __init__(self, windows):
        self.windows = windows
        self.t0 = None
        self.current = None
        self.tokens = 0.0
        self.last = 0.0
        # [packets, bytes]; totals and since the last take()
        self.passed = [0, 0]
        self.dropped = [0, 0]
        self._mark = ([0, 0], [0, 0])
        self._mark_t = None

    def window_at(self, now):
        if self.t0 is None:
            return None
        t = now - self.t0
        for w in self.windows:
            if w.start <= t < w.end:
                return w
        return None

    def admit(self, size, now):
        w = self.window_at(now)
        if w is not self.current:
            self.current = w
            if w is not None:  # a window starts with a full bucket
                self.tokens, self.last = w.bucket, now
        if w is not None:
            self.tokens = min(w.bucket, self.tokens + (now - self.last) * w.rate)
            self.last = now
            if self.tokens < size:
                self.dropped[0] += 1
                self.dropped[1] += size
                return False
            self.tokens -= size
        self.passed[0] += 1
        self.passed[1] += size
        return True

    def take(self, now):
        """Counts since the previous take() (one stats line). active/kbps: the first window
        in force at some time during that interval."""
        (pp, pb), (dp, db) = self._mark
        since = self._mark_t if self._mark_t is not None else self.t0
        w = None
        if self.t0 is not None:
            lo, hi = since - self.t0, now - self.t0
            w = next((x for x in self.windows if x.start < hi and x.end > lo), None)
        out = {
            "active": w is not None,
            "kbps": w.kbps if w else None,
            "passed": self.passed[0] - pp,
            "dropped": self.dropped[0] - dp,
            "passed_bytes": self.passed[1] - pb,
            "dropped_bytes": self.dropped[1] - db,
        }
        self._mark = (list(self.passed), list(self.dropped))
        self._mark_t = now
        return out

    def totals(self):
        return {
            "passed": self.passed[0],
            "dropped": self.dropped[0],
            "passed_bytes": self.passed[1],
            "dropped_bytes": self.dropped[1],
        }


# --------------------------------------------------------------------------- socket counters


class SsrcSeq:
    __slots__ = ("base", "max", "cycles", "received")

    def __init__(self, seq):
        self.base = self.max = seq
        self.cycles = 0
        self.received = 1

    def add(self, seq):
        self.received += 1
        d = (seq - self.max) & 0xFFFF
        if 0 < d < 0x8000:
            if seq < self.max:
                self.cycles += 1
            self.max = seq

    @property
    def expected(self):
        return self.cycles * 65536 + self.max - self.base + 1


class Rx:
    """What got past the policer, per media kind, from the cleartext RTP header."""

    def __init__(self, policer):
        self.policer = policer
        self.pt_kind = {}  # payload type -> "video" | "audio"
        self.rtx_pts = set()
        self.kinds = {k: {"packets": 0, "bytes": 0, "rtx_packets": 0} for k in ("video", "audio", "other")}
        self.ssrcs = {}  # media (non-RTX) ssrc -> (kind, SsrcSeq)

    def learn_payload_types(self, sdp):
        kind = None
        for line in sdp.splitlines():
            if line.startswith("m="):
                parts = line[2:].split()
                kind = parts[0] if parts and parts[0] in ("video", "audio") else "other"
                for pt in parts[3:]:
                    if pt.isdigit():
                        self.pt_kind[int(pt)] = kind
            m = re.match(r"a=rtpmap:(\d+) rtx/", line, re.I)
            if m:
                self.rtx_pts.add(int(m.group(1)))

    def on_datagram(self, data):
        """True: hand the datagram to aiortc; False: the policer dropped it."""
        if len(data) < 12 or not 127 < data[0] < 192 or 191 < data[1] < 224:
            return True  # STUN, DTLS, RTCP, or too short to be RTP
        if not self.policer.admit(len(data), time.monotonic()):
            return False
        pt = data[1] & 0x7F
        kind = self.pt_kind.get(pt, "other")
        k = self.kinds[kind]
        k["packets"] += 1
        k["bytes"] += len(data)
        if pt in self.rtx_pts:
            k["rtx_packets"] += 1
            return True
        seq = (data[2] << 8) | data[3]
        ssrc = data[8:12]
        entry = self.ssrcs.get(ssrc)
        if entry is None:
            self.ssrcs[ssrc] = (kind, SsrcSeq(seq))
        else:
            entry[1].add(seq)
        return True

    def lost(self, kind):
        return sum(max(0, s.expected - s.received) for k, s in self.ssrcs.values() if k == kind)


def install_socket_hook():
    """Route the datagrams of tagged aioice connections through their Rx first."""
    orig = aioice.ice.StunProtocol.datagram_received

    def datagram_received(self, data, addr):
        rx = getattr(self.receiver, "_whep_view_rx", None)
        if rx is not None and isinstance(data, (bytes, bytearray)) and not rx.on_datagram(data):
            return
        return orig(self, data, addr)

    aioice.ice.StunProtocol.datagram_received = datagram_received


def first_codecs(sdp):
    """The first codec (not RTX) of each active m-line of the answer."""
    res, kind, rtpmap, order, port = {}, None, {}, [], None

    def flush():
        if kind in ("video", "audio") and kind not in res and port != "0":
            for pt in order:
                name = rtpmap.get(pt)
                if name and name.lower() not in ("rtx", "red", "ulpfec"):
                    res[kind] = f"{kind}/{name}"
                    break

    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
            parts = line[2:].split()
            kind, port, order, rtpmap = parts[0], parts[1] if len(parts) > 1 else None, parts[3:], {}
        elif line.startswith("a=inactive"):
            port = "0"
        m = re.match(r"a=rtpmap:(\d+) ([^/\s]+)", line)
        if m:
            rtpmap[m.group(1)] = m.group(2)
    flush()
    return res


# --------------------------------------------------------------------------- main flow


class View:
    """One WHEP resource: its peer connection and its counters. Every view's media
    datagrams go through the run's one policer (its Rx shares it)."""

    def __init__(self, run, index, url):
        self.run = run
        self.url = url
        # Events name their view only when there are several.
        self.tag = {"view": index, "url": url} if run.multi else {}
        self.pc = None
        self.location = None
        self.deleted = False
        self.rx = Rx(run.policer)
        self.t_post = None
        self.t_answer = None
        self.first_frame_ms = None
        self.ended = None  # "connection-failed" | "connection-closed"
        self.tasks = []
        self.frames = {"video": 0, "audio": 0}
        self.frames_received = 0
        self.size = (None, None)
        self.sizes = []  # (monotonic time, width, height) at every change of the decoded size
        self.recent = collections.deque()  # times of the video frames of the last FPS_WINDOW_S
        self.nacks = 0
        self.plis = 0

    def emit(self, event, **fields):
        emit({"event": event, **self.tag, **fields})

    def step(self, phase):
        self.run.phase = f"view {self.tag['view']}: {phase}" if self.tag else phase

    def post_url(self):
        url = self.url
        if self.run.args.audio_only:
            url += ("&" if "?" in url else "?") + "audio_only=1"
        return url

    # ---- media

    async def pull(self, track):
        kind = track.kind
        try:
            while True:
                frame = await track.recv()
                self.frames[kind] += 1
                if kind == "video":
                    self.on_video_frame(frame.width, frame.height)
        except MediaStreamError:
            pass

    def on_video_frame(self, width, height):
        now = time.monotonic()
        if (width, height) != self.size:
            self.sizes.append((now, width, height))
        self.size = (width, height)
        self.recent.append(now)
        self.forget_frames_before(now - FPS_WINDOW_S)
        if self.first_frame_ms is None:
            self.first_frame_ms = int(round((now - self.t_post) * 1000))
            self.emit("first-frame", ms=self.first_frame_ms)

    def forget_frames_before(self, t):
        while self.recent and self.recent[0] < t:
            self.recent.popleft()

    def watch_receiver(self, receiver, kind):
        """Count the encoded video frames handed to the decoder, and the NACKs/PLIs sent."""
        if kind != "video":
            return
        q = getattr(receiver, "_RTCRtpReceiver__decoder_queue", None)
        if q is not None:
            put = q.put

            def counted_put(item, *a, **kw):
                if item is not None:
                    self.frames_received += 1
                return put(item, *a, **kw)

            q.put = counted_put
        for name, attr in (("_send_rtcp_nack", "nacks"), ("_send_rtcp_pli", "plis")):
            orig = getattr(receiver, name, None)
            if orig is None:
                continue

            def wrapper(*a, _orig=orig, _attr=attr, **kw):
                setattr(self, _attr, getattr(self, _attr) + 1)
                return _orig(*a, **kw)

            setattr(receiver, name, wrapper)

    def tag_connections(self):
        for t in self.pc.getTransceivers():
            try:
                conn = t.receiver.transport.transport._connection
            except AttributeError:
                continue
            conn._whep_view_rx = self.rx

    # ---- stats

    def totals(self):
        v, a = self.rx.kinds["video"], self.rx.kinds["audio"]
        return {
            "video": {
                "frames_received": self.frames_received,
                "frames_decoded": self.frames["video"],
                "width": self.size[0],
                "height": self.size[1],
                "packets": v["packets"] - v["rtx_packets"],
                "bytes": v["bytes"],
                "lost": self.rx.lost("video"),
                "rtx_packets": v["rtx_packets"],
                "nacks": self.nacks,
                "plis": self.plis,
            },
            "audio": {
                "frames_decoded": self.frames["audio"],
                "packets": a["packets"] - a["rtx_packets"],
                "bytes": a["bytes"],
                "lost": self.rx.lost("audio"),
            },
        }

    def summary(self, now):
        """totals() and, for the done line's views, the decoded sizes and the recent frame rate."""
        s = self.totals()
        self.forget_frames_before(now - FPS_WINDOW_S)
        span = min(FPS_WINDOW_S, now - self.run.t_answer)
        s["video"].update(
            max_width=max((w for _, w, _ in self.sizes), default=None),
            max_height=max((h for _, _, h in self.sizes), default=None),
            fps_5s=round(len(self.recent) / span, 1) if span > 0 else 0.0,
            sizes=[{"t": round(t - self.run.t_answer, 2), "width": w, "height": h} for t, w, h in self.sizes],
        )
        return {"url": self.url, "ended": self.ended, "first_frame_ms": self.first_frame_ms, **s}

    def connection(self):
        return self.pc.connectionState if self.pc else None

    # ---- HTTP

    async def setup(self):
        """createOffer, POST, answer, setRemoteDescription. None when the resource is up,
        2 when the POST answered non-201 (the error line is printed)."""
        run = self.run
        # Explicit empty ICE server list: aiortc's default is a public STUN server.
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("connectionstatechange")
        def _on_state():
            if self.t_answer is None:
                return
            state = pc.connectionState
            self.emit("state", connection=state)
            if state in ("failed", "closed") and self.ended is None and not self.deleted:
                self.ended = f"connection-{state}"
                run.view_ended()

        @pc.on("track")
        def _on_track(track):
            self.tasks.append(asyncio.ensure_future(self.pull(track)))

        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")

        self.step("createOffer")
        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
        self.tag_connections()

        self.step("POST offer")
        url = self.post_url()
        self.t_post = time.monotonic()
        headers = run.headers("application/sdp")
        async with run.http.post(url, data=pc.localDescription.sdp.encode(), headers=headers) as resp:
            body = await resp.text(errors="replace")
            ms = int(round((time.monotonic() - self.t_post) * 1000))
            links = resp.headers.getall("Link", [])
            if resp.status != 201:
                self.emit(
                    "error",
                    status=resp.status,
                    body=body[:4000],
                    retry_after=resp.headers.get("Retry-After"),
                    links=links,
                    location=resp.headers.get("Location"),
                )
                return 2
            loc = resp.headers.get("Location")
            self.location = urljoin(url, loc) if loc else None

        self.t_answer = time.monotonic()
        run.answered(self.t_answer)
        answer = strip_ipv6_candidates(body)
        codecs = first_codecs(answer)
        self.emit(
            "answer",
            status=201,
            location=self.location,
            links=links,
            ms_to_201=ms,
            video_codec=codecs.get("video"),
            audio_codec=codecs.get("audio"),
        )
        self.rx.learn_payload_types(answer)

        self.step("setRemoteDescription")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        self.tag_connections()  # again: BUNDLE may have kept another transport
        for t in pc.getTransceivers():
            self.watch_receiver(t.receiver, t.kind)
        return None

    async def delete(self):
        if self.deleted:
            return
        self.deleted = True
        if not self.location:
            self.emit("deleted", status=None, message="no Location header")
            return
        try:
            async with self.run.http.delete(self.location, headers=self.run.headers()) as resp:
                await resp.read()
                self.emit("deleted", status=resp.status)
        except Exception as exc:
            self.emit("deleted", status=None, message=repr(exc))

    async def close_pc(self):
        for t in self.tasks:
            t.cancel()
        pc, self.pc = self.pc, None
        if pc is not None:
            try:
                await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT_S)
            except Exception:
                pass


class Run:
    def __init__(self, args):
        self.args = args
        self.http = None
        self.signal_name = None
        self.phase = "setup"
        self.policer = Policer(args.police)  # one for every view: one downlink
        self.t_answer = None  # the first answer
        self.ended_event = asyncio.Event()  # every view's connection failed or closed
        self.tasks = []
        self.multi = len(args.url) > 1
        self.views = [View(self, i, url) for i, url in enumerate(args.url)]

    def headers(self, ctype=None):
        h = {"Authorization": f"Bearer {self.args.token}"}
        if ctype:
            h["Content-Type"] = ctype
        return h

    def answered(self, now):
        if self.t_answer is None:
            self.t_answer = self.policer.t0 = now

    def view_ended(self):
        if all(v.ended for v in self.views):
            self.ended_event.set()

    async def report_loop(self):
        prev = [v.totals() for v in self.views]
        prev_t = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            cur = [v.totals() for v in self.views]
            dt = max(now - prev_t, 1e-3)
            for c, p in zip(cur, prev):
                c["video"]["fps"] = round((c["video"]["frames_decoded"] - p["video"]["frames_decoded"]) / dt, 1)
                for kind in ("video", "audio"):
                    c[kind]["kbps"] = round(8 * (c[kind]["bytes"] - p[kind]["bytes"]) / dt / 1000, 1)
            line = {
                "event": "stats",
                "t": round(now - self.t_answer, 2),
                "connection": self.views[0].connection(),
                **cur[0],
                "police": self.policer.take(now),
            }
            if self.multi:
                line["views"] = [{"connection": v.connection(), **c} for v, c in zip(self.views, cur)]
            emit(line)
            prev, prev_t = cur, now

    async def delete_all(self):
        for v in self.views:
            if v.location:
                await v.delete()

    async def close(self):
        for t in self.tasks:
            t.cancel()
        for v in self.views:
            await v.close_pc()

    async def main(self):
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        try:
            return await self._main()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            detail = str(exc) or "(no detail)"
            emit({"event": "error", "message": f"{self.phase}: {type(exc).__name__}: {detail}"})
            await self.delete_all()
            return 1
        finally:
            await self.close()
            await self.http.close()

    async def _main(self):
        a = self.args
        for v in self.views:  # one after the other: the first one's media flows meanwhile
            if await v.setup() is not None:
                await self.delete_all()
                return 2

        self.phase = "receiving"
        self.tasks.append(asyncio.ensure_future(self.report_loop()))
        if a.kill_after is not None:
            self.tasks.append(asyncio.ensure_future(self.kill_later(a.kill_after)))
        try:
            await asyncio.wait_for(self.ended_event.wait(), a.seconds)
        except asyncio.TimeoutError:
            pass

        self.phase = "teardown"
        now = time.monotonic()
        first = self.views[0]
        stopped_early = self.ended_event.is_set()
        done = {
            "event": "done",
            "reason": first.ended if stopped_early else "seconds",
            "seconds": round(now - self.t_answer, 2),
            "first_frame_ms": first.first_frame_ms,
            **first.totals(),
        }
        if self.multi:
            done["views"] = [v.summary(now) for v in self.views]
        await self.delete_all()
        await self.close()
        done["police"] = self.policer.totals()
        emit(done)
        return 3 if stopped_early else 0

    async def kill_later(self, after):
        await asyncio.sleep(after)
        emit({"event": "killed", "after": after})
        os._exit(0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="WHEP viewer (aiortc) with an optional downlink policer")
    p.add_argument(
        "--url",
        action="append",
        required=True,
        help="WHEP endpoint URL (…/whep/<session>[?publish=<id>]); repeat it to view several "
        "resources at once, as one viewer behind one policer",
    )
    p.add_argument("--token", required=True, help="bearer token (for every URL)")
    p.add_argument("--seconds", type=float, default=15.0, help="how long to watch after the answer")
    p.add_argument("--audio-only", action="store_true", help="add ?audio_only=1 to the POST")
    p.add_argument(
        "--police",
        action="append",
        default=[],
        metavar="KBPS@START-END",
        help="drop media above KBPS kbit/s during [START,END) s after the answer (repeatable)",
    )
    p.add_argument("--kill-after", type=float, metavar="S", help="os._exit(0) S s after the answer, no DELETE")
    p.add_argument(
        "--ice-loopback",
        action="store_true",
        help="also offer a 127.0.0.1 host candidate (added anyway when no other IPv4 address exists)",
    )
    a = p.parse_args(argv)
    try:
        a.police = sorted((Window(s) for s in a.police), key=lambda w: w.start)
    except ValueError as exc:
        p.error(str(exc))
    if a.seconds < 0:
        p.error("--seconds must be >= 0")
    if a.kill_after is not None and a.kill_after < 0:
        p.error("--kill-after must be >= 0")
    return a


def main(argv=None):
    args = parse_args(argv)
    install_socket_hook()
    patch_host_addresses(args.ice_loopback)
    overall = args.seconds + OVERALL_SLACK_S

    return run_client(lambda: Run(args), overall)


if __name__ == "__main__":
    sys.exit(main())
