// classcast viewer: plays a session's HLS ladder with hls.js (vendor/hls.min.js),
// or with the browser's own HLS where there is no Media Source Extensions (iOS Safari).
//
//   watch.html#token=<jwt>&session=<id>      (the query string works too)
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  video: $('video'), level: $('level'), speed: $('speed'),
  status: $('status'), state: $('state'), title: $('title'),
};

const RETRY_MS = 3000;          // master playlist 404 (not live yet): try again this often
const SAVE_EVERY_MS = 5000;     // VOD resume position
const HLS_CONFIG = { liveSyncDurationCount: 3, enableWorker: true };
const MAX_MEDIA_RECOVERIES = 3;

const params = (() => {
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  return (k) => (h.get(k) ?? q.get(k) ?? '').trim();
})();
const session = params('session');
const token = params('token');
const masterUrl = `/hls/${encodeURIComponent(session)}/master.m3u8${token ? `?token=${encodeURIComponent(token)}` : ''}`;
const positionKey = `classcast.watch.position.${session}`;

let hls = null;                 // the current Hls instance (a new one per retry)
let retryTimer = null;
let halted = false;             // a fatal, non-retryable error was shown
let isVod = false;              // the playlist has #EXT-X-ENDLIST (details.live === false)
let sawDetails = false;         // first LEVEL_LOADED of the current Hls instance handled
let mediaRecoveries = 0;

// Test hook; tests/browser/watch.mjs reads these fields.
const cc = window.classcast = {
  get hls() { return hls; },
  video: ui.video,
  state: 'waiting',             // waiting | playing | error
  lastError: null,
  errors: [],                   // fatal errors seen, e.g. "networkError/manifestLoadError (HTTP 404)"
  mode: null,                   // 'hls.js' | 'native'
  levels,
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

function describe() {
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
    if (cc.state === 'waiting' && retryTimer) {
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

if (!session) {
  fail('no session: open this page as watch.html#token=<token>&session=<session id>');
} else {
  setState('waiting', 'waiting for the stream…');
  checkSession();
  start();
}
