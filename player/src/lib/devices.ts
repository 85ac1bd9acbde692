// Cameras, microphones and the screen: choosing them, opening them, a level
// meter for the microphone, and what went wrong in words a teacher
// understands. Framework-free.

export type Resolution = '360p' | '720p' | '1080p';

export const RESOLUTIONS: Record<Resolution, { width: number; height: number }> = {
  '360p': { width: 640, height: 360 },
  '720p': { width: 1280, height: 720 },
  '1080p': { width: 1920, height: 1080 },
};

export interface DeviceChoice {
  /** `''` = the browser's default. */
  cameraId: string;
  micId: string;
  resolution: Resolution;
}

export interface DeviceOption {
  id: string;
  label: string;
}

export interface DeviceList {
  cameras: DeviceOption[];
  mics: DeviceOption[];
}

/** The cameras and microphones (names appear once the browser has permission). */
export async function listDevices(): Promise<DeviceList> {
  const all = await navigator.mediaDevices.enumerateDevices();
  const named = (kind: MediaDeviceKind, noun: string) =>
    all
      .filter((d) => d.kind === kind && d.deviceId !== '')
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${noun} ${i + 1}` }));
  return { cameras: named('videoinput', 'Camera'), mics: named('audioinput', 'Microphone') };
}

export function videoConstraints(choice: DeviceChoice): MediaTrackConstraints {
  const { width, height } = RESOLUTIONS[choice.resolution];
  return {
    ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}),
    width: { ideal: width },
    height: { ideal: height },
    frameRate: { ideal: 30 },
  };
}

export function audioConstraints(choice: DeviceChoice): MediaTrackConstraints {
  return {
    ...(choice.micId ? { deviceId: { exact: choice.micId } } : {}),
    echoCancellation: true,
    noiseSuppression: true,
  };
}

/** What opening the devices gave: the stream, and words for what is missing. */
export interface OpenedMedia {
  stream: MediaStream;
  /** Why the camera or microphone is missing, when one is ("No camera was found…"). */
  problem: string | null;
}

/**
 * Opens the chosen camera and microphone. Without a camera the class goes on
 * audio only (and the other way round); only when neither opens does it throw
 * a `MediaProblem` with words.
 */
export async function openMedia(choice: DeviceChoice): Promise<OpenedMedia> {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video: videoConstraints(choice), audio: audioConstraints(choice) }), problem: null };
  } catch (both) {
    // Denied is denied for both: asking again one by one only repeats it.
    if (errorName(both) === 'NotAllowedError' || errorName(both) === 'SecurityError') throw new MediaProblem(mediaErrorWords(both, 'both'));
    const audio = await tryOpen({ audio: audioConstraints(choice) });
    if (audio.stream) return { stream: audio.stream, problem: mediaErrorWords(both, 'camera') };
    const video = await tryOpen({ video: videoConstraints(choice) });
    if (video.stream) return { stream: video.stream, problem: mediaErrorWords(audio.error, 'microphone') };
    throw new MediaProblem(mediaErrorWords(both, 'both'));
  }
}

/** A camera or microphone alone (switching devices while live). */
export async function openTrack(kind: 'camera' | 'microphone', choice: DeviceChoice): Promise<MediaStreamTrack> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia(
      kind === 'camera' ? { video: videoConstraints(choice) } : { audio: audioConstraints(choice) },
    );
    const track = stream.getTracks()[0];
    if (!track) throw new MediaProblem(mediaErrorWords(null, kind));
    return track;
  } catch (e) {
    throw e instanceof MediaProblem ? e : new MediaProblem(mediaErrorWords(e, kind));
  }
}

/**
 * The screen (or a window or tab) the person picks. A refusal (the picker
 * cancelled, or the system not allowing the browser to record the screen)
 * throws a `MediaProblem` with words, as does any other failure.
 */
export async function openScreen(): Promise<MediaStreamTrack> {
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (e) {
    throw new MediaProblem(screenErrorWords(e));
  }
  const track = stream.getVideoTracks()[0];
  if (!track) throw new MediaProblem(screenErrorWords(null));
  return track;
}

/** Words for a getDisplayMedia failure. */
export function screenErrorWords(e: unknown): string {
  switch (errorName(e)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Screen sharing was not allowed. If you cancelled, click Share screen again; if your computer refused, allow screen recording for this browser in its privacy settings.';
    case 'NotReadableError':
    case 'AbortError':
      return 'Your screen could not be captured (another program may be holding it). Try again, or share a single window instead.';
    case 'NotSupportedError':
    case 'TypeError':
      return 'This browser cannot share a screen. Use a recent Chrome, Edge, Firefox or Safari on a computer.';
    default:
      return 'Your screen could not be shared. Try again, or share a single window instead.';
  }
}

export class MediaProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaProblem';
  }
}

async function tryOpen(constraints: MediaStreamConstraints): Promise<{ stream: MediaStream | null; error: unknown }> {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia(constraints), error: null };
  } catch (error) {
    return { stream: null, error };
  }
}

function errorName(e: unknown): string {
  return e instanceof Error || e instanceof DOMException ? e.name : '';
}

/** Words for a getUserMedia failure, about the camera, the microphone or both. */
export function mediaErrorWords(e: unknown, what: 'camera' | 'microphone' | 'both'): string {
  const thing = what === 'both' ? 'camera and microphone' : what;
  switch (errorName(e)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `The browser is not allowed to use your ${thing}. Click the camera icon in the address bar (or your browser's site settings), choose Allow, then reload this page.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      if (what === 'camera') return 'No camera was found. You can still go live with audio only.';
      if (what === 'microphone') return 'No microphone was found. Students will see you but not hear you.';
      return 'No camera or microphone was found. Plug one in, then reload this page.';
    case 'NotReadableError':
    case 'AbortError':
      return `Your ${thing} is in use by another program (Zoom, Teams, another tab?). Close it there, then choose the device again.`;
    default:
      return `Your ${thing} could not be started. Check that it is connected, then reload this page.`;
  }
}

/**
 * Calls `onLevel` with the microphone's loudness (0–1) about 15 times a
 * second, from an AudioContext analyser. Returns the function that stops it.
 */
export function startLevelMeter(track: MediaStreamTrack, onLevel: (level: number) => void): () => void {
  const Ctx = window.AudioContext;
  if (!Ctx) return () => undefined;
  const ctx = new Ctx();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    if (ctx.state === 'suspended') void ctx.resume().catch(() => undefined);
    analyser.getFloatTimeDomainData(samples);
    onLevel(track.enabled ? levelOf(samples) : 0);
  }, 66);
  return () => {
    clearInterval(timer);
    source.disconnect();
    void ctx.close().catch(() => undefined);
  };
}

/** Loudness 0–1 of PCM samples: RMS on a log scale (-60 dBFS → 0, 0 dBFS → 1). */
export function levelOf(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}
