// WebRTC (WHEP): a recvonly offer POSTed to /whep/<session>, and what the
// answer's status means. 503 (the interactive seats are taken) and refused
// offers (403, 4xx) fall back to HLS; 409 (not live yet) waits and offers
// again; after a failed/closed connection or a stream that went silent it
// DELETEs its resource, polls the session until it is live again and offers
// anew.
import { messageOf } from '../../lib/api';
import { withToken } from '../../lib/hls';
import { iceGatheringDone, trickleFragment } from '../../lib/ice';
import { iceServersFrom } from '../../lib/links';
import { hlsPointer, retryAfterMs } from '../../lib/whep';
import { start, stopHls } from './hlsPlayback';
import {
  authHeaders,
  defaultMasterUrl,
  fail,
  isWebRtcMode,
  page,
  session,
  setNotice,
  setState,
  setStatus,
  token,
  tryPlay,
  ui,
} from './page';
import { clearLevelSelector } from './quality';
import { fetchSession, type SessionJson } from './session';

const ICE_GATHER_MAX_MS = 2000; // non-trickle offer: POST once gathering completed, or after this
const WHEP_TIMEOUT_MS = 15000; // the POST
const LIVE_POLL_MS = 2000; // GET /api/sessions/<id> while waiting to be live again
const FIRST_MEDIA_MS = 10000; // after the answer: nothing at all arrived -> start over
const SILENT_MS = 3000; // video muted, or neither video frames nor audio bytes advancing
const HEALTH_MS = 1000;
const FULL_NOTICE = 'Class is full for interactive viewing; watching the broadcast (a few seconds behind)';
const ENDED_NOTICE = 'The class has ended; playing the broadcast.';

const whepUrl = `/whep/${encodeURIComponent(session)}`;

/** What the test hook shows of the WHEP side. */
export interface WhepInfo {
  /** The current resource (Location), absolute. */
  location: string | null;
  offers: number;
  reconnects: number;
  /** The status of the last answered POST. */
  lastStatus: number | null;
  lastReason: string | null;
  /** The HLS playlist fallen back to, until the Mode selector changes. */
  fallback: string | null;
}

export const whep: WhepInfo = {
  location: null,
  offers: 0,
  reconnects: 0,
  lastStatus: null,
  lastReason: null,
  fallback: null,
};

/** Inbound figures of one kind of media. */
export interface InboundSummary {
  bytesReceived: number;
  packetsReceived: number;
  packetsLost: number;
  codec: string | null;
  framesDecoded?: number;
  framesPerSecond?: number;
  frameWidth?: number;
  frameHeight?: number;
}

export interface WebRtcStats {
  connection: RTCPeerConnectionState;
  video: InboundSummary | null;
  audio: InboundSummary | null;
}

/** One offer/answer exchange and the connection it made. */
interface Attempt {
  pc: RTCPeerConnection;
  stream: MediaStream;
  location: string | null;
  etag: string | null;
  answeredAt: number;
  health: ReturnType<typeof setInterval> | null;
  lastFrames: number;
  lastAudioBytes: number;
  lastProgressAt: number;
  gotMedia: boolean;
  videoMutedSince: number | null;
  videoWasLive: boolean;
  lateCandidates: (RTCIceCandidate | null)[];
  posted: boolean;
  offerComplete: boolean;
}

let rtc: Attempt | null = null; // the current attempt (see connectWebRtc), or null
let rtcTimer: ReturnType<typeof setTimeout> | null = null; // a pending re-offer / live poll
let rtcGeneration = 0; // bumped by every (re)start and teardown: stale async work stops
let iceServers: RTCIceServer[] = []; // learned from a 201's Link: rel="ice-server" headers

/** The current connection, or null. */
export function currentPc(): RTCPeerConnection | null {
  return rtc?.pc ?? null;
}

/** The session's HLS master playlist from a 503 (with our token), or null. */
function hlsFallbackUrl(body: unknown, linkHeader: string | null): string | null {
  const url = hlsPointer(body, linkHeader);
  if (!url) return null;
  try {
    return withToken(url, token);
  } catch {
    return null;
  }
}

/** DELETE a WHEP resource; errors are of no interest (it may be gone already). */
function deleteResource(url: string | null): void {
  if (!url) return;
  fetch(url, { method: 'DELETE', headers: authHeaders(), keepalive: true }).catch(() => undefined);
}

/** Leaving the page: free the interactive seat at once. */
export function leave(): void {
  if (rtc?.location) deleteResource(rtc.location);
}

/** Ends the current WebRTC attempt (if any): pc closed, resource DELETEd, timers off. */
export function stopWebRtc(): void {
  rtcGeneration++;
  if (rtcTimer !== null) clearTimeout(rtcTimer);
  rtcTimer = null;
  const r = rtc;
  rtc = null;
  if (!r) return;
  if (r.health !== null) clearInterval(r.health);
  r.pc.close();
  deleteResource(r.location);
  whep.location = null;
  if (ui.video.srcObject === r.stream) ui.video.srcObject = null;
}

export function startWebRtc(): void {
  if (page.halted) return;
  stopHls();
  stopWebRtc();
  page.mode = 'webrtc';
  page.isVod = false;
  clearLevelSelector();
  ui.speed.disabled = true; // a live stream plays at 1x
  ui.video.playbackRate = ui.video.defaultPlaybackRate = 1;
  void connectWebRtc();
}

/** One offer/answer exchange; reschedules itself on 409 and on network errors. */
async function connectWebRtc(): Promise<void> {
  if (page.halted || !isWebRtcMode()) return;
  stopWebRtc();
  const gen = rtcGeneration;
  const stale = () => gen !== rtcGeneration || page.halted;
  const audioOnly = page.viewMode === 'audio';
  setState('waiting', `connecting (${audioOnly ? 'audio only' : 'interactive'})…`);

  const pc = new RTCPeerConnection({ iceServers });
  const stream = new MediaStream();
  const r: Attempt = {
    pc,
    stream,
    location: null,
    etag: null,
    answeredAt: 0,
    health: null,
    lastFrames: 0,
    lastAudioBytes: 0,
    lastProgressAt: 0,
    gotMedia: false,
    videoMutedSince: null,
    videoWasLive: false,
    lateCandidates: [],
    posted: false,
    offerComplete: false,
  };
  rtc = r;
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addEventListener('track', (e) => {
    if (rtc !== r) return;
    const track = e.track;
    stream.addTrack(track);
    if (ui.video.srcObject !== stream) ui.video.srcObject = stream;
    tryPlay();
    if (track.kind === 'video') {
      const onMute = () => {
        r.videoMutedSince = track.muted ? (r.videoMutedSince ?? performance.now()) : null;
      };
      track.addEventListener('mute', onMute);
      track.addEventListener('unmute', () => {
        r.videoWasLive = true;
        onMute();
      });
      if (!track.muted) r.videoWasLive = true;
    }
  });
  pc.addEventListener('connectionstatechange', () => {
    if (rtc !== r) return;
    const s = pc.connectionState;
    if (s === 'failed' || s === 'closed') reconnect(`connection ${s}`);
  });
  pc.addEventListener('icecandidate', (e) => {
    // Only what the offer lacked: gathering was cut short by ICE_GATHER_MAX_MS.
    if (rtc !== r || !r.posted || r.offerComplete) return;
    r.lateCandidates.push(e.candidate); // null: end of candidates
    if (r.location) trickle(r);
  });

  let res: Response;
  let answer: string | null;
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringDone(pc, ICE_GATHER_MAX_MS);
    if (stale()) return;
    const url = audioOnly ? `${whepUrl}?audio_only=1` : whepUrl;
    whep.offers++;
    r.posted = true;
    r.offerComplete = pc.iceGatheringState === 'complete';
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), WHEP_TIMEOUT_MS);
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { ...authHeaders(), 'Content-Type': 'application/sdp' },
        body: pc.localDescription?.sdp ?? '',
        signal: ctl.signal,
      });
      answer = res.status === 201 ? await res.text() : null;
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    if (stale()) return;
    const aborted = (e as { name?: unknown } | null)?.name === 'AbortError';
    return retryWebRtc(`could not reach the server (${aborted ? 'timeout' : messageOf(e)})`, 3000);
  }
  if (stale()) {
    // Switched away while the POST was in flight: do not leave the resource behind.
    const loc = res.status === 201 ? res.headers.get('Location') : null;
    if (loc) deleteResource(new URL(loc, location.href).href);
    return;
  }
  whep.lastStatus = res.status;

  if (res.status === 201) {
    const loc = res.headers.get('Location');
    r.location = whep.location = loc ? new URL(loc, location.href).href : null;
    r.etag = res.headers.get('ETag');
    const servers = iceServersFrom(res.headers.get('Link'));
    if (servers.length) iceServers = servers; // for the next offers (this one is out already)
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: answer ?? '' });
    } catch (e) {
      if (stale()) return;
      return reconnect(`bad answer: ${messageOf(e)}`);
    }
    if (stale()) return;
    r.answeredAt = r.lastProgressAt = performance.now();
    r.health = setInterval(() => void checkHealth(r), HEALTH_MS);
    if (r.lateCandidates.length) trickle(r);
    setStatus(`connected; waiting for ${audioOnly ? 'audio' : 'video'}…`);
    return;
  }

  let body: unknown = null;
  const text = await res.text().catch(() => '');
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  if (stale()) return;
  const error = (body as { error?: unknown } | null)?.error;
  const why = error ? `: ${typeof error === 'string' ? error : JSON.stringify(error)}` : '';
  switch (res.status) {
    case 503: {
      const pointer = hlsFallbackUrl(body, res.headers.get('Link'));
      if (pointer) return fallBackToHls(pointer, FULL_NOTICE);
      return retryWebRtc(`the server is busy (HTTP 503${why})`, retryAfterMs(res.headers.get('Retry-After')));
    }
    case 409:
      retryWebRtc('waiting for the instructor', retryAfterMs(res.headers.get('Retry-After')));
      return fallBackIfEnded();
    case 401:
      return fail(`not allowed to watch ${session} (HTTP ${res.status}${why})`);
    case 404:
      return fail(`no such session: ${session}${why}`);
    case 403: // e.g. a guest in a class whose interactive seats are for students
      whep.lastReason = `HTTP 403${why}`;
      return fallBackToHls(
        defaultMasterUrl,
        'Interactive viewing is not open to you in this class; watching the broadcast (a few seconds behind)',
      );
    default:
      if (res.status >= 500) return retryWebRtc(`server error (HTTP ${res.status}${why})`, 5000);
      // 400/413/415/422: this browser's offer was not accepted; HLS still works.
      return fallBackToHls(
        defaultMasterUrl,
        `Interactive viewing failed (HTTP ${res.status}${why}); watching the broadcast (a few seconds behind)`,
      );
  }
}

/** After a 409: an ended session will not go live again; play its broadcast instead. */
async function fallBackIfEnded(): Promise<void> {
  const gen = rtcGeneration;
  try {
    const res = await fetchSession();
    const s = res.ok ? ((await res.json()) as SessionJson | null) : null;
    if (gen === rtcGeneration && !page.halted && s?.state === 'ended') fallBackToHls(defaultMasterUrl, ENDED_NOTICE);
  } catch {
    // the next attempt will tell
  }
}

/** Later offer from scratch, after `ms`, showing `reason` meanwhile. */
function retryWebRtc(reason: string, ms: number): void {
  stopWebRtc();
  whep.lastReason = reason;
  setState('waiting', `${reason}; trying again in ${Math.round(ms / 1000)} s…`);
  rtcTimer = setTimeout(() => void connectWebRtc(), ms);
}

/** The stream ended or broke: DELETE, poll the session until it is live, offer again. */
function reconnect(reason: string): void {
  if (page.halted || !isWebRtcMode()) return;
  stopWebRtc();
  whep.reconnects++;
  whep.lastReason = reason;
  ui.video.srcObject = null;
  setState('waiting', `${reason}; waiting for the class to be live again…`);
  const gen = rtcGeneration;
  const poll = async (): Promise<void> => {
    if (gen !== rtcGeneration || page.halted) return;
    let s: SessionJson | null = null;
    try {
      const res = await fetchSession();
      if (res.status === 404) return fail(`no such session: ${session}`);
      if (res.status === 401 || res.status === 403) return fail(`not allowed to watch ${session} (HTTP ${res.status})`);
      if (res.ok) s = (await res.json()) as SessionJson | null;
    } catch {
      // the server is away: keep polling
    }
    if (gen !== rtcGeneration || page.halted) return;
    if (s?.live) return connectWebRtc();
    if (s?.state === 'ended') return fallBackToHls(defaultMasterUrl, ENDED_NOTICE);
    setStatus(s ? `${reason}; waiting for the instructor (session ${s.state})…` : `${reason}; waiting for the server…`);
    rtcTimer = setTimeout(() => void poll(), LIVE_POLL_MS);
  };
  void poll();
}

/** 1 s health check: start over when nothing arrives, or the stream went silent. */
async function checkHealth(r: Attempt): Promise<void> {
  if (rtc !== r) return;
  const now = performance.now();
  const st = await webrtcStats().catch(() => null);
  if (rtc !== r || !st) return;
  // Progress: new video frames or new audio bytes (audio only, or a publish without video).
  const frames = st.video?.framesDecoded ?? 0;
  const bytes = st.audio?.bytesReceived ?? 0;
  if (frames > r.lastFrames || bytes > r.lastAudioBytes) r.lastProgressAt = now;
  r.lastFrames = frames;
  r.lastAudioBytes = bytes;
  if (!r.gotMedia && (frames > 0 || bytes > 0)) r.gotMedia = true;
  if (!r.gotMedia) {
    if (now - r.answeredAt > FIRST_MEDIA_MS) reconnect('no media arrived');
    return;
  }
  if (now - r.lastProgressAt > SILENT_MS) return reconnect('the stream stopped');
  if (page.viewMode !== 'audio' && r.videoWasLive && r.videoMutedSince !== null && now - r.videoMutedSince > SILENT_MS) {
    return reconnect('the video stopped');
  }
}

/** Late ICE candidates (after the POST) to the resource: PATCH application/trickle-ice-sdpfrag. */
function trickle(r: Attempt): void {
  const cands = r.lateCandidates.splice(0);
  if (!cands.length || !r.location) return;
  const body = trickleFragment(r.pc.localDescription?.sdp ?? '', cands);
  if (!body) return;
  const headers: Record<string, string> = { ...authHeaders(), 'Content-Type': 'application/trickle-ice-sdpfrag' };
  if (r.etag) headers['If-Match'] = r.etag;
  fetch(r.location, { method: 'PATCH', headers, body }).catch(() => undefined);
}

/** Over to the existing HLS path with the server's pointer (503) or the default playlist. */
function fallBackToHls(url: string, notice: string): void {
  stopWebRtc();
  whep.fallback = url;
  page.masterUrl = url;
  setNotice(notice);
  // Picking Interactive again offers anew; the URL's mode= is left as it was.
  page.viewMode = 'hls';
  ui.mode.value = 'hls';
  ui.video.srcObject = null;
  setState('waiting', 'loading the broadcast…');
  start();
}

/** Inbound video/audio figures of the current connection (the health check, tests, people). */
export async function webrtcStats(): Promise<WebRtcStats | null> {
  const pc = rtc?.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const out: WebRtcStats = { connection: pc.connectionState, video: null, audio: null };
  report.forEach((s: RTCInboundRtpStreamStats) => {
    if (s.type !== 'inbound-rtp' || (s.kind !== 'video' && s.kind !== 'audio')) return;
    const kind = s.kind;
    const seen = out[kind];
    if (seen && seen.bytesReceived >= (s.bytesReceived ?? 0)) return;
    out[kind] = {
      bytesReceived: s.bytesReceived ?? 0,
      packetsReceived: s.packetsReceived ?? 0,
      packetsLost: s.packetsLost ?? 0,
      codec: s.codecId ? ((report.get(s.codecId) as { mimeType?: string } | undefined)?.mimeType ?? null) : null,
      ...(kind === 'video'
        ? {
            framesDecoded: s.framesDecoded ?? 0,
            framesPerSecond: s.framesPerSecond ?? 0,
            frameWidth: s.frameWidth ?? 0,
            frameHeight: s.frameHeight ?? 0,
          }
        : {}),
    };
  });
  return out;
}
