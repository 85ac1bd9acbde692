#!/usr/bin/env node
// Watches a classcast session over WHEP in headless Chromium: a recvonly audio + video
// RTCPeerConnection in a blank page served at the WHEP URL's origin (the page itself is
// fulfilled by the driver, so only the WHEP and nothing else is asked of the server).
//
//   node view.mjs --url 'http://127.0.0.1:8080/whep/S' --token T [--seconds N] [--audio-only]
//                 [--until-frames N] [--expect-status N] [--screenshot out.png]
//
// Non-trickle: the offer is POSTed once ICE gathering completed (or after 2 s), with
// `Authorization: Bearer T` and `Content-Type: application/sdp`; --audio-only adds
// ?audio_only=1. The stream is shown in a <video muted autoplay>.
//
// stdout carries one JSON object per line:
//   {"event":"answer","status":201,"location":"<absolute URL>","link":"<Link header(s)>"|null,"ms_to_201":N}
//   {"event":"state","connection":"connected"|"failed"|"closed"|...,"ice":"..."}   on each change
//   {"event":"track","kind":"video","muted":true|false,"t":S}     a remote track (un)muted
//   {"event":"first-frame","ms":N}           framesDecoded first > 0; ms since the POST
//   {"event":"stats","t":S,"connection":"connected","codec":"video/H264",
//    "video":{"framesDecoded","framesPerSecond","frameWidth","frameHeight","bytesReceived",
//             "packetsReceived","packetsLost","nackCount","pliCount","firCount","framesDropped",
//             "freezeCount","jitterBufferDelay","jitterBufferEmittedCount","jitterBufferMs"},
//    "audio":{"bytesReceived","packetsReceived","packetsLost","jitterBufferMs"},
//    "currentTime":s,"videoWidth":w,"videoHeight":h}
//        once a second for --seconds after the answer; t: seconds since the answer; the video
//        and audio fields are inbound-rtp getStats() figures (totals; null when absent),
//        jitterBufferMs = 1000 * jitterBufferDelay / jitterBufferEmittedCount
//   {"event":"deleted","status":200}         the DELETE of the Location at the end
//   {"event":"done","reason":"seconds"|"until-frames","seconds":S,"firstFrameMs":N|null,
//    "framesDecoded":N,"audioBytes":N,"currentTime":s,"videoWidth":w,"videoHeight":h,
//    "video":{...},"audio":{...}}            the last stats figures
//   {"event":"error","message":"...","status":"<page status>"}   then exit 1
//   {"event":"terminated","signal":"SIGTERM"}                     on SIGTERM/SIGINT, then exit 0
// Fails when the POST answers other than 201 (the error line then also has "http_status",
// "body", "retry_after" and "link"), when the connection goes to failed or closed, when no
// video frame (audio byte with --audio-only) arrived within 15 s of the answer, when
// framesDecoded (audio bytesReceived with --audio-only) then stops advancing for 5 s (e.g.
// the server tore the resource down: Chrome only says "disconnected" for a while), and with
// --until-frames N when fewer than N frames were decoded in --seconds.
//
// --expect-status N: only POST the offer and report the answer's status, then exit 0 if it
// is N (1 otherwise); a 201 is DELETEd at once:
//   {"event":"status","status":503,"retry_after":"10"|null,"link":"<...>; rel=\"alternate\"; ..."|null,
//    "location":null,"body":{"error":"...","hls":"..."}}     body: parsed JSON, else the text
//   {"event":"done","status":503}
// Page console errors go to stderr. Never runs longer than seconds + 60 s.
import { parseArgs } from 'node:util';
import { DriverRun, emit, isLoopback, launchChromium, sleep } from './lib.mjs';

const LOAD_TIMEOUT_MS = 15_000;
const ICE_GATHER_MAX_MS = 2_000;
const POST_TIMEOUT_MS = 15_000;
const FIRST_MEDIA_TIMEOUT_MS = 15_000;   // after the answer
const STALL_MS = 5_000;                  // framesDecoded (audio bytes with --audio-only) not advancing
const DELETE_TIMEOUT_MS = 5_000;
const POLL_MS = 250;
const SLACK_S = 60;
// Host candidates as plain addresses (no mDNS names: the page never calls getUserMedia),
// including loopback so a server that only listens there can be reached.
const EXTRA_ARGS = ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'];
const BLANK_PATH = '/__classcast_view_driver__/blank.html';
const BLANK_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>classcast · WHEP view driver</title><link rel="icon" href="data:,"></head>
<body style="margin:0;background:#000;color:#ccc;font:14px system-ui">
<video id="video" muted autoplay playsinline style="width:100%;aspect-ratio:16/9;display:block"></video>
<p id="status">idle</p>
</body></html>`;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      seconds: { type: 'string', default: '15' },
      'audio-only': { type: 'boolean', default: false },
      'until-frames': { type: 'string' },
      'expect-status': { type: 'string' },
      screenshot: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  emit({ event: 'error', message: e.message, status: null });
  process.exit(2);
}
if (opts.help) {
  process.stderr.write('usage: node view.mjs --url WHEP_URL --token T [--seconds N] [--audio-only] [--until-frames N] [--expect-status N] [--screenshot FILE]\n');
  process.exit(0);
}
const seconds = Number(opts.seconds);
const untilFrames = opts['until-frames'] === undefined ? null : Number(opts['until-frames']);
const expectStatus = opts['expect-status'] === undefined ? null : Number(opts['expect-status']);
let whepUrl = null;
try { whepUrl = new URL(opts.url); } catch { /* reported below */ }
if (!whepUrl || !/^https?:$/.test(whepUrl.protocol) || !opts.token || !Number.isFinite(seconds) || seconds < 0 ||
    (untilFrames !== null && !(Number.isInteger(untilFrames) && untilFrames > 0)) ||
    (expectStatus !== null && !(Number.isInteger(expectStatus) && expectStatus >= 100 && expectStatus < 600))) {
  emit({ event: 'error', message: 'need --url http(s)://…/whep/<session>, --token T, --seconds N >= 0, --until-frames N > 0, --expect-status 100..599', status: null });
  process.exit(2);
}
if (opts['audio-only']) whepUrl.searchParams.set('audio_only', '1');

const run = new DriverRun({ statusKey: 'status' });
run.armTimeout(seconds + SLACK_S);
let page = null;

// Nothing more on stdout once DriverRun is finishing (SIGTERM, global timeout).
const say = (obj) => { if (!run.finishing) emit(obj); };

const round = (x, k = 1000) => (typeof x === 'number' ? Math.round(x * k) / k : x);

// ---- the viewer, evaluated inside the page --------------------------------

function installViewer() {
  const video = document.getElementById('video');
  const statusEl = document.getElementById('status');
  const stream = new MediaStream();
  let pc = null;
  let tPost = 0;
  let tAnswer = 0;

  const cc = window.classcast = {
    state: 'idle',          // idle | connecting | connected | failed | closed | error
    lastError: null,
    location: null,
    firstFrameMs: null,
    events: [],             // state / track events for the driver to drain
    video,
    offer, stats, remove, close,
  };

  const setStatus = (text) => { statusEl.textContent = text; };

  function iceGatheringDone(conn, maxMs) {
    if (conn.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); conn.removeEventListener('icegatheringstatechange', check); resolve(); };
      const check = () => { if (conn.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(done, maxMs);
      conn.addEventListener('icegatheringstatechange', check);
    });
  }

  async function inbound() {
    const out = { video: null, audio: null, codec: null };
    if (!pc) return out;
    const report = await pc.getStats();
    const codecs = new Map();
    report.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp' || (s.kind !== 'video' && s.kind !== 'audio')) return;
      // One inbound-rtp per kind here; keep the one that carries the most bytes.
      if (out[s.kind] && (out[s.kind].bytesReceived ?? 0) >= (s.bytesReceived ?? 0)) return;
      out[s.kind] = s;
      if (s.kind === 'video') out.codec = codecs.get(s.codecId) ?? null;
    });
    return out;
  }

  async function watchFirstFrame() {
    while (pc && cc.firstFrameMs === null) {
      const { video: v } = await inbound().catch(() => ({ video: null }));
      if (v && v.framesDecoded > 0) {
        cc.firstFrameMs = Math.round(performance.now() - tPost);
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Offers, POSTs, and (for a 201 when `apply`) applies the answer. */
  async function offer({ url, token, gatherMs, timeoutMs, apply }) {
    cc.state = 'connecting';
    setStatus('gathering ICE candidates…');
    pc = new RTCPeerConnection({ iceServers: [] });
    const conn = pc;
    conn.addTransceiver('audio', { direction: 'recvonly' });
    conn.addTransceiver('video', { direction: 'recvonly' });
    conn.addEventListener('track', (e) => {
      const track = e.track;
      stream.addTrack(track);
      if (video.srcObject !== stream) video.srcObject = stream;
      const note = (muted) => cc.events.push({ event: 'track', kind: track.kind, muted, t: tAnswer ? Math.round(performance.now() - tAnswer) / 1000 : 0 });
      track.addEventListener('mute', () => note(true));
      track.addEventListener('unmute', () => note(false));
    });
    conn.addEventListener('connectionstatechange', () => {
      if (conn !== pc) return;
      cc.events.push({ event: 'state', connection: conn.connectionState, ice: conn.iceConnectionState });
      if (['connected', 'failed', 'closed'].includes(conn.connectionState)) cc.state = conn.connectionState;
      setStatus(`connection ${conn.connectionState}`);
    });
    await conn.setLocalDescription(await conn.createOffer());
    await iceGatheringDone(conn, gatherMs);

    setStatus(`POST ${url}`);
    tPost = performance.now();
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let res;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: conn.localDescription.sdp,
        signal: ctl.signal,
        cache: 'no-store',
      });
    } finally {
      clearTimeout(timer);
    }
    const text = await res.text();
    const ms = Math.round(performance.now() - tPost);
    const loc = res.headers.get('Location');
    cc.location = loc ? new URL(loc, url).href : null;
    let body = text;
    if ((res.headers.get('Content-Type') ?? '').includes('json')) {
      try { body = JSON.parse(text); } catch { /* keep the text */ }
    }
    const out = {
      status: res.status,
      location: cc.location,
      retryAfter: res.headers.get('Retry-After'),
      link: res.headers.get('Link'),
      ms,
      body: res.status === 201 ? null : body,
    };
    if (res.status !== 201 || !apply) {
      setStatus(`POST answered ${res.status}`);
      return out;
    }
    await conn.setRemoteDescription({ type: 'answer', sdp: text });
    tAnswer = performance.now();
    setStatus('answer applied; connecting…');
    video.play().catch(() => {});
    watchFirstFrame();
    return out;
  }

  async function stats() {
    const { video: v, audio: a, codec } = await inbound();
    const pick = (s, keys) => (s ? Object.fromEntries(keys.map((k) => [k, s[k] ?? null])) : null);
    const jb = (s) => (s && s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null);
    const vOut = pick(v, ['framesDecoded', 'framesPerSecond', 'frameWidth', 'frameHeight', 'bytesReceived',
      'packetsReceived', 'packetsLost', 'nackCount', 'pliCount', 'firCount', 'framesDropped', 'freezeCount',
      'jitterBufferDelay', 'jitterBufferEmittedCount']);
    if (vOut) vOut.jitterBufferMs = jb(v);
    const aOut = pick(a, ['bytesReceived', 'packetsReceived', 'packetsLost']);
    if (aOut) aOut.jitterBufferMs = jb(a);
    return {
      t: tAnswer ? (performance.now() - tAnswer) / 1000 : 0,
      connection: pc ? pc.connectionState : null,
      codec,
      video: vOut,
      audio: aOut,
      currentTime: video.currentTime,
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
    };
  }

  /** DELETE the resource (once); resolves to the HTTP status or null. */
  async function remove({ token, timeoutMs }) {
    const loc = cc.location;
    cc.location = null;
    if (!loc) return null;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      const res = await fetch(loc, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` }, signal: ctl.signal });
      return res.status;
    } finally {
      clearTimeout(timer);
    }
  }

  function close() {
    if (pc) { const p = pc; pc = null; p.close(); }
  }
}

// ---- driver -----------------------------------------------------------------

/** Chromium with a blank page at the WHEP origin (fulfilled here, not by the server). */
async function openBlank() {
  const origin = whepUrl.origin;
  run.browser = await launchChromium({ args: EXTRA_ARGS, secureOrigins: isLoopback(origin) ? [] : [origin] });
  const context = await run.browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = run.page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') process.stderr.write(`[page console.error] ${msg.text()}\n`);
  });
  page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
  const blank = origin + BLANK_PATH;
  await page.route(blank, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: BLANK_HTML }));
  await page.goto(blank, { waitUntil: 'load', timeout: LOAD_TIMEOUT_MS });
  await page.evaluate(installViewer);
}

async function drainEvents() {
  const events = await page.evaluate(() => window.classcast.events.splice(0));
  for (const e of events) say(e);
  return events;
}

function roundStats(s) {
  const r = (o) => (o ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v)])) : null);
  return { ...s, t: round(s.t, 100), video: r(s.video), audio: r(s.audio), currentTime: round(s.currentTime) };
}

let deleted = false;
async function deleteResource() {
  if (deleted || !page || run.finishing) return;
  deleted = true;
  const status = await page.evaluate((a) => window.classcast.remove(a), { token: opts.token, timeoutMs: DELETE_TIMEOUT_MS })
    .catch((e) => { if (!run.finishing) process.stderr.write(`DELETE failed: ${e.message}\n`); return undefined; });
  if (status !== null) say({ event: 'deleted', status: status ?? null });
}

async function postOffer(apply) {
  return page.evaluate((a) => window.classcast.offer(a), {
    url: whepUrl.href, token: opts.token, gatherMs: ICE_GATHER_MAX_MS, timeoutMs: POST_TIMEOUT_MS, apply,
  });
}

async function expectStatusOnly() {
  const r = await postOffer(false);
  say({ event: 'status', status: r.status, retry_after: r.retryAfter, link: r.link, location: r.location, body: r.body });
  if (r.status === 201) await deleteResource();
  await page.evaluate(() => window.classcast.close());
  if (r.status !== expectStatus) throw new Error(`POST answered ${r.status}, expected ${expectStatus}`);
  await run.finish(0, { event: 'done', status: r.status });
}

async function view() {
  const r = await postOffer(true);
  if (r.status !== 201) {
    await run.finish(1, {
      event: 'error', message: `POST ${whepUrl.href} answered ${r.status}`, status: await run.pageStatus(),
      http_status: r.status, body: r.body, retry_after: r.retryAfter, link: r.link,
    });
    return;
  }
  say({ event: 'answer', status: 201, location: r.location, link: r.link, ms_to_201: r.ms });
  const tAnswer = Date.now();
  const wantVideo = !opts['audio-only'];
  let nextStats = tAnswer + 1000;
  let firstFrameSent = false;
  let last = null;
  let reason = 'seconds';
  let lastProgress = 0;
  let lastProgressAt = tAnswer;
  try {
    for (;;) {
      await sleep(POLL_MS);
      for (const e of await drainEvents()) {
        if (e.event === 'state' && (e.connection === 'failed' || e.connection === 'closed')) {
          throw new Error(`connection ${e.connection}`);
        }
      }
      if (!firstFrameSent) {
        const ms = await page.evaluate(() => window.classcast.firstFrameMs);
        if (ms !== null) { say({ event: 'first-frame', ms }); firstFrameSent = true; }
      }
      const now = Date.now();
      if (now >= nextStats) {
        nextStats += 1000;
        last = roundStats(await page.evaluate(() => window.classcast.stats()));
        say({ event: 'stats', ...last });
        const frames = last.video?.framesDecoded ?? 0;
        if (untilFrames !== null && frames >= untilFrames) { reason = 'until-frames'; break; }
        const progress = wantVideo ? frames : (last.audio?.bytesReceived ?? 0);
        if (progress > lastProgress) { lastProgress = progress; lastProgressAt = now; }
        else if (lastProgress > 0 && now - lastProgressAt >= STALL_MS) {
          const what = wantVideo ? `video stalled: framesDecoded stayed at ${frames}` : `audio stalled: bytesReceived stayed at ${progress}`;
          throw new Error(`${what} for ${Math.round((now - lastProgressAt) / 1000)} s (connection ${last.connection})`);
        }
      }
      if (now - tAnswer > FIRST_MEDIA_TIMEOUT_MS) {
        if (wantVideo && !firstFrameSent) throw new Error(`no video frame decoded ${FIRST_MEDIA_TIMEOUT_MS / 1000} s after the answer`);
        if (!wantVideo && !((last?.audio?.bytesReceived ?? 0) > 0)) throw new Error(`no audio received ${FIRST_MEDIA_TIMEOUT_MS / 1000} s after the answer`);
      }
      if (now - tAnswer >= seconds * 1000 && last) break;
    }
    const frames = last.video?.framesDecoded ?? 0;
    if (untilFrames !== null && frames < untilFrames) throw new Error(`only ${frames} frames decoded in ${seconds} s (--until-frames ${untilFrames})`);
    if (wantVideo && !firstFrameSent) throw new Error(`no video frame decoded in ${seconds} s`);
    if (!wantVideo && !((last.audio?.bytesReceived ?? 0) > 0)) throw new Error(`no audio received in ${seconds} s`);
  } catch (e) {
    await deleteResource();
    throw e;
  }
  if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
  await deleteResource();
  await page.evaluate(() => window.classcast.close());
  const firstFrameMs = await page.evaluate(() => window.classcast.firstFrameMs);
  await run.finish(0, {
    event: 'done', reason, seconds: round((Date.now() - tAnswer) / 1000, 100), firstFrameMs,
    framesDecoded: last.video?.framesDecoded ?? 0, audioBytes: last.audio?.bytesReceived ?? 0,
    currentTime: last.currentTime, videoWidth: last.videoWidth, videoHeight: last.videoHeight,
    video: last.video, audio: last.audio,
  });
}

async function main() {
  await openBlank();
  if (expectStatus !== null) await expectStatusOnly();
  else await view();
}

run.run(main);
