// Playing a session's HLS broadcast into a <video>: hls.js (from npm, loaded
// on first use) where the browser has Media Source Extensions, the browser's
// own HLS where it plays `application/vnd.apple.mpegurl` (Safari). The token
// rides in the master playlist's query (`?token=`): the server passes a
// short-lived one on to every playlist and segment URI. Framework-free:
// what happens comes as status callbacks. "Not live yet" (404 on the master
// playlist) and a server that went away are retried by themselves.
import type HlsType from 'hls.js';
import type { ErrorData } from 'hls.js';

export type HlsState =
  | 'loading'
  | 'playing'
  | 'not-live' // no playlist yet: retrying by itself
  | 'reconnecting' // the server went away or the stream broke: retrying by itself
  | 'blocked' // autoplay refused: a person must press play
  | 'denied' // 401/403: not allowed to watch
  | 'failed' // this browser cannot play HLS
  | 'stopped';

export interface HlsStatus {
  state: HlsState;
  reason?: string;
}

export interface HlsLevel {
  /** What `setLevel` takes. */
  index: number;
  height: number;
  width: number;
  bitrate: number;
}

export interface HlsOptions {
  video: HTMLVideoElement;
  /** The master playlist (the session's hls_url, or a 503's pointer). */
  url: string;
  token?: string | null;
  onStatus: (status: HlsStatus) => void;
  /** The rungs (best first) and which one plays; again on every switch. */
  onLevels?: (levels: HlsLevel[], current: number, auto: boolean) => void;
}

export interface HlsPlayer {
  readonly engine: 'hls.js' | 'native';
  levels(): HlsLevel[];
  /** -1: automatic. */
  setLevel(index: number): void;
  /** Tries again at once (a network change). */
  reconnectNow(): void;
  stop(): void;
}

export const HLS_TIMING = { retryMs: 3000, maxMediaRecoveries: 3 };

/** The playlist address with the token in its query (kept if already there). */
export function withToken(url: string, token: string | null | undefined, base = location.href): string {
  const u = new URL(url, base);
  if (token && !u.searchParams.has('token')) u.searchParams.set('token', token);
  return u.href;
}

export function nativeHls(video: HTMLVideoElement): boolean {
  return video.canPlayType('application/vnd.apple.mpegurl') !== '';
}

export function mseAvailable(): boolean {
  return typeof MediaSource !== 'undefined' || 'ManagedMediaSource' in globalThis;
}

/** Starts playing at once. */
export function playHls(options: HlsOptions): HlsPlayer {
  const { video } = options;
  const url = withToken(options.url, options.token);
  // Where MSE exists hls.js plays (it adapts better than Chromium's own HLS); else the browser's own.
  const engine: 'hls.js' | 'native' = mseAvailable() || !nativeHls(video) ? 'hls.js' : 'native';
  let hls: HlsType | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  let recoveries = 0;

  const report = (status: HlsStatus) => {
    if (!stopped) options.onStatus(status);
  };

  const play = () => {
    video.play().catch((e: unknown) => {
      if (e instanceof DOMException && e.name === 'NotAllowedError') report({ state: 'blocked' });
    });
  };

  const levels = (): HlsLevel[] =>
    (hls?.levels ?? [])
      .map((l, index) => ({ index, height: l.height, width: l.width, bitrate: l.bitrate }))
      .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);

  const tellLevels = () => {
    if (hls) options.onLevels?.(levels(), hls.currentLevel, hls.autoLevelEnabled);
  };

  const teardown = () => {
    if (retry) clearTimeout(retry);
    retry = null;
    if (hls) {
      // Often called from inside an hls.js handler: destroy once it returns.
      const h = hls;
      hls = null;
      setTimeout(() => h.destroy(), 0);
    }
    if (video.getAttribute('src')) {
      video.removeAttribute('src');
      video.load();
    }
  };

  const again = (state: 'not-live' | 'reconnecting', reason?: string) => {
    teardown();
    report({ state, reason });
    retry = setTimeout(() => void start(), HLS_TIMING.retryMs);
  };

  const onError = (h: HlsType, Hls: typeof HlsType, data: ErrorData) => {
    if (!data.fatal || h !== hls) return;
    const code = data.response?.code;
    if (code === 401 || code === 403) {
      teardown();
      report({ state: 'denied' });
      return;
    }
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries < HLS_TIMING.maxMediaRecoveries) {
      recoveries++;
      h.recoverMediaError();
      return;
    }
    const notLive = code === 404 && data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
    again(notLive ? 'not-live' : 'reconnecting', data.details);
  };

  const startHlsJs = async () => {
    let Hls: typeof HlsType;
    try {
      Hls = (await import('hls.js')).default;
    } catch {
      if (!stopped) again('reconnecting', 'the player could not be loaded');
      return;
    }
    if (stopped) return;
    if (!Hls.isSupported()) {
      report({ state: 'failed', reason: 'This browser cannot play the broadcast.' });
      return;
    }
    const h = new Hls({ liveSyncDurationCount: 3, enableWorker: true });
    hls = h;
    h.on(Hls.Events.MANIFEST_PARSED, () => {
      if (h !== hls) return;
      tellLevels();
      play();
    });
    h.on(Hls.Events.LEVEL_SWITCHED, () => {
      if (h === hls) tellLevels();
    });
    h.on(Hls.Events.ERROR, (_e, data) => onError(h, Hls, data));
    h.attachMedia(video);
    h.loadSource(url);
  };

  const startNative = async () => {
    // Probe first, so a 404 means "not live yet" rather than a media error.
    let res: Response;
    try {
      res = await fetch(url, { cache: 'no-store' });
    } catch {
      again('reconnecting', 'the server cannot be reached');
      return;
    }
    if (stopped) return;
    if (res.status === 404) return again('not-live');
    if (res.status === 401 || res.status === 403) return report({ state: 'denied' });
    if (!res.ok) return again('reconnecting', `HTTP ${res.status}`);
    video.src = url;
    play();
  };

  const start = async () => {
    if (stopped) return;
    if (retry) clearTimeout(retry);
    retry = null;
    report({ state: 'loading' });
    if (engine === 'hls.js') await startHlsJs();
    else await startNative();
  };

  const onPlaying = () => report({ state: 'playing' });
  const onNativeError = () => {
    if (engine === 'native' && !stopped) again('reconnecting', 'the broadcast stopped');
  };
  video.addEventListener('playing', onPlaying);
  video.addEventListener('error', onNativeError);
  void start();

  return {
    engine,
    levels,
    setLevel(index: number) {
      if (!hls) return;
      hls.currentLevel = index; // -1: back to automatic
      tellLevels();
    },
    reconnectNow() {
      // Only while waiting to retry: a playing broadcast is left alone.
      if (!stopped && retry) {
        teardown();
        void start();
      }
    },
    stop() {
      if (stopped) return;
      teardown();
      stopped = true;
      video.removeEventListener('playing', onPlaying);
      video.removeEventListener('error', onNativeError);
      options.onStatus({ state: 'stopped' });
    },
  };
}
