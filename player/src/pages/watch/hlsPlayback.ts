// HLS: hls.js where the browser has Media Source Extensions, else the
// browser's own HLS (iOS Safari). A master playlist 404 (not live yet) and
// network errors retry every 3 s; 401/403 and unrecoverable errors stop.
import Hls, { type ErrorData, type LevelDetails } from 'hls.js';
import { messageOf } from '../../lib/api';
import { nativeHls } from '../../lib/hls';
import { describe, fail, page, RETRY_MS, session, setState, setStatus, tryPlay, ui } from './page';
import { buildLevelSelector, updateLevelSelector } from './quality';
import { formatTime, resumePoint } from './resume';
import { checkSession } from './session';

const HLS_CONFIG = { liveSyncDurationCount: 3, enableWorker: true };
const MAX_MEDIA_RECOVERIES = 3;

let retryTimer: ReturnType<typeof setTimeout> | null = null;
let sawDetails = false; // first LEVEL_LOADED of the current Hls instance handled
let mediaRecoveries = 0;

/** Whether a retry is scheduled. */
export function retryPending(): boolean {
  return retryTimer !== null;
}

export function cancelRetry(): void {
  if (retryTimer !== null) clearTimeout(retryTimer);
  retryTimer = null;
}

// ---- waiting for the stream -------------------------------------------------

export function scheduleRetry(reason: string): void {
  if (page.halted) return;
  destroyHls();
  setState('waiting', `waiting for the stream (${reason}); retrying every ${RETRY_MS / 1000} s…`);
  cancelRetry();
  retryTimer = setTimeout(start, RETRY_MS);
  void checkSession(retryPending);
}

// ---- playback ---------------------------------------------------------------

export function start(): void {
  cancelRetry();
  if (page.halted) return;
  ui.speed.disabled = false;
  if (Hls.isSupported()) startHlsJs();
  else if (nativeHls(ui.video)) void startNative();
  else fail('this browser can play neither HLS nor Media Source Extensions');
}

/**
 * Often called from inside an hls.js event handler: forget the instance now
 * (every handler checks it is still the current one) and destroy it once the
 * handler returns.
 */
export function destroyHls(): void {
  const h = page.hls;
  if (!h) return;
  page.hls = null;
  setTimeout(() => h.destroy(), 0);
}

/** Stops hls.js / native HLS right away (not from inside an hls.js handler). */
export function stopHls(): void {
  cancelRetry();
  if (page.hls) {
    const h = page.hls;
    page.hls = null;
    h.destroy();
  }
  if (ui.video.getAttribute('src')) {
    ui.video.removeAttribute('src');
    ui.video.load();
  }
}

function startHlsJs(): void {
  page.mode = 'hls.js';
  if (page.hls) {
    // Not deferred: the new instance takes the <video> now.
    page.hls.destroy();
    page.hls = null;
  }
  sawDetails = false;
  const h = new Hls(HLS_CONFIG);
  page.hls = h;
  h.on(Hls.Events.MANIFEST_PARSED, () => {
    if (h !== page.hls) return;
    buildLevelSelector();
    tryPlay();
  });
  h.on(Hls.Events.LEVEL_LOADED, (_, data) => {
    if (h === page.hls) onDetails(h, data.details);
  });
  h.on(Hls.Events.LEVEL_SWITCHED, () => {
    if (h === page.hls) updateLevelSelector();
  });
  h.on(Hls.Events.ERROR, (_, data) => {
    if (h === page.hls) onHlsError(h, data);
  });
  h.attachMedia(ui.video);
  h.loadSource(page.masterUrl);
}

function onHlsError(h: Hls, data: ErrorData): void {
  if (!data.fatal) return;
  const code = data.response?.code;
  const desc = `${data.type}/${data.details}${code ? ` (HTTP ${code})` : ''}`;
  page.errors.push(desc);
  if (code === 401 || code === 403) return fail(`not allowed to watch: ${desc}`);
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < MAX_MEDIA_RECOVERIES) {
    mediaRecoveries++;
    h.recoverMediaError();
    return;
  }
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
    // 404 on the master playlist: the session is not live (yet). Anything else:
    // the server went away or the session ended; start over in a moment.
    const notLive = code === 404 && data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
    page.lastError = notLive ? null : desc;
    return scheduleRetry(notLive ? 'not live yet' : desc);
  }
  fail(`playback failed: ${desc}${data.error?.message ? `: ${data.error.message}` : ''}`);
}

/** A level's playlist: live or a recording (then resume where it was left). */
function onDetails(h: Hls, details: LevelDetails): void {
  const first = !sawDetails;
  sawDetails = true;
  page.isVod = details.live === false;
  // Only when the recording is what we start with: a live class that ends must not jump.
  if (first && page.isVod) {
    const at = resumePoint(details.totalduration);
    if (at !== null) {
      h.startLoad(at);
      setStatus(`resuming at ${formatTime(at)}`);
    }
  }
  if (page.state === 'playing') setStatus(describe());
}

/** Native HLS (Safari): probe the master playlist first so a 404 means "retry". */
async function startNative(): Promise<void> {
  page.mode = 'native';
  let res: Response;
  try {
    res = await fetch(page.masterUrl, { cache: 'no-store' });
  } catch (e) {
    return scheduleRetry(`network error: ${messageOf(e)}`);
  }
  if (res.status === 404) return scheduleRetry('not live yet');
  if (res.status === 401 || res.status === 403) return fail(`not allowed to watch ${session} (HTTP ${res.status})`);
  if (!res.ok) return scheduleRetry(`master playlist: HTTP ${res.status}`);
  ui.video.src = page.masterUrl;
  tryPlay();
}

/** The <video>'s own error, with native HLS (hls.js reports its own): start over. */
export function onNativeError(): void {
  if (page.mode !== 'native' || page.halted) return;
  const err = ui.video.error;
  const desc = `media error ${err?.code ?? '?'}${err?.message ? `: ${err.message}` : ''}`;
  page.errors.push(desc);
  page.lastError = desc;
  ui.video.removeAttribute('src');
  ui.video.load();
  scheduleRetry(desc);
}
