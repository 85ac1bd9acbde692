// Watching a session over WebRTC (WHEP: a recvonly offer POSTed to the
// session's whep_url with the bearer token; 201 + Location; DELETE on leave).
// Framework-free: what happens comes as status callbacks. It keeps itself
// connected: after a lost connection, silence or a server that went away it
// offers anew with backoff; "not live yet" (409) waits for Retry-After. The
// outcomes it cannot fix itself (class full, offer refused, no WebRTC) are
// reported as `fallback` with the HLS address to watch instead.

import { iceGatheringDone, trickleFragment } from './ice';
import { hasRel, iceServersFrom, parseLinks } from './links';

export type WhepState =
  | 'connecting' // an offer is on its way
  | 'playing' // media flows
  | 'not-live' // 409: nobody publishes (yet); retrying by itself
  | 'reconnecting' // the connection was lost; retrying by itself
  | 'fallback' // cannot watch over WebRTC: use HLS (`hlsUrl`, `reason`)
  | 'denied' // 401/403/404: this token may not watch this class
  | 'stopped';

export interface WhepStatus {
  state: WhepState;
  /** Why, in words, for fallback, denied and reconnecting. */
  reason?: string;
  /** For `fallback`: why in one word ('full' past the seat cap, 'refused', 'failed'). */
  cause?: 'full' | 'refused' | 'failed' | 'unsupported';
  /** For `fallback` after 503: the server's pointer to the HLS broadcast. */
  hlsUrl?: string;
  /** For not-live/reconnecting: the next attempt is in this many ms. */
  retryInMs?: number;
}

export interface ReceiveStats {
  connection: RTCPeerConnectionState;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  framesPerSecond: number;
  videoBytes: number;
  audioBytes: number;
  packetsLost: number;
}

export interface WhepOptions {
  /** The session's whep_url (GET /api/sessions/{id}). */
  url: string;
  token: string;
  audioOnly?: boolean;
  onStatus: (status: WhepStatus) => void;
  /** The stream to show; a new one after every re-offer. */
  onStream: (stream: MediaStream | null) => void;
}

export interface WhepViewer {
  /** The WHEP resource while connected. */
  readonly resourceUrl: string | null;
  stats(): Promise<ReceiveStats | null>;
  /** Offers again at once (a network change, a server restart). */
  reconnectNow(): void;
  /** Leaves: DELETE on the resource, the connection closed. */
  stop(): void;
}

/** Tunables; tests shorten them. */
export const WHEP_TIMING = {
  iceGatherMaxMs: 2000, // a non-trickle offer: POST once gathering completed, or after this
  postTimeoutMs: 15000,
  firstMediaMs: 10000, // after the answer, nothing arrived: start over
  silentMs: 4000, // media stopped advancing: start over
  healthEveryMs: 1000,
  backoffMinMs: 1000,
  backoffMaxMs: 15000,
  retryAfterDefaultS: 3,
  retryAfterMaxS: 30,
  /** Offers in a row that never got media before we give up and use HLS. */
  failuresBeforeFallback: 4,
};

export function webRtcAvailable(): boolean {
  return typeof RTCPeerConnection === 'function';
}

/** The wait a response asks for (Retry-After in seconds or as an HTTP date), capped. */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number {
  let s = Number(header);
  if (header && !Number.isFinite(s)) s = (Date.parse(header) - nowMs) / 1000;
  if (!header || !Number.isFinite(s) || s <= 0) s = WHEP_TIMING.retryAfterDefaultS;
  return Math.min(s, WHEP_TIMING.retryAfterMaxS) * 1000;
}

/** Exponential backoff for attempt `n` (0-based), with a little jitter so a class does not come back in step. */
export function backoffMs(n: number, random = Math.random()): number {
  const base = Math.min(WHEP_TIMING.backoffMaxMs, WHEP_TIMING.backoffMinMs * 2 ** Math.min(n, 10));
  return Math.round(base * (0.8 + 0.4 * random));
}

/** The HLS broadcast a 503 points to: the body's `hls`, else `Link: rel="alternate"`. */
export function hlsPointer(body: unknown, linkHeader: string | null): string | null {
  const fromBody = (body as { hls?: unknown } | null)?.hls;
  if (typeof fromBody === 'string' && fromBody) return fromBody;
  return parseLinks(linkHeader).find((l) => hasRel(l, 'alternate'))?.url ?? null;
}

async function readStats(pc: RTCPeerConnection): Promise<ReceiveStats> {
  const report = await pc.getStats();
  const out: ReceiveStats = {
    connection: pc.connectionState,
    framesDecoded: 0,
    frameWidth: 0,
    frameHeight: 0,
    framesPerSecond: 0,
    videoBytes: 0,
    audioBytes: 0,
    packetsLost: 0,
  };
  report.forEach((s: RTCInboundRtpStreamStats) => {
    if (s.type !== 'inbound-rtp') return;
    out.packetsLost += s.packetsLost ?? 0;
    if (s.kind === 'audio') out.audioBytes += s.bytesReceived ?? 0;
    if (s.kind !== 'video') return;
    out.videoBytes += s.bytesReceived ?? 0;
    out.framesDecoded += s.framesDecoded ?? 0;
    out.frameWidth = Math.max(out.frameWidth, s.frameWidth ?? 0);
    out.frameHeight = Math.max(out.frameHeight, s.frameHeight ?? 0);
    out.framesPerSecond = Math.max(out.framesPerSecond, s.framesPerSecond ?? 0);
  });
  return out;
}

/** One offer/answer exchange and the connection it made. */
interface Attempt {
  pc: RTCPeerConnection;
  stream: MediaStream;
  location: string | null;
  etag: string | null;
  lateCandidates: (RTCIceCandidate | null)[];
  posted: boolean;
  offerComplete: boolean;
  answeredAt: number;
  lastProgressAt: number;
  lastFrames: number;
  lastAudioBytes: number;
  gotMedia: boolean;
  health: ReturnType<typeof setInterval> | null;
}

/** Starts watching at once. */
export function watchWhep(options: WhepOptions): WhepViewer {
  const auth = { Authorization: `Bearer ${options.token}` };
  let attempt: Attempt | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let generation = 0; // bumped by every (re)start and stop: stale async work ends
  let stopped = false;
  let failures = 0; // answered offers in a row that never brought media (→ HLS)
  let retries = 0; // attempts in a row without media, whatever failed (→ backoff)
  let iceServers: RTCIceServer[] = [];
  let last: WhepState | null = null;

  const report = (status: WhepStatus) => {
    if (stopped && status.state !== 'stopped') return;
    last = status.state;
    options.onStatus(status);
  };

  const remove = (url: string | null) => {
    if (url) fetch(url, { method: 'DELETE', headers: auth, keepalive: true }).catch(() => undefined);
  };

  /** Ends the current attempt: connection closed, resource deleted. */
  const drop = () => {
    generation++;
    if (timer) clearTimeout(timer);
    timer = null;
    const a = attempt;
    attempt = null;
    if (!a) return;
    if (a.health) clearInterval(a.health);
    a.pc.close();
    remove(a.location);
    options.onStream(null);
  };

  const later = (ms: number, state: 'not-live' | 'reconnecting', reason: string) => {
    drop();
    report({ state, reason, retryInMs: ms });
    timer = setTimeout(() => void offer(), ms);
  };

  /** The connection broke or went silent: offer again after a backoff, or give up for HLS. */
  const lost = (reason: string) => {
    if (stopped) return;
    const hadMedia = attempt?.gotMedia ?? false;
    failures = hadMedia ? 0 : failures + 1;
    retries = hadMedia ? 0 : retries + 1;
    if (failures >= WHEP_TIMING.failuresBeforeFallback) {
      drop();
      report({ state: 'fallback', cause: 'failed', reason: `The live connection keeps failing (${reason}).` });
      return;
    }
    later(backoffMs(retries), 'reconnecting', reason);
  };

  const trickle = (a: Attempt) => {
    const candidates = a.lateCandidates.splice(0);
    if (!candidates.length || !a.location) return;
    const body = trickleFragment(a.pc.localDescription?.sdp ?? '', candidates);
    if (!body) return;
    const headers: Record<string, string> = { ...auth, 'Content-Type': 'application/trickle-ice-sdpfrag' };
    if (a.etag) headers['If-Match'] = a.etag;
    fetch(a.location, { method: 'PATCH', headers, body }).catch(() => undefined);
  };

  const checkHealth = async (a: Attempt) => {
    if (attempt !== a) return;
    const st = await readStats(a.pc).catch(() => null);
    if (attempt !== a || !st) return;
    const now = performance.now();
    // Progress: new frames, or new audio bytes (audio only, or a publish without video).
    if (st.framesDecoded > a.lastFrames || st.audioBytes > a.lastAudioBytes) a.lastProgressAt = now;
    a.lastFrames = st.framesDecoded;
    a.lastAudioBytes = st.audioBytes;
    if (!a.gotMedia && (st.framesDecoded > 0 || st.audioBytes > 0)) {
      a.gotMedia = true;
      failures = retries = 0;
      report({ state: 'playing' });
    }
    if (!a.gotMedia) {
      if (now - a.answeredAt > WHEP_TIMING.firstMediaMs) lost('no picture or sound arrived');
      return;
    }
    if (now - a.lastProgressAt > WHEP_TIMING.silentMs) lost('the stream stopped');
  };

  const offer = async () => {
    if (stopped) return;
    drop();
    const gen = generation;
    const stale = () => gen !== generation || stopped;
    // While waiting (not live, reconnecting) the page keeps saying so; no flicker per attempt.
    if (last !== 'not-live' && last !== 'reconnecting') report({ state: 'connecting' });

    const pc = new RTCPeerConnection({ iceServers });
    const stream = new MediaStream();
    const a: Attempt = {
      pc,
      stream,
      location: null,
      etag: null,
      lateCandidates: [],
      posted: false,
      offerComplete: false,
      answeredAt: 0,
      lastProgressAt: 0,
      lastFrames: 0,
      lastAudioBytes: 0,
      gotMedia: false,
      health: null,
    };
    attempt = a;
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addEventListener('track', (e) => {
      if (attempt !== a) return;
      stream.addTrack(e.track);
      options.onStream(stream);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (attempt !== a) return;
      const s = pc.connectionState;
      if (s === 'failed' || s === 'closed') lost(`the connection ${s}`);
    });
    pc.addEventListener('icecandidate', (e) => {
      // Only what the offer lacked: gathering was cut short.
      if (attempt !== a || !a.posted || a.offerComplete) return;
      a.lateCandidates.push(e.candidate);
      if (a.location) trickle(a);
    });

    let res: Response;
    let answer: string | null = null;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringDone(pc, WHEP_TIMING.iceGatherMaxMs);
      if (stale()) return;
      const target = new URL(options.url, location.href);
      if (options.audioOnly) target.searchParams.set('audio_only', '1');
      a.posted = true;
      a.offerComplete = pc.iceGatheringState === 'complete';
      const ctl = new AbortController();
      const abort = setTimeout(() => ctl.abort(), WHEP_TIMING.postTimeoutMs);
      try {
        res = await fetch(target.href, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/sdp' },
          body: pc.localDescription?.sdp ?? '',
          signal: ctl.signal,
        });
        if (res.status === 201) answer = await res.text();
      } finally {
        clearTimeout(abort);
      }
    } catch {
      if (stale()) return;
      later(backoffMs(retries++), 'reconnecting', 'the server cannot be reached');
      return;
    }
    const locationHeader = res.headers.get('Location');
    if (stale()) {
      // Stopped while the POST was in flight: do not leave the seat taken.
      if (res.status === 201 && locationHeader) remove(new URL(locationHeader, location.href).href);
      return;
    }

    if (res.status === 201 && answer !== null) {
      a.location = locationHeader ? new URL(locationHeader, location.href).href : null;
      a.etag = res.headers.get('ETag');
      const servers = iceServersFrom(res.headers.get('Link'));
      if (servers.length) iceServers = servers; // for the next offers
      try {
        await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      } catch {
        if (stale()) return;
        report({ state: 'fallback', cause: 'refused', reason: 'This browser could not use the live connection.' });
        drop();
        return;
      }
      if (stale()) return;
      a.answeredAt = a.lastProgressAt = performance.now();
      a.health = setInterval(() => void checkHealth(a), WHEP_TIMING.healthEveryMs);
      if (a.lateCandidates.length) trickle(a);
      return;
    }

    let body: { error?: unknown } | null = null;
    try {
      body = (await res.json()) as { error?: unknown };
    } catch {
      // Not JSON.
    }
    if (stale()) return;
    const words = typeof body?.error === 'string' && body.error !== 'internal error' ? body.error : '';
    switch (res.status) {
      case 503: {
        const hls = hlsPointer(body, res.headers.get('Link'));
        if (hls) {
          drop();
          report({ state: 'fallback', cause: 'full', hlsUrl: hls, reason: words });
          return;
        }
        later(retryAfterMs(res.headers.get('Retry-After')), 'reconnecting', 'the server is busy');
        return;
      }
      case 409:
        // Not live yet, or media not flowing yet: the instructor is coming.
        failures = retries = 0;
        later(retryAfterMs(res.headers.get('Retry-After')), 'not-live', words);
        return;
      case 401:
      case 404:
        drop();
        report({ state: 'denied', reason: words });
        return;
      case 429:
        later(retryAfterMs(res.headers.get('Retry-After')), 'reconnecting', 'too many attempts');
        return;
      default:
        if (res.status >= 500) {
          later(backoffMs(retries++), 'reconnecting', 'the server had a problem');
          return;
        }
        // 403 (e.g. guests watch over HLS) and 4xx offers the server cannot take: HLS still works.
        drop();
        report({ state: 'fallback', cause: 'refused', reason: words });
    }
  };

  const onPageHide = () => remove(attempt?.location ?? null);
  window.addEventListener('pagehide', onPageHide);

  if (webRtcAvailable()) {
    void offer();
  } else {
    // Reported after the caller has its handle.
    queueMicrotask(() => report({ state: 'fallback', cause: 'unsupported', reason: 'This browser has no WebRTC.' }));
  }

  return {
    get resourceUrl() {
      return attempt?.location ?? null;
    },
    stats: () => (attempt ? readStats(attempt.pc) : Promise.resolve(null)),
    reconnectNow() {
      if (stopped || !webRtcAvailable()) return;
      // Connected and playing, or an offer on its way: nothing to hurry.
      if (last === 'connecting' || (last === 'playing' && attempt?.pc.connectionState === 'connected')) return;
      failures = retries = 0;
      void offer();
    },
    stop() {
      if (stopped) return;
      drop();
      stopped = true;
      window.removeEventListener('pagehide', onPageHide);
      options.onStatus({ state: 'stopped' });
    },
  };
}
