// classcast viewer (player/watch.html): watches a session live over WebRTC
// (WHEP), or plays its HLS ladder with hls.js, or with the browser's own HLS
// where there is no Media Source Extensions (iOS Safari).
//
//   watch.html#token=<jwt>&session=<id>[&mode=webrtc|hls|audio]   (the query string works too)
//
// Without mode=, students and instructors start on WebRTC ("Interactive") and
// everyone else (guests, unreadable tokens) on HLS, the role being read from
// the token's payload (not verified here: the server does that). The Mode
// selector switches at any time and records the choice as mode= in the
// fragment. See webrtc.ts for when WebRTC falls back to HLS.
import { cancelRetry, destroyHls, onNativeError, retryPending, start } from './hlsPlayback';
import { installHook } from './hook';
import {
  defaultMasterUrl,
  describe,
  fail,
  isWebRtcMode,
  onHalt,
  page,
  session,
  setNotice,
  setState,
  setStatus,
  ui,
} from './page';
import type { ViewMode } from './params';
import { wireQualityAndSpeed } from './quality';
import { forgetPosition, keepPosition, resumeNative } from './resume';
import { checkSession } from './session';
import { leave, startWebRtc, stopWebRtc, whep } from './webrtc';

installHook();
onHalt(() => {
  cancelRetry();
  stopWebRtc();
  destroyHls();
});

// ---- mode -------------------------------------------------------------------

/** Starts whatever the selected mode needs, stopping the other one. */
function begin(): void {
  if (page.halted) return;
  ui.mode.value = page.viewMode;
  if (isWebRtcMode()) {
    startWebRtc();
  } else {
    stopWebRtc();
    ui.video.srcObject = null;
    page.masterUrl = whep.fallback ?? defaultMasterUrl;
    setState('waiting', 'waiting for the stream…');
    start();
  }
}

ui.mode.addEventListener('change', () => {
  page.viewMode = ui.mode.value as ViewMode;
  setNotice(null);
  whep.fallback = null;
  // Remember the choice in the fragment; replaceState fires no hashchange (no reload).
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  h.set('mode', page.viewMode);
  history.replaceState(null, '', `${location.pathname}${location.search}#${h.toString()}`);
  begin();
});

ui.video.addEventListener('resize', () => {
  if (page.mode === 'webrtc' && page.state === 'playing') setStatus(describe());
});
ui.video.addEventListener('volumechange', () => {
  if (page.mode === 'webrtc' && page.state === 'playing') setStatus(describe());
});

// Leaving the page: free the interactive seat at once.
window.addEventListener('pagehide', leave);

// ---- quality, speed, VOD resume ---------------------------------------------

wireQualityAndSpeed();
keepPosition();

// ---- <video> events -----------------------------------------------------------

ui.video.addEventListener('playing', () => {
  if (!page.halted) setState('playing', describe());
});
ui.video.addEventListener('waiting', () => {
  if (page.state === 'playing') setStatus('buffering…');
});
ui.video.addEventListener('pause', () => {
  if (page.state === 'playing' && !ui.video.ended) setStatus('paused');
});
ui.video.addEventListener('ratechange', () => {
  ui.speed.value = String(ui.video.playbackRate);
  if (page.state === 'playing' && !ui.video.paused) setStatus(describe());
});
ui.video.addEventListener('ended', () => {
  forgetPosition();
  if (page.state === 'playing') setStatus('ended');
});
ui.video.addEventListener('loadedmetadata', () => {
  if (page.mode === 'native') resumeNative();
});
ui.video.addEventListener('error', onNativeError);

// ---- start ----------------------------------------------------------------------

// A new #token=..&session=.. pasted into the address bar starts over.
window.addEventListener('hashchange', () => location.reload());

ui.mode.value = page.viewMode;
if (!session) {
  fail('no session: open this page as watch.html#token=<token>&session=<session id>');
} else {
  setState('waiting', 'waiting for the stream…');
  void checkSession(retryPending);
  begin();
}
