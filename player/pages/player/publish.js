// classcast instructor publisher: camera + mic -> WHIP (RFC 9725) to the classcast server.
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  token: $('token'), session: $('session'), title: $('title'), create: $('create'),
  codec: $('codec'), golive: $('golive'), camera: $('camera'), mic: $('mic'), stop: $('stop'),
  state: $('state'), status: $('status'), preview: $('preview'), counters: $('counters'),
};

const ICE_GATHER_MAX_MS = 2000;
const POLL_MS = 2000;

let pc = null;       // RTCPeerConnection while publishing
let stream = null;   // local MediaStream
let pollTimer = null;

// Test hook; the driver in tests/browser reads these fields.
const cc = window.classcast = {
  state: 'idle',       // idle | connecting | live | stopped | error
  location: null,      // absolute WHIP resource URL from the Location header
  session: null,       // session id
  lastError: null,
  stats,
};

// ---- small helpers --------------------------------------------------------

function setState(state) {
  cc.state = state;
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  const busy = state === 'connecting' || state === 'live';
  ui.golive.disabled = busy;
  ui.create.disabled = busy;
  ui.codec.disabled = busy;
  ui.stop.disabled = !(busy || pc || stream);
  ui.camera.disabled = ui.mic.disabled = !stream;
}

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function fail(message) {
  cc.lastError = message;
  setStatus(message, true);
  setState('error');
}

function token() { return ui.token.value.trim(); }

function authHeaders(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function httpError(res) {
  const body = (await res.text().catch(() => '')).trim();
  return `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}${body ? ': ' + body : ''}`;
}

function readParams() {
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const get = (k) => h.get(k) ?? q.get(k) ?? '';
  ui.token.value = get('token');
  ui.session.value = get('session');
  if (get('codec')) ui.codec.value = get('codec');
}

function rememberSession(id) {
  ui.session.value = id;
  cc.session = id;
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  h.set('session', id);
  if (token()) h.set('token', token());
  history.replaceState(null, '', `${location.pathname}${location.search}#${h}`);
  startPolling();
}

// ---- sessions API ---------------------------------------------------------

async function createSession() {
  const res = await fetch('/api/sessions', {
    method: 'POST',
    headers: authHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ title: ui.title.value.trim() || 'Live class' }),
  });
  if (res.status !== 201) throw new Error(`create session failed: ${await httpError(res)}`);
  const s = await res.json();
  rememberSession(s.id);
  setStatus(`session ${s.id} created (${s.state ?? 'scheduled'})`);
  return s.id;
}

async function pollOnce() {
  const id = ui.session.value.trim();
  if (!id) return;
  try {
    const res = await fetch(`/api/sessions/${encodeURIComponent(id)}`, { headers: authHeaders(), cache: 'no-store' });
    if (!res.ok) { ui.counters.textContent = await httpError(res); return; }
    const s = await res.json();
    ui.counters.textContent =
      `state: ${s.state}   live: ${s.live}\n` + JSON.stringify(s.media ?? {}, null, 2);
  } catch (e) {
    ui.counters.textContent = `poll failed: ${e.message}`;
  }
}

function startPolling() {
  clearInterval(pollTimer);
  pollOnce();
  pollTimer = setInterval(pollOnce, POLL_MS);
}

// ---- WebRTC / WHIP --------------------------------------------------------

// Puts the chosen codec first and keeps only it plus the resilience "codecs".
function preferCodec(transceiver, codec) {
  if (codec === 'auto' || !transceiver.setCodecPreferences) return;
  const want = `video/${codec}`;
  const keep = ['video/rtx', 'video/red', 'video/ulpfec'];
  const caps = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
  const chosen = caps.filter((c) => c.mimeType.toLowerCase() === want);
  if (!chosen.length) throw new Error(`this browser cannot send ${codec}`);
  if (codec === 'h264') {
    // Prefer packetization-mode=1 and constrained baseline: what most servers expect.
    const score = (c) => (/packetization-mode=1/.test(c.sdpFmtpLine ?? '') ? 0 : 2) +
                         (/profile-level-id=42e0/.test(c.sdpFmtpLine ?? '') ? 0 : 1);
    chosen.sort((a, b) => score(a) - score(b));
  }
  const extras = caps.filter((c) => keep.includes(c.mimeType.toLowerCase()));
  transceiver.setCodecPreferences([...chosen, ...extras]);
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

async function goLive() {
  const t0 = performance.now();
  cc.lastError = null;
  cc.location = null;
  setStatus('');
  setState('connecting');
  try {
    const id = ui.session.value.trim() || await createSession();
    if (cc.session !== id) { cc.session = id; startPolling(); }
    const whipUrl = new URL(`/whip/${encodeURIComponent(id)}`, location.href).href;

    setStatus('opening camera and microphone…');
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 1280, height: 720, frameRate: 30 },
      audio: true,
    });
    ui.preview.srcObject = stream;
    setState('connecting'); // refresh buttons now that a stream exists

    pc = new RTCPeerConnection({ iceServers: [] });
    const conn = pc;
    conn.addEventListener('connectionstatechange', () => {
      if (conn !== pc) return;
      if (conn.connectionState === 'failed' && cc.state === 'live') fail('connection failed (ICE/DTLS)');
    });
    for (const track of stream.getTracks()) {
      const tr = conn.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video') preferCodec(tr, ui.codec.value);
    }

    await conn.setLocalDescription(await conn.createOffer());
    setStatus('gathering ICE candidates…');
    await iceGatheringDone(conn, ICE_GATHER_MAX_MS);

    setStatus(`POST ${whipUrl}`);
    const res = await fetch(whipUrl, {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/sdp' }),
      body: conn.localDescription.sdp,
    });
    if (res.status !== 201) throw new Error(await httpError(res));
    const answer = await res.text();
    const loc = res.headers.get('Location');
    if (loc) cc.location = new URL(loc, whipUrl).href;
    if (conn !== pc) return; // stopped meanwhile
    await conn.setRemoteDescription({ type: 'answer', sdp: answer });

    setStatus(`live in ${Math.round(performance.now() - t0)} ms${cc.location ? '' : ' (no Location header: Stop cannot end the session)'}`);
    setState('live');
  } catch (e) {
    const message = e?.message || String(e);
    teardown();
    fail(message);
  }
}

function teardown() {
  if (pc) { pc.close(); pc = null; }
  if (stream) { for (const t of stream.getTracks()) t.stop(); stream = null; }
  ui.preview.srcObject = null;
  ui.camera.textContent = 'Camera on'; ui.camera.setAttribute('aria-pressed', 'true');
  ui.mic.textContent = 'Mic on'; ui.mic.setAttribute('aria-pressed', 'true');
}

async function stop() {
  const loc = cc.location;
  teardown();
  let note = 'stopped';
  if (loc) {
    try {
      const res = await fetch(loc, { method: 'DELETE', headers: authHeaders() });
      if (!res.ok) note = `stopped; DELETE answered ${await httpError(res)}`;
    } catch (e) {
      note = `stopped; DELETE failed: ${e.message}`;
    }
    cc.location = null;
  }
  setStatus(note, note !== 'stopped');
  setState('stopped');
}

function toggle(kind, button, label) {
  const track = stream?.getTracks().find((t) => t.kind === kind);
  if (!track) return;
  track.enabled = !track.enabled;
  button.textContent = `${label} ${track.enabled ? 'on' : 'off'}`;
  button.setAttribute('aria-pressed', String(track.enabled));
}

// Summary of outbound-rtp stats, for people and the test driver.
async function stats() {
  const out = { video: null, audio: null };
  if (!pc) return out;
  const report = await pc.getStats();
  for (const s of report.values()) {
    if (s.type !== 'outbound-rtp') continue;
    const codec = s.codecId ? report.get(s.codecId)?.mimeType ?? null : null;
    if (s.kind === 'video') {
      out.video = {
        framesEncoded: s.framesEncoded ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
        bytesSent: s.bytesSent ?? 0, packetsSent: s.packetsSent ?? 0, codec,
        framesPerSecond: s.framesPerSecond ?? 0, qualityLimitationReason: s.qualityLimitationReason ?? null,
      };
    } else if (s.kind === 'audio') {
      out.audio = { packetsSent: s.packetsSent ?? 0, bytesSent: s.bytesSent ?? 0, codec };
    }
  }
  return out;
}

// ---- wiring ---------------------------------------------------------------

ui.create.addEventListener('click', async () => {
  ui.create.disabled = true;
  try { await createSession(); } catch (e) { cc.lastError = e.message; setStatus(e.message, true); }
  finally { ui.create.disabled = cc.state === 'connecting' || cc.state === 'live'; }
});
document.getElementById('controls').addEventListener('submit', (e) => e.preventDefault());
ui.golive.addEventListener('click', goLive);
ui.stop.addEventListener('click', stop);
ui.camera.addEventListener('click', () => toggle('video', ui.camera, 'Camera'));
ui.mic.addEventListener('click', () => toggle('audio', ui.mic, 'Mic'));
ui.session.addEventListener('change', () => {
  cc.session = ui.session.value.trim() || null;
  if (cc.session) startPolling(); else clearInterval(pollTimer);
});

function init() {
  readParams();
  cc.session = ui.session.value.trim() || null;
  if (cc.session) startPolling(); else clearInterval(pollTimer);
}
// Pasting a new #token=..&session=.. into the address bar re-reads it (unless publishing).
window.addEventListener('hashchange', () => { if (cc.state !== 'connecting' && cc.state !== 'live') init(); });
init();
setState('idle');
