// window.classcast: what tests/browser/watch.mjs (and lib.mjs) read of the
// player, and people debugging it from the console.
import type Hls from 'hls.js';
import type { HlsLevel } from '../../lib/hls';
import { page, ui, type PlaybackMode, type WatchState } from './page';
import type { ViewMode } from './params';
import { levels } from './quality';
import { currentPc, webrtcStats, whep, type WebRtcStats, type WhepInfo } from './webrtc';

export interface WatchHook {
  /** The current Hls instance, or null (native HLS, WebRTC, between retries). */
  readonly hls: Hls | null;
  readonly video: HTMLVideoElement;
  readonly state: WatchState;
  readonly lastError: string | null;
  /** Fatal errors seen, e.g. "networkError/manifestLoadError (HTTP 404)". */
  readonly errors: string[];
  /** What plays now. */
  readonly mode: PlaybackMode | null;
  /** [{index, width, height, bitrate}] in hls.js order (ascending bitrate); [] for native HLS. */
  levels(): HlsLevel[];
  /** The selected mode. */
  readonly viewMode: ViewMode;
  readonly pc: RTCPeerConnection | null;
  readonly whep: WhepInfo;
  /** The text of the notice above the controls, or null. */
  readonly notice: string | null;
  webrtcStats(): Promise<WebRtcStats | null>;
}

declare global {
  /** The test hook of each page that has one (window.classcast). */
  interface ClasscastHooks {
    watch: WatchHook;
  }
  interface Window {
    classcast?: ClasscastHooks[keyof ClasscastHooks];
  }
}

export function installHook(): void {
  window.classcast = {
    get hls() {
      return page.hls;
    },
    video: ui.video,
    get state() {
      return page.state;
    },
    get lastError() {
      return page.lastError;
    },
    get errors() {
      return page.errors;
    },
    get mode() {
      return page.mode;
    },
    levels,
    get viewMode() {
      return page.viewMode;
    },
    get pc() {
      return currentPc();
    },
    whep,
    get notice() {
      return page.notice;
    },
    webrtcStats,
  } satisfies WatchHook;
}
