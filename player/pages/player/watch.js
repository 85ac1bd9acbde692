// classcast viewer: watches a session live over WebRTC (WHEP: a recvonly offer POSTed to
// /whep/<session>), or plays its HLS ladder with hls.js (vendor/hls.min.js), or with the
// browser's own HLS where there is no Media Source Extensions (iOS Safari).
//
//   watch.html#token=<jwt>&session=<id>[&mode=webrtc|hls|audio]   (the query string works too)
//
// Without mode=, students and instructors start on WebRTC ("Interactive") and everyone
// else (guests, unreadable tokens) on HLS, the role being read from the token's payload
// (not verified here: the server does that). The Mode selector switches at any time and
// records the choice as mode= in the fragment. WebRTC falls back to HLS when the server
// answers 503 (the session's interactive seats are taken) or refuses the offer (403, 4xx),
// waits on 409 (not live yet), and after a failed/closed connection or a stream that went
// silent it DELETEs its resource, polls the session until it is live again and offers anew.
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  video: $('video'), level: $('level'), speed: $('speed'), mode: $('mode'), notice: $('notice'),
  status: $('status'), state: $('state'), title: $('title'),
};

const RETRY_MS = 3000;          // master playlist 404 (not live yet): try again this often
const SAVE_EVERY_MS = 5000;     // VOD resume position
const HLS_CONFIG = { liveSyncDurationCount: 3, enableWorker: true };
const MAX_MEDIA_RECOVERIES = 3;
// WebRTC (WHEP)
const ICE_GATHER_MAX_MS = 2000;   // non-trickle offer: POST once gathering completed, or after this
const WHEP_TIMEOUT_MS = 15000;    // the POST
const LIVE_POLL_MS = 2000;        // GET /api/sessions/<id> while waiting to be live again
const RETRY_AFTER_DEFAULT_S = 3;  // 409 without Retry-After
const RETRY_AFTER_MAX_S = 30;
const FIRST_MEDIA_MS = 10000;     // after the answer: nothing at all arrived -> start over
const SILENT_MS = 3000;           // video muted, or neither video frames nor audio bytes advancing
const HEALTH_MS = 1000;
const MODES = ['webrtc', 'hls', 'audio'];
const FULL_NOTICE = 'Class is full for interactive viewing; watching the broadcast (a few seconds behind)';
const ENDED_NOTICE = 'The class has ended; playing the broadcast.';

const params = (() => {
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  return (k) => (h.get(k) ?? q.get(k) ?? '').trim();
})();
const session = params('session');
const token = params('token');
const defaultMasterUrl = `/hls/${encodeURIComponent(session)}/master.m3u8${token ? `?token=${encodeURIComponent(token)}` : ''}`;
let masterUrl = defaultMasterUrl; // replaced by the server's pointer after a 503
const positionKey = `classcast.watch.position.${session}`;
const whepUrl = `/whep/${encodeURIComponent(session)}`;

let hls = null;                 // the current Hls instance (a new one per retry)
let retryTimer = null;
let halted = false;             // a fatal, non-retryable error was shown
let isVod = false;              // the playlist has #EXT-X-ENDLIST (details.live === false)
let sawDetails = false;         // first LEVEL_LOADED of the current Hls instance handled
let mediaRecoveries = 0;

let viewMode = initialMode();   // what the Mode selector says: webrtc | hls | audio
let rtc = null;                 // the current WebRTC attempt (see connectWebRtc), or null
let rtcTimer = null;            // a pending re-offer / live poll
let rtcGeneration = 0;          // bumped by every (re)start and teardown: stale async work stops
let iceServers = [];            // learned from a 201's Link: rel="ice-server" headers
const whep = {                  // for the test hook
  location: null, offers: 0, reconnects: 0, lastStatus: null, lastReason: null, fallback: null,
};

// Test hook; tests/browser/watch.mjs reads these fields.
const cc = window.classcast = {
  get hls() { return hls; },
  video: ui.video,
  state: 'waiting',             // waiting | playing | error
  lastError: null,
  errors: [],                   // fatal errors seen, e.g. "networkError/manifestLoadError (HTTP 404)"
  mode: null,                   // 'hls.js' | 'native' | 'webrtc': what plays now
  levels,
  get viewMode() { return viewMode; },    // the selected mode: 'webrtc' | 'hls' | 'audio'
  get pc() { return rtc?.pc ?? null; },
  whep,                         // {location, offers, reconnects, lastStatus, lastReason, fallback}
  notice: null,                 // text of the notice above the controls, or null
  webrtcStats,
};

// ---- small helpers --------------------------------------------------------

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function setState(state, text, isError = false) {
  cc.state = state;
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  if (text !== undefined) setStatus(text, isError);
}

function fail(message) {
  halted = true;
  clearTimeout(retryTimer);
  retryTimer = null;
  stopWebRtc();
  destroyHls();
  cc.lastError = message;
  setState('error', message, true);
}

function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** [{index, width, height, bitrate}] in hls.js order (ascending bitrate); [] for native HLS. */
function levels() {
  return (hls?.levels ?? []).map((l, index) => ({ index, width: l.width, height: l.height, bitrate: l.bitrate }));
}

function levelLabel(l) {
  return `${l.height ? `${l.height}p` : `level ${l.index}`} (${(l.bitrate / 1e6).toFixed(1)} Mb/s)`;
}

function setNotice(text) {
  cc.notice = text || null;
  ui.notice.textContent = text || '';
  ui.notice.hidden = !text;
}

function describe() {
  if (cc.mode === 'webrtc') {
    const audio = ui.video.muted ? 'audio only (unmute to listen)' : 'audio only';
    const parts = ['playing', 'live', viewMode === 'audio' ? audio : 'interactive (WebRTC)'];
    if (viewMode !== 'audio' && ui.video.videoHeight) parts.push(`${ui.video.videoHeight}p`);
    return parts.join(' · ');
  }
  const parts = ['playing', isVod ? 'recording' : 'live'];
  const l = hls?.levels[hls.currentLevel];
  if (l) parts.push(`${l.height}p${hls.autoLevelEnabled ? ' (auto)' : ''}`);
  if (ui.video.playbackRate !== 1) parts.push(`${ui.video.playbackRate}×`);
  return parts.join(' · ');
}

// ---- waiting for the stream -----------------------------------------------

function scheduleRetry(reason) {
  if (halted) return;
  destroyHls();
  setState('waiting', `waiting for the stream (${reason}); retrying every ${RETRY_MS / 1000} s…`);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(start, RETRY_MS);
  checkSession();
}

// The title for the header, and a clear error for a session that does not exist
// (its master playlist is a 404 too, which alone would mean "retry forever").
async function checkSession() {
  try {
    const res = await fetch(`/api/sessions/${encodeURIComponent(session)}`, { headers: authHeaders(), cache: 'no-store' });
    if (res.status === 404) return fail(`no such session: ${session}`);
    if (res.status === 401 || res.status === 403) return fail(`not allowed to watch ${session} (HTTP ${res.status})`);
    if (!res.ok) return;
    const s = await res.json();
    if (s.title) {
      ui.title.textContent = s.title;
      document.title = `${s.title} · classcast`;
    }
    if (cc.state === 'waiting' && retryTimer && !isWebRtcMode()) {
      setStatus(s.live
        ? 'the class is live; waiting for the first HLS segments…'
        : `waiting for the class to start (session ${s.state}); retrying every ${RETRY_MS / 1000} s…`);
    }
  } catch {
    // The title is a nicety; playback errors are reported by the player.
  }
}

// ---- playback --------------------------------------------------------------

function start() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (halted) return;
  ui.speed.disabled = false;
  const mse = !!window.Hls?.isSupported();
  if (mse) startHlsJs();
  else if (ui.video.canPlayType('application/vnd.apple.mpegurl')) startNative();
  else fail(window.Hls ? 'this browser can play neither HLS nor Media Source Extensions'
                       : 'vendor/hls.min.js did not load and this browser has no native HLS');
}

// Often called from inside an hls.js event handler: forget the instance now (every
// handler checks it is still the current one) and destroy it once the handler returns.
function destroyHls() {
  if (!hls) return;
  const h = hls;
  hls = null;
  setTimeout(() => h.destroy(), 0);
}

function startHlsJs() {
  cc.mode = 'hls.js';
  if (hls) { hls.destroy(); hls = null; } // not deferred: the new instance takes the <video> now
  sawDetails = false;
  const h = hls = new Hls(HLS_CONFIG);
  const { Events } = Hls;
  h.on(Events.MANIFEST_PARSED, () => {
    if (h !== hls) return;
    buildLevelSelector();
    tryPlay();
  });
  h.on(Events.LEVEL_LOADED, (_, data) => { if (h === hls) onDetails(data.details); });
  h.on(Events.LEVEL_SWITCHED, () => { if (h === hls) updateLevelSelector(); });
  h.on(Events.ERROR, (_, data) => { if (h === hls) onHlsError(data); });
  h.attachMedia(ui.video);
  h.loadSource(masterUrl);
}

function onHlsError(data) {
  if (!data.fatal) return;
  const code = data.response?.code;
  const desc = `${data.type}/${data.details}${code ? ` (HTTP ${code})` : ''}`;
  cc.errors.push(desc);
  if (code === 401 || code === 403) return fail(`not allowed to watch: ${desc}`);
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < MAX_MEDIA_RECOVERIES) {
    mediaRecoveries++;
    hls.recoverMediaError();
    return;
  }
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
    // 404 on the master playlist: the session is not live (yet). Anything else:
    // the server went away or the session ended; start over in a moment.
    const notLive = code === 404 && data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
    cc.lastError = notLive ? null : desc;
    return scheduleRetry(notLive ? 'not live yet' : desc);
  }
  fail(`playback failed: ${desc}${data.error?.message ? `: ${data.error.message}` : ''}`);
}

// Native HLS (Safari): probe the master playlist first so a 404 means "retry".
async function startNative() {
  cc.mode = 'native';
  let res;
  try {
    res = await fetch(masterUrl, { cache: 'no-store' });
  } catch (e) {
    return scheduleRetry(`network error: ${e.message}`);
  }
  if (res.status === 404) return scheduleRetry('not live yet');
  if (res.status === 401 || res.status === 403) return fail(`not allowed to watch ${session} (HTTP ${res.status})`);
  if (!res.ok) return scheduleRetry(`master playlist: HTTP ${res.status}`);
  ui.video.src = masterUrl;
  tryPlay();
}

function tryPlay() {
  ui.video.play().catch((e) => {
    if (e?.name === 'NotAllowedError') setStatus('press play to start');
  });
}

// ---- WebRTC (WHEP) -----------------------------------------------------------

function isWebRtcMode() {
  return viewMode === 'webrtc' || viewMode === 'audio';
}

/** mode= from the URL; otherwise WebRTC for students and instructors, HLS for the rest. */
function initialMode() {
  const asked = params('mode').toLowerCase();
  if (MODES.includes(asked)) return asked;
  const role = tokenRole();
  return role === 'student' || role === 'instructor' ? 'webrtc' : 'hls';
}

/** The role claim of the JWT, unverified (only to pick a default). */
function tokenRole() {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='))).role ?? null;
  } catch {
    return null;
  }
}

function iceGatheringDone(conn, maxMs) {
  if (conn.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); conn.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (conn.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, maxMs);
    conn.addEventListener('icegatheringstatechange', check);
  });
}

/** Splits a (possibly combined) Link header into [{url, params}]. */
function parseLinks(header) {
  const out = [];
  if (!header) return out;
  const quoted = '"((?:[^"\\\\]|\\\\.)*)"'; // "…" with \-escapes
  const links = new RegExp(`<([^>]*)>((?:\\s*;\\s*[^;,=\\s]+\\s*=\\s*(?:${quoted}|[^;,]*))*)`, 'g');
  const param = new RegExp(`;\\s*([^;,=\\s]+)\\s*=\\s*(?:${quoted}|([^;,]*))`, 'g');
  for (const m of header.matchAll(links)) {
    const attrs = {};
    for (const p of m[2].matchAll(param)) {
      attrs[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '').trim();
    }
    out.push({ url: m[1], attrs });
  }
  return out;
}

/** RTCIceServer list from Link: <...>; rel="ice-server" (RFC 9725 §4.6). */
function iceServersFrom(header) {
  return parseLinks(header)
    .filter((l) => (l.attrs.rel ?? '').split(/\s+/).includes('ice-server'))
    .map((l) => (l.attrs.username !== undefined
      ? { urls: l.url, username: l.attrs.username, credential: l.attrs.credential ?? '' }
      : { urls: l.url }));
}

/** The session's HLS master playlist from a 503: the JSON "hls", else Link rel="alternate". */
function hlsPointer(body, linkHeader) {
  let url = typeof body?.hls === 'string' ? body.hls : null;
  if (!url) {
    const alt = parseLinks(linkHeader).find((l) => (l.attrs.rel ?? '').split(/\s+/).includes('alternate'));
    url = alt?.url ?? null;
  }
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    if (token && !u.searchParams.has('token')) u.searchParams.set('token', token);
    return u.href;
  } catch {
    return null;
  }
}

function retryAfterMs(res) {
  const v = res.headers.get('Retry-After');
  let s = Number(v);
  if (v && !Number.isFinite(s)) s = (Date.parse(v) - Date.now()) / 1000; // HTTP-date form
  if (!Number.isFinite(s) || s <= 0) s = RETRY_AFTER_DEFAULT_S;
  return Math.min(s, RETRY_AFTER_MAX_S) * 1000;
}

/** DELETE a WHEP resource; errors are of no interest (it may be gone already). */
function deleteResource(url) {
  if (!url) return;
  fetch(url, { method: 'DELETE', headers: authHeaders(), keepalive: true }).catch(() => {});
}

/** Ends the current WebRTC attempt (if any): pc closed, resource DELETEd, timers off. */
function stopWebRtc() {
  rtcGeneration++;
  clearTimeout(rtcTimer);
  rtcTimer = null;
  const r = rtc;
  rtc = null;
  if (!r) return;
  clearInterval(r.health);
  r.pc.close();
  deleteResource(r.location);
  whep.location = null;
  if (ui.video.srcObject === r.stream) ui.video.srcObject = null;
}

/** Stops hls.js / native HLS right away (not from inside an hls.js handler). */
function stopHls() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (hls) { const h = hls; hls = null; h.destroy(); }
  if (ui.video.getAttribute('src')) {
    ui.video.removeAttribute('src');
    ui.video.load();
  }
}

function startWebRtc() {
  if (halted) return;
  stopHls();
  stopWebRtc();
  cc.mode = 'webrtc';
  isVod = false;
  ui.level.replaceChildren(new Option('Auto', '-1'));
  ui.level.disabled = true;
  ui.speed.disabled = true; // a live stream plays at 1x
  ui.video.playbackRate = ui.video.defaultPlaybackRate = 1;
  connectWebRtc();
}

/** One offer/answer exchange; reschedules itself on 409 and on network errors. */
async function connectWebRtc() {
  if (halted || !isWebRtcMode()) return;
  stopWebRtc();
  const gen = rtcGeneration;
  const stale = () => gen !== rtcGeneration || halted;
  const audioOnly = viewMode === 'audio';
  setState('waiting', `connecting (${audioOnly ? 'audio only' : 'interactive'})…`);

  const pc = new RTCPeerConnection({ iceServers });
  const stream = new MediaStream();
  const r = rtc = {
    pc, stream, location: null, etag: null, answeredAt: 0, health: null,
    lastFrames: 0, lastAudioBytes: 0, lastProgressAt: 0, gotMedia: false, videoMutedSince: null, videoWasLive: false,
    lateCandidates: [], posted: false, offerComplete: false,
  };
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addEventListener('track', (e) => {
    if (rtc !== r) return;
    const track = e.track;
    stream.addTrack(track);
    if (ui.video.srcObject !== stream) ui.video.srcObject = stream;
    tryPlay();
    if (track.kind === 'video') {
      const onMute = () => { r.videoMutedSince = track.muted ? (r.videoMutedSince ?? performance.now()) : null; };
      track.addEventListener('mute', onMute);
      track.addEventListener('unmute', () => { r.videoWasLive = true; onMute(); });
      if (!track.muted) r.videoWasLive = true;
    }
  });
  pc.addEventListener('connectionstatechange', () => {
    if (rtc !== r) return;
    const s = pc.connectionState;
    if (s === 'failed' || s === 'closed') reconnect(`connection ${s}`);
  });
  pc.addEventListener('icecandidate', (e) => {
    // Only what the offer lacked: gathering was cut short by ICE_GATHER_MAX_MS.
    if (rtc !== r || !r.posted || r.offerComplete) return;
    r.lateCandidates.push(e.candidate); // null: end of candidates
    if (r.location) trickle(r);
  });

  let res;
  let answer;
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringDone(pc, ICE_GATHER_MAX_MS);
    if (stale()) return;
    const url = audioOnly ? `${whepUrl}?audio_only=1` : whepUrl;
    whep.offers++;
    r.posted = true;
    r.offerComplete = pc.iceGatheringState === 'complete';
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), WHEP_TIMEOUT_MS);
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { ...authHeaders(), 'Content-Type': 'application/sdp' },
        body: pc.localDescription.sdp,
        signal: ctl.signal,
      });
      answer = res.status === 201 ? await res.text() : null;
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    if (stale()) return;
    return retryWebRtc(`could not reach the server (${e.name === 'AbortError' ? 'timeout' : e.message})`, 3000);
  }
  if (stale()) {
    // Switched away while the POST was in flight: do not leave the resource behind.
    const loc = res.status === 201 ? res.headers.get('Location') : null;
    if (loc) deleteResource(new URL(loc, location.href).href);
    return;
  }
  whep.lastStatus = res.status;

  if (res.status === 201) {
    const loc = res.headers.get('Location');
    r.location = whep.location = loc ? new URL(loc, location.href).href : null;
    r.etag = res.headers.get('ETag');
    const servers = iceServersFrom(res.headers.get('Link'));
    if (servers.length) iceServers = servers; // for the next offers (this one is out already)
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (e) {
      if (stale()) return;
      return reconnect(`bad answer: ${e.message}`);
    }
    if (stale()) return;
    r.answeredAt = r.lastProgressAt = performance.now();
    r.health = setInterval(() => checkHealth(r), HEALTH_MS);
    if (r.lateCandidates.length) trickle(r);
    setStatus(`connected; waiting for ${audioOnly ? 'audio' : 'video'}…`);
    return;
  }

  let body = null;
  const text = await res.text().catch(() => '');
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (stale()) return;
  const why = body?.error ? `: ${body.error}` : '';
  switch (res.status) {
    case 503: {
      const pointer = hlsPointer(body, res.headers.get('Link'));
      if (pointer) return fallBackToHls(pointer, FULL_NOTICE);
      return retryWebRtc(`the server is busy (HTTP 503${why})`, retryAfterMs(res));
    }
    case 409:
      retryWebRtc('waiting for the instructor', retryAfterMs(res));
      return fallBackIfEnded();
    case 401:
      return fail(`not allowed to watch ${session} (HTTP ${res.status}${why})`);
    case 404:
      return fail(`no such session: ${session}${why}`);
    case 403: // e.g. a guest in a class whose interactive seats are for students
      whep.lastReason = `HTTP 403${why}`;
      return fallBackToHls(defaultMasterUrl, 'Interactive viewing is not open to you in this class; watching the broadcast (a few seconds behind)');
    default:
      if (res.status >= 500) return retryWebRtc(`server error (HTTP ${res.status}${why})`, 5000);
      // 400/413/415/422: this browser's offer was not accepted; HLS still works.
      return fallBackToHls(defaultMasterUrl, `Interactive viewing failed (HTTP ${res.status}${why}); watching the broadcast (a few seconds behind)`);
  }
}

/** After a 409: an ended session will not go live again; play its broadcast instead. */
async function fallBackIfEnded() {
  const gen = rtcGeneration;
  try {
    const res = await fetch(`/api/sessions/${encodeURIComponent(session)}`, { headers: authHeaders(), cache: 'no-store' });
    const s = res.ok ? await res.json() : null;
    if (gen === rtcGeneration && !halted && s?.state === 'ended') fallBackToHls(defaultMasterUrl, ENDED_NOTICE);
  } catch { /* the next attempt will tell */ }
}

/** Later offer from scratch, after `ms`, showing `reason` meanwhile. */
function retryWebRtc(reason, ms) {
  stopWebRtc();
  whep.lastReason = reason;
  setState('waiting', `${reason}; trying again in ${Math.round(ms / 1000)} s…`);
  rtcTimer = setTimeout(connectWebRtc, ms);
}

/** The stream ended or broke: DELETE, poll the session until it is live, offer again. */
function reconnect(reason) {
  if (halted || !isWebRtcMode()) return;
  stopWebRtc();
  whep.reconnects++;
  whep.lastReason = reason;
  ui.video.srcObject = null;
  setState('waiting', `${reason}; waiting for the class to be live again…`);
  const gen = rtcGeneration;
  const poll = async () => {
    if (gen !== rtcGeneration || halted) return;
    let s = null;
    try {
      const res = await fetch(`/api/sessions/${encodeURIComponent(session)}`, { headers: authHeaders(), cache: 'no-store' });
      if (res.status === 404) return fail(`no such session: ${session}`);
      if (res.status === 401 || res.status === 403) return fail(`not allowed to watch ${session} (HTTP ${res.status})`);
      if (res.ok) s = await res.json();
    } catch { /* the server is away: keep polling */ }
    if (gen !== rtcGeneration || halted) return;
    if (s?.live) return connectWebRtc();
    if (s?.state === 'ended') return fallBackToHls(defaultMasterUrl, ENDED_NOTICE);
    setStatus(s ? `${reason}; waiting for the instructor (session ${s.state})…` : `${reason}; waiting for the server…`);
    rtcTimer = setTimeout(poll, LIVE_POLL_MS);
  };
  poll();
}

/** 1 s health check: start over when nothing arrives, or the stream went silent. */
async function checkHealth(r) {
  if (rtc !== r) return;
  const now = performance.now();
  const st = await webrtcStats().catch(() => null);
  if (rtc !== r || !st) return;
  // Progress: new video frames or new audio bytes (audio only, or a publish without video).
  const frames = st.video?.framesDecoded ?? 0;
  const bytes = st.audio?.bytesReceived ?? 0;
  if (frames > r.lastFrames || bytes > r.lastAudioBytes) r.lastProgressAt = now;
  r.lastFrames = frames;
  r.lastAudioBytes = bytes;
  if (!r.gotMedia && (frames > 0 || bytes > 0)) r.gotMedia = true;
  if (!r.gotMedia) {
    if (now - r.answeredAt > FIRST_MEDIA_MS) reconnect('no media arrived');
    return;
  }
  if (now - r.lastProgressAt > SILENT_MS) return reconnect('the stream stopped');
  if (viewMode !== 'audio' && r.videoWasLive && r.videoMutedSince !== null && now - r.videoMutedSince > SILENT_MS) {
    return reconnect('the video stopped');
  }
}

/** Late ICE candidates (after the POST) to the resource: PATCH application/trickle-ice-sdpfrag. */
function trickle(r) {
  const cands = r.lateCandidates.splice(0);
  if (!cands.length || !r.location) return;
  const sdp = r.pc.localDescription?.sdp ?? '';
  const ufrag = sdp.match(/^a=ice-ufrag:(.*)$/m)?.[1]?.trim();
  const pwd = sdp.match(/^a=ice-pwd:(.*)$/m)?.[1]?.trim();
  const mline = sdp.match(/^m=(\S+) /m)?.[1] ?? 'audio';
  const mid = sdp.match(/^a=mid:(.*)$/m)?.[1]?.trim() ?? '0';
  if (!ufrag || !pwd) return;
  const lines = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, `m=${mline} 9 UDP/TLS/RTP/SAVPF 0`, `a=mid:${mid}`];
  for (const c of cands) {
    if (!c) lines.push('a=end-of-candidates');
    else if (c.candidate) lines.push(`a=${c.candidate}`);
  }
  if (lines.length === 4) return;
  const headers = { ...authHeaders(), 'Content-Type': 'application/trickle-ice-sdpfrag' };
  if (r.etag) headers['If-Match'] = r.etag;
  fetch(r.location, { method: 'PATCH', headers, body: `${lines.join('\r\n')}\r\n` }).catch(() => {});
}

/** Over to the existing HLS path with the server's pointer (503) or the default playlist. */
function fallBackToHls(url, notice) {
  stopWebRtc();
  whep.fallback = url;
  masterUrl = url;
  setNotice(notice);
  // Picking Interactive again offers anew; the URL's mode= is left as it was.
  viewMode = 'hls';
  ui.mode.value = 'hls';
  ui.video.srcObject = null;
  setState('waiting', 'loading the broadcast…');
  start();
}

/** Inbound video/audio figures of the current connection (the health check, tests, people). */
async function webrtcStats() {
  const pc = rtc?.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const out = { connection: pc.connectionState, video: null, audio: null };
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp' || (s.kind !== 'video' && s.kind !== 'audio')) return;
    if (out[s.kind] && out[s.kind].bytesReceived >= (s.bytesReceived ?? 0)) return;
    out[s.kind] = {
      bytesReceived: s.bytesReceived ?? 0, packetsReceived: s.packetsReceived ?? 0, packetsLost: s.packetsLost ?? 0,
      codec: s.codecId ? report.get(s.codecId)?.mimeType ?? null : null,
      ...(s.kind === 'video' ? {
        framesDecoded: s.framesDecoded ?? 0, framesPerSecond: s.framesPerSecond ?? 0,
        frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
      } : {}),
    };
  });
  return out;
}

// ---- mode ------------------------------------------------------------------

/** Starts whatever the selected mode needs, stopping the other one. */
function begin() {
  if (halted) return;
  ui.mode.value = viewMode;
  if (isWebRtcMode()) {
    startWebRtc();
  } else {
    stopWebRtc();
    ui.video.srcObject = null;
    masterUrl = whep.fallback ?? defaultMasterUrl;
    setState('waiting', 'waiting for the stream…');
    start();
  }
}

ui.mode.addEventListener('change', () => {
  viewMode = ui.mode.value;
  setNotice(null);
  whep.fallback = null;
  // Remember the choice in the fragment; replaceState fires no hashchange (no reload).
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  h.set('mode', viewMode);
  history.replaceState(null, '', `${location.pathname}${location.search}#${h}`);
  begin();
});

ui.video.addEventListener('resize', () => { if (cc.mode === 'webrtc' && cc.state === 'playing') setStatus(describe()); });
ui.video.addEventListener('volumechange', () => { if (cc.mode === 'webrtc' && cc.state === 'playing') setStatus(describe()); });

// Leaving the page: free the interactive seat at once.
window.addEventListener('pagehide', () => { if (rtc?.location) deleteResource(rtc.location); });

// ---- quality and speed -----------------------------------------------------

function buildLevelSelector() {
  const list = levels().sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
  ui.level.replaceChildren(new Option('Auto', '-1'), ...list.map((l) => new Option(levelLabel(l), String(l.index))));
  ui.level.disabled = list.length === 0;
  updateLevelSelector();
}

function updateLevelSelector() {
  if (!hls) return;
  ui.level.value = String(hls.autoLevelEnabled ? -1 : hls.manualLevel);
  const current = hls.levels[hls.currentLevel];
  ui.level.options[0].text = hls.autoLevelEnabled && current ? `Auto (${current.height}p)` : 'Auto';
  if (cc.state === 'playing') setStatus(describe());
}

ui.level.addEventListener('change', () => {
  if (hls) hls.currentLevel = Number(ui.level.value); // -1 = back to automatic
});

ui.speed.addEventListener('change', () => {
  const rate = Number(ui.speed.value);
  ui.video.defaultPlaybackRate = rate; // survives a reload of the source
  ui.video.playbackRate = rate;
});

// ---- VOD resume ------------------------------------------------------------

function savedPosition() {
  try {
    return Number(localStorage.getItem(positionKey)) || 0;
  } catch {
    return 0;
  }
}

function onDetails(details) {
  const first = !sawDetails;
  sawDetails = true;
  isVod = details.live === false;
  // Only when the recording is what we start with: a live class that ends must not jump.
  if (first && isVod) {
    const at = savedPosition();
    if (at > 1 && at < details.totalduration - 5) {
      hls.startLoad(at);
      setStatus(`resuming at ${formatTime(at)}`);
    }
  }
  if (cc.state === 'playing') setStatus(describe());
}

function formatTime(s) {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

setInterval(() => {
  const t = ui.video.currentTime;
  if (!isVod || !(t > 0) || ui.video.ended) return;
  try { localStorage.setItem(positionKey, t.toFixed(1)); } catch { /* storage disabled */ }
}, SAVE_EVERY_MS);

// ---- <video> events --------------------------------------------------------

ui.video.addEventListener('playing', () => { if (!halted) setState('playing', describe()); });
ui.video.addEventListener('waiting', () => { if (cc.state === 'playing') setStatus('buffering…'); });
ui.video.addEventListener('pause', () => { if (cc.state === 'playing' && !ui.video.ended) setStatus('paused'); });
ui.video.addEventListener('ratechange', () => {
  ui.speed.value = String(ui.video.playbackRate);
  if (cc.state === 'playing' && !ui.video.paused) setStatus(describe());
});
ui.video.addEventListener('ended', () => {
  try { localStorage.removeItem(positionKey); } catch { /* storage disabled */ }
  if (cc.state === 'playing') setStatus('ended');
});
ui.video.addEventListener('loadedmetadata', () => {
  if (cc.mode !== 'native') return;
  isVod = Number.isFinite(ui.video.duration);
  const at = savedPosition();
  if (isVod && at > 1 && at < ui.video.duration - 5) ui.video.currentTime = at;
});
ui.video.addEventListener('error', () => {
  if (cc.mode !== 'native' || halted) return; // hls.js reports its own errors
  const err = ui.video.error;
  const desc = `media error ${err?.code ?? '?'}${err?.message ? `: ${err.message}` : ''}`;
  cc.errors.push(desc);
  cc.lastError = desc;
  ui.video.removeAttribute('src');
  ui.video.load();
  scheduleRetry(desc);
});

// ---- start -----------------------------------------------------------------

// A new #token=..&session=.. pasted into the address bar starts over.
window.addEventListener('hashchange', () => location.reload());

ui.mode.value = viewMode;
if (!session) {
  fail('no session: open this page as watch.html#token=<token>&session=<session id>');
} else {
  setState('waiting', 'waiting for the stream…');
  checkSession();
  begin();
}
