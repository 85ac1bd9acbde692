// The classroom's video: WebRTC (lib/whep) first, the HLS broadcast
// (lib/hls) when WebRTC cannot be had (class full, refused, failing, or no
// WebRTC in this browser). Framework-free: the page reads `LiveSnapshot`s.
import { playHls, type HlsLevel, type HlsPlayer, type HlsStatus } from '../../lib/hls';
import { watchWhep, webRtcAvailable, type ReceiveStats, type WhepStatus, type WhepViewer } from '../../lib/whep';

export type Tier = 'webrtc' | 'hls';

export type Phase =
  | 'connecting'
  | 'playing'
  | 'not-live' // nobody publishes yet (or any more): retrying by itself
  | 'reconnecting'
  | 'blocked' // the browser wants a click before playing sound
  | 'denied'
  | 'failed'
  | 'stopped';

export interface LiveSnapshot {
  tier: Tier | null;
  phase: Phase;
  /** Why we watch the broadcast rather than live, in words (null on WebRTC). */
  fallback: 'full' | 'refused' | 'failed' | 'unsupported' | null;
  /** Words for denied/failed. */
  reason: string | null;
  /** Ever played: a later not-live means the instructor stopped, not "not started". */
  everPlayed: boolean;
  audioOnly: boolean;
  /** HLS rungs (best first), the one playing, and whether the choice is automatic. */
  levels: HlsLevel[];
  level: number;
  autoLevel: boolean;
  /** What arrives over WebRTC (its height), for the quality menu's "Auto (720p)". */
  receivedHeight: number;
}

export interface LiveOptions {
  video: HTMLVideoElement;
  whepUrl: string;
  hlsUrl: string;
  token: string;
  /** Carried over from the previous player (the broadcast stopped and came back). */
  audioOnly?: boolean;
  onChange: (snapshot: LiveSnapshot) => void;
}

/** Before anything plays (and while nobody publishes: phase `not-live`). */
export const idleSnapshot: LiveSnapshot = {
  tier: null,
  phase: 'connecting',
  fallback: null,
  reason: null,
  everPlayed: false,
  audioOnly: false,
  levels: [],
  level: -1,
  autoLevel: true,
  receivedHeight: 0,
};

export class LiveVideo {
  private snap: LiveSnapshot;
  private whep: WhepViewer | null = null;
  private hls: HlsPlayer | null = null;
  private hlsUrl: string;
  private manualLevel = -1;
  private sizeTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly opts: LiveOptions) {
    this.snap = { ...idleSnapshot, audioOnly: opts.audioOnly ?? false };
    this.hlsUrl = opts.hlsUrl;
    this.startLive();
  }

  get snapshot(): LiveSnapshot {
    return this.snap;
  }

  private set(patch: Partial<LiveSnapshot>) {
    this.snap = { ...this.snap, ...patch };
    if (patch.phase === 'playing') this.snap.everPlayed = true;
    this.opts.onChange(this.snap);
  }

  /** WebRTC, or straight to the broadcast where the browser has none. */
  startLive(): void {
    this.stopPlayers();
    if (!webRtcAvailable()) {
      this.startBroadcast('unsupported');
      return;
    }
    this.set({ tier: 'webrtc', fallback: null, phase: 'connecting', levels: [], level: -1, autoLevel: true });
    const video = this.opts.video;
    this.whep = watchWhep({
      url: this.opts.whepUrl,
      token: this.opts.token,
      audioOnly: this.snap.audioOnly,
      onStream: (stream) => {
        if (video.srcObject !== stream) video.srcObject = stream;
        if (stream) this.play();
      },
      onStatus: (s) => this.onWhep(s),
    });
    // The received size, for "Auto (720p)": the server adapts WebRTC by itself.
    this.sizeTimer = setInterval(() => {
      const h = this.opts.video.videoHeight;
      if (h !== this.snap.receivedHeight) this.set({ receivedHeight: h });
    }, 1000);
  }

  private onWhep(s: WhepStatus) {
    switch (s.state) {
      case 'connecting':
        this.set({ phase: 'connecting' });
        break;
      case 'playing':
        this.set({ phase: 'playing' });
        break;
      case 'not-live':
        this.set({ phase: 'not-live' });
        break;
      case 'reconnecting':
        this.set({ phase: 'reconnecting' });
        break;
      case 'denied':
        this.set({ phase: 'denied', reason: s.reason ?? null });
        break;
      case 'fallback':
        if (s.hlsUrl) this.hlsUrl = s.hlsUrl;
        this.startBroadcast(s.cause ?? 'failed');
        break;
      case 'stopped':
        break;
    }
  }

  /** The HLS broadcast (why: the fallback's cause). */
  startBroadcast(why: LiveSnapshot['fallback']): void {
    this.stopPlayers();
    this.set({ tier: 'hls', fallback: why, phase: 'connecting', receivedHeight: 0 });
    this.hls = playHls({
      video: this.opts.video,
      url: this.hlsUrl,
      token: this.opts.token,
      onStatus: (s) => this.onHls(s),
      onLevels: (levels, current, auto) => {
        this.set({ levels, level: current, autoLevel: auto });
        // Audio only on HLS: the smallest rung, hidden (there is no audio-only rendition).
        if (this.snap.audioOnly && levels.length && auto) this.applyAudioOnlyLevel();
      },
    });
  }

  private onHls(s: HlsStatus) {
    const phase: Record<HlsStatus['state'], Phase | null> = {
      loading: 'connecting',
      playing: 'playing',
      'not-live': 'not-live',
      reconnecting: 'reconnecting',
      blocked: 'blocked',
      denied: 'denied',
      failed: 'failed',
      stopped: null,
    };
    const p = phase[s.state];
    if (p) this.set({ phase: p, reason: s.reason ?? null });
  }

  private play() {
    this.opts.video.play().catch((e: unknown) => {
      if (e instanceof DOMException && e.name === 'NotAllowedError') this.set({ phase: 'blocked' });
    });
  }

  /** After "Start watching" (autoplay was refused). */
  resume(): void {
    this.opts.video
      .play()
      .then(() => {
        if (this.snap.phase === 'blocked') this.set({ phase: 'playing' });
      })
      .catch(() => undefined);
  }

  setAudioOnly(on: boolean): void {
    if (on === this.snap.audioOnly) return;
    this.set({ audioOnly: on });
    if (this.snap.tier === 'webrtc') {
      // The server sends no video to an audio-only viewer: offer again.
      this.startLive();
    } else if (this.hls) {
      if (on) this.applyAudioOnlyLevel();
      else this.hls.setLevel(this.manualLevel);
    }
  }

  private applyAudioOnlyLevel() {
    const smallest = this.snap.levels[this.snap.levels.length - 1];
    if (this.hls && smallest) this.hls.setLevel(smallest.index);
  }

  /** -1: automatic. Only the broadcast has rungs to pick; WebRTC adapts by itself. */
  setLevel(index: number): void {
    this.manualLevel = index;
    if (this.hls && !this.snap.audioOnly) this.hls.setLevel(index);
  }

  /** A network change or the page coming back: retry now rather than at the next backoff. */
  reconnectNow(): void {
    this.whep?.reconnectNow();
    this.hls?.reconnectNow();
  }

  stats(): Promise<ReceiveStats | null> {
    return this.whep ? this.whep.stats() : Promise.resolve(null);
  }

  private stopPlayers() {
    if (this.sizeTimer) clearInterval(this.sizeTimer);
    this.sizeTimer = null;
    this.whep?.stop();
    this.whep = null;
    this.hls?.stop();
    this.hls = null;
    const video = this.opts.video;
    video.srcObject = null;
  }

  stop(): void {
    this.stopPlayers();
    this.set({ phase: 'stopped' });
  }
}
