// What the watch page's modules share: its elements, the address's
// parameters, where playback stands (what the test hook shows), the state,
// status and notice lines, and stopping everything on a fatal error.
import type Hls from 'hls.js';
import { initialMode, paramReader } from './params';
import { byId as pageElement } from '../../lib/dom';

export type WatchState = 'waiting' | 'playing' | 'error';
/** What plays now. */
export type PlaybackMode = 'hls.js' | 'native' | 'webrtc';

/** Master playlist 404 (not live yet): try again this often. */
export const RETRY_MS = 3000;

const byId = <T extends HTMLElement>(id: string, type: new () => T): T =>
  pageElement('watch.html', id, type);

export const ui = {
  video: byId('video', HTMLVideoElement),
  level: byId('level', HTMLSelectElement),
  speed: byId('speed', HTMLSelectElement),
  mode: byId('mode', HTMLSelectElement),
  notice: byId('notice', HTMLElement),
  status: byId('status', HTMLElement),
  state: byId('state', HTMLElement),
  title: byId('title', HTMLElement),
};

const param = paramReader(location.search, location.hash);
export const session = param('session');
export const token = param('token');
export const defaultMasterUrl = `/hls/${encodeURIComponent(session)}/master.m3u8${token ? `?token=${encodeURIComponent(token)}` : ''}`;

export const page = {
  state: 'waiting' as WatchState,
  lastError: null as string | null,
  /** Fatal errors seen, e.g. "networkError/manifestLoadError (HTTP 404)". */
  errors: [] as string[],
  mode: null as PlaybackMode | null,
  /** The text of the notice above the controls, or null. */
  notice: null as string | null,
  /** What the Mode selector says. */
  viewMode: initialMode(param('mode'), token),
  /** Replaced by the server's pointer after a 503. */
  masterUrl: defaultMasterUrl,
  /** A fatal, non-retryable error was shown. */
  halted: false,
  /** The playlist has #EXT-X-ENDLIST (details.live === false). */
  isVod: false,
  /** The current Hls instance (a new one per retry). */
  hls: null as Hls | null,
};

export function authHeaders(): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function isWebRtcMode(): boolean {
  return page.viewMode === 'webrtc' || page.viewMode === 'audio';
}

export function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

export function setState(state: WatchState, text?: string, isError = false): void {
  page.state = state;
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  if (text !== undefined) setStatus(text, isError);
}

export function setNotice(text: string | null): void {
  page.notice = text || null;
  ui.notice.textContent = text || '';
  ui.notice.hidden = !text;
}

let halt = (): void => undefined;

/** What `fail` stops: the HLS retry, WebRTC and hls.js (set by main). */
export function onHalt(stopAll: () => void): void {
  halt = stopAll;
}

/** A fatal, non-retryable error: everything stops and the page says why. */
export function fail(message: string): void {
  page.halted = true;
  halt();
  page.lastError = message;
  setState('error', message, true);
}

export function tryPlay(): void {
  ui.video.play().catch((e: unknown) => {
    if ((e as { name?: unknown } | null)?.name === 'NotAllowedError') setStatus('press play to start');
  });
}

/** The status line while playing: "playing · live · 720p (auto)". */
export function describe(): string {
  if (page.mode === 'webrtc') {
    const audio = ui.video.muted ? 'audio only (unmute to listen)' : 'audio only';
    const parts = ['playing', 'live', page.viewMode === 'audio' ? audio : 'interactive (WebRTC)'];
    if (page.viewMode !== 'audio' && ui.video.videoHeight) parts.push(`${ui.video.videoHeight}p`);
    return parts.join(' · ');
  }
  const parts = ['playing', page.isVod ? 'recording' : 'live'];
  const hls = page.hls;
  const l = hls?.levels[hls.currentLevel];
  if (hls && l) parts.push(`${l.height}p${hls.autoLevelEnabled ? ' (auto)' : ''}`);
  if (ui.video.playbackRate !== 1) parts.push(`${ui.video.playbackRate}×`);
  return parts.join(' · ');
}
