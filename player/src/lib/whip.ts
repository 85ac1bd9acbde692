// Publishing a MediaStream over WHIP (RFC 9725): the studio's Go live and a
// student's stage publish. Framework-free; state changes come as callbacks.
//
// One publish: gather ICE (no trickle: the server takes the candidates in
// the offer), POST the offer with the bearer token, 201 + Location + answer,
// DELETE on stop. When the connection is lost (ICE failed, or disconnected
// for a while) the publish is redone from scratch with backoff: the server
// refuses ICE restarts, and a new resource is what it expects.

import { errorFrom, wordsFor } from './api';
import { iceGatheringDone } from './ice';
import { iceServersFrom } from './links';

export type PublishState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'failed' | 'stopped';

export interface PublishStatus {
  state: PublishState;
  /** Words for a person when failed or reconnecting ("The class has ended.", …). */
  reason?: string;
}

export interface SendStats {
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
}

export interface WhipOptions {
  /** The WHIP endpoint, e.g. `${origin}/whip/${session}` or a stage call's `whip_url`. */
  url: string;
  token: string;
  stream: MediaStream;
  videoCodec?: 'h264' | 'vp8';
  /**
   * Offer an audio m-line (default). `false` for a publish that never has
   * sound (a screen share): the server waits for every track offered before
   * the publish counts as flowing, and an empty audio sender never sends.
   */
  audio?: boolean;
  onStatus?: (status: PublishStatus) => void;
}

export interface WhipPublisher {
  /** The WHIP resource (Location) while live. */
  readonly resourceUrl: string | null;
  /** Swaps the video sent (screen share and back) without renegotiating. */
  replaceVideoTrack(track: MediaStreamTrack | null): Promise<void>;
  /** Swaps the audio sent (another microphone) without renegotiating. */
  replaceAudioTrack(track: MediaStreamTrack | null): Promise<void>;
  stats(): Promise<SendStats>;
  /**
   * Ends the publish (DELETE on the resource) and stops nothing of the stream.
   * `endedByServer`: the server already ended it (a demote): no DELETE, which it would refuse.
   */
  stop(endedByServer?: boolean): Promise<void>;
}

/** How long ICE gathering may take before the offer goes with what it has. */
const ICE_GATHER_MAX_MS = 2000;
/** A `disconnected` connection this long is treated as lost. */
const DISCONNECTED_GRACE_MS = 4000;
/** Until `connected` after the answer; past it the publish is redone. */
const CONNECT_TIMEOUT_MS = 15_000;
/** Attempts that never connected before giving up (the network blocks media). */
const MAX_ATTEMPTS_NEVER_LIVE = 5;
const LOST = 'The connection to the server was lost. Reconnecting…';
const NO_MEDIA_PATH =
  'The video connection to the server could not be made: a firewall or network may be blocking it. Try another network, or ask your school\'s IT.';

/** The wait before reconnect attempt `attempt` (0-based): 1 s doubling to 15 s, ±20 %. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 1000 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Whether a refused POST is worth retrying: the server is busy or
 * unreachable (0, 429, 5xx), or — while reconnecting — our own old publish
 * still holds the session (409 until the server notices it is gone).
 */
export function isTransient(status: number, reconnecting: boolean): boolean {
  if (status === 0 || status === 429 || status >= 500) return true;
  return reconnecting && status === 409;
}

/** Words for a refused publish: the server's, made plain where they are technical. */
export function refusalWords(status: number, serverWords: string): string {
  if (status === 409 && /already has a live publisher|camera is already live|already publish your camera/i.test(serverWords)) {
    return 'This class is already live from somewhere else (another tab, or OBS). Stop that broadcast first, or wait a few seconds if it has just stopped.';
  }
  if (status === 409 && /screen is already shared|already publish your screen/i.test(serverWords)) {
    return 'A screen is already shared in this class (from another tab, or OBS). Stop that share first, or wait a few seconds if it has just stopped.';
  }
  if (status === 409 && /stage is full/i.test(serverWords)) {
    return 'The stage is full: wait until someone leaves it, or ask your instructor.';
  }
  if (status === 409 && /session has ended/i.test(serverWords)) return 'This class has ended.';
  if (status === 401) return wordsFor(401);
  return serverWords || wordsFor(status);
}

/** Publishes at once; reconnects by itself after a network failure. */
export function publish(options: WhipOptions): WhipPublisher {
  return new Publisher(options);
}

class PublishRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class Publisher implements WhipPublisher {
  resourceUrl: string | null = null;
  private pc: RTCPeerConnection | null = null;
  private stopped = false;
  private attempt = 0;
  private everLive = false;
  private state: PublishState = 'idle';
  private video: MediaStreamTrack | null;
  private audio: MediaStreamTrack | null;
  private iceServers: RTCIceServer[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private lostTimer: ReturnType<typeof setTimeout> | undefined;
  private lastBytes: { bytes: number; atMs: number } | null = null;

  constructor(private readonly options: WhipOptions) {
    this.video = options.stream.getVideoTracks()[0] ?? null;
    this.audio = options.stream.getAudioTracks()[0] ?? null;
    void this.connect();
  }

  private report(state: PublishState, reason?: string): void {
    this.state = state;
    this.options.onStatus?.(reason === undefined ? { state } : { state, reason });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const reconnecting = this.attempt > 0;
    if (!reconnecting) this.report('connecting');
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    pc.addEventListener('connectionstatechange', () => this.onConnectionState(pc));
    try {
      // Both kinds always get a sender, so a camera or microphone added later
      // needs no renegotiation (unless the publish is video only).
      if (this.options.audio !== false) {
        pc.addTransceiver(this.audio ?? 'audio', { direction: 'sendonly', streams: [this.options.stream] });
      }
      const video = pc.addTransceiver(this.video ?? 'video', { direction: 'sendonly', streams: [this.options.stream] });
      preferCodec(video, this.options.videoCodec);
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringDone(pc, ICE_GATHER_MAX_MS);
      const offer = pc.localDescription?.sdp ?? '';
      const res = await this.post(offer);
      if (this.stopped || pc !== this.pc) {
        // Stopped while the offer was out: end what the server just made.
        if (res.location) void this.deleteResource(res.location);
        return;
      }
      this.resourceUrl = res.location;
      this.iceServers = res.iceServers.length ? res.iceServers : this.iceServers;
      await pc.setRemoteDescription({ type: 'answer', sdp: res.answer });
      this.armLostTimer(pc, CONNECT_TIMEOUT_MS);
      if (pc.connectionState === 'connected') this.onConnectionState(pc);
    } catch (e) {
      if (this.stopped || pc !== this.pc) return;
      if (e instanceof PublishRefused && !isTransient(e.status, reconnecting)) {
        this.teardown();
        this.report('failed', e.message);
        return;
      }
      this.retry(e instanceof PublishRefused ? `${e.message} Retrying…` : LOST);
    }
  }

  private async post(offer: string): Promise<{ answer: string; location: string | null; iceServers: RTCIceServer[] }> {
    let res: Response;
    try {
      res = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${this.options.token}` },
        body: offer,
      });
    } catch {
      throw new PublishRefused(0, wordsFor(0));
    }
    if (res.status !== 201) {
      const err = await errorFrom(res);
      throw new PublishRefused(res.status, refusalWords(res.status, err.message));
    }
    const loc = res.headers.get('Location');
    return {
      answer: await res.text(),
      location: loc ? new URL(loc, this.options.url).href : null,
      iceServers: iceServersFrom(res.headers.get('Link')),
    };
  }

  private onConnectionState(pc: RTCPeerConnection): void {
    if (pc !== this.pc || this.stopped) return;
    switch (pc.connectionState) {
      case 'connected':
        clearTimeout(this.lostTimer);
        this.attempt = 0;
        this.everLive = true;
        if (this.state !== 'live') this.report('live');
        break;
      case 'disconnected':
        // Often comes back by itself (a Wi-Fi hiccup); give it a moment.
        this.armLostTimer(pc, DISCONNECTED_GRACE_MS);
        break;
      case 'failed':
      case 'closed':
        this.retry(LOST);
        break;
      default:
        break;
    }
  }

  private armLostTimer(pc: RTCPeerConnection, ms: number): void {
    clearTimeout(this.lostTimer);
    this.lostTimer = setTimeout(() => {
      if (pc === this.pc && pc.connectionState !== 'connected') this.retry(LOST);
    }, ms);
  }

  /** Drops the current attempt (and its resource) and publishes again later. */
  private retry(reason = LOST): void {
    if (this.stopped) return;
    const old = this.resourceUrl;
    this.teardown();
    if (old) void this.deleteResource(old);
    if (!this.everLive && this.attempt + 1 >= MAX_ATTEMPTS_NEVER_LIVE) {
      this.report('failed', NO_MEDIA_PATH);
      return;
    }
    const wait = backoffMs(this.attempt);
    this.attempt += 1;
    this.report('reconnecting', reason);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), wait);
  }

  private teardown(): void {
    clearTimeout(this.lostTimer);
    const pc = this.pc;
    this.pc = null;
    this.resourceUrl = null;
    this.lastBytes = null;
    pc?.close();
  }

  private async deleteResource(url: string): Promise<void> {
    try {
      await fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${this.options.token}` } });
    } catch {
      // The server ends a publish whose media stopped by itself.
    }
  }

  private sender(kind: 'audio' | 'video'): RTCRtpSender | null {
    const t = this.pc?.getTransceivers().find((tr) => tr.receiver.track.kind === kind);
    return t?.sender ?? null;
  }

  async replaceVideoTrack(track: MediaStreamTrack | null): Promise<void> {
    this.video = track;
    await this.sender('video')?.replaceTrack(track);
  }

  async replaceAudioTrack(track: MediaStreamTrack | null): Promise<void> {
    this.audio = track;
    await this.sender('audio')?.replaceTrack(track);
  }

  async stats(): Promise<SendStats> {
    const pc = this.pc;
    if (!pc) return {};
    const report = await pc.getStats();
    const out: SendStats = {};
    let bytes = 0;
    report.forEach((s: { type: string; kind?: string } & Record<string, unknown>) => {
      if (s.type !== 'outbound-rtp') return;
      bytes += num(s.bytesSent) ?? 0;
      if (s.kind === 'video') {
        out.width = num(s.frameWidth);
        out.height = num(s.frameHeight);
        out.fps = num(s.framesPerSecond);
      }
    });
    const now = performance.now();
    if (this.lastBytes && now > this.lastBytes.atMs) {
      out.bitrateKbps = Math.max(0, Math.round(((bytes - this.lastBytes.bytes) * 8) / (now - this.lastBytes.atMs)));
    }
    this.lastBytes = { bytes, atMs: now };
    return out;
  }

  async stop(endedByServer = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const resource = this.resourceUrl;
    this.teardown();
    if (resource && !endedByServer) await this.deleteResource(resource);
    this.report('stopped');
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * `caps` reordered for sending `codec` ('h264', 'vp8'): its entries first
 * (H.264: packetization-mode 1, then constrained baseline, first), then the
 * resilience entries (RTX, RED, ULPFEC); null when `caps` has no such codec.
 */
export function codecOrder(caps: readonly RTCRtpCodec[], codec: string): RTCRtpCodec[] | null {
  const want = `video/${codec}`;
  const chosen = caps.filter((c) => c.mimeType.toLowerCase() === want);
  if (!chosen.length) return null;
  const score = (c: RTCRtpCodec) =>
    (/packetization-mode=1/.test(c.sdpFmtpLine ?? '') ? 0 : 2) + (/profile-level-id=42e0/.test(c.sdpFmtpLine ?? '') ? 0 : 1);
  if (codec === 'h264') chosen.sort((a, b) => score(a) - score(b));
  const rest = caps.filter((c) => ['video/rtx', 'video/red', 'video/ulpfec'].includes(c.mimeType.toLowerCase()));
  return [...chosen, ...rest];
}

/** Puts the wanted codec first, where the browser can send it (else the browser picks). */
function preferCodec(transceiver: RTCRtpTransceiver, codec: 'h264' | 'vp8' | undefined): void {
  if (!codec || typeof transceiver.setCodecPreferences !== 'function') return;
  const order = codecOrder(RTCRtpSender.getCapabilities('video')?.codecs ?? [], codec);
  // Without it the browser picks; the server takes H.264 and VP8.
  if (order) transceiver.setCodecPreferences(order);
}
