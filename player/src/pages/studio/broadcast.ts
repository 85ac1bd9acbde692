// The studio's media as signals: the chosen devices and their preview, the
// microphone level, mute / camera off / screen share, and the WHIP publishes
// with what they send: the camera and microphone on one, the shared screen
// on a second one of its own (`?source=screen`) so the camera stays live. Components render these and call the methods; the
// device and WHIP work itself is in lib/devices and lib/whip.
import { batch, computed, signal } from '@preact/signals';
import {
  listDevices,
  MediaProblem,
  openMedia,
  openScreen,
  openTrack,
  RESOLUTIONS,
  startLevelMeter,
  type DeviceChoice,
  type DeviceList,
} from '../../lib/devices';
import { publish, type PublishStatus, type SendStats, type WhipPublisher } from '../../lib/whip';
import type { MediaState } from '../../room/protocol';

const CHOICE_KEY = 'classcast.studio.devices';

/** The WHIP URL of the screen share: the camera's, with `source=screen`. */
export function screenWhipUrl(whipUrl: string): string {
  const url = new URL(whipUrl);
  url.searchParams.set('source', 'screen');
  return url.href;
}
const STATS_EVERY_MS = 2000;

function savedChoice(): DeviceChoice {
  const fallback: DeviceChoice = { cameraId: '', micId: '', resolution: '720p' };
  try {
    const saved = JSON.parse(localStorage.getItem(CHOICE_KEY) ?? 'null') as Partial<DeviceChoice> | null;
    if (!saved) return fallback;
    const resolution = saved.resolution && ['360p', '720p', '1080p'].includes(saved.resolution) ? saved.resolution : '720p';
    return { cameraId: saved.cameraId ?? '', micId: saved.micId ?? '', resolution };
  } catch {
    return fallback;
  }
}

export class Broadcast {
  readonly devices = signal<DeviceList>({ cameras: [], mics: [] });
  readonly choice = signal<DeviceChoice>(savedChoice());
  readonly camera = signal<MediaStreamTrack | null>(null);
  readonly mic = signal<MediaStreamTrack | null>(null);
  readonly screen = signal<MediaStreamTrack | null>(null);
  /** Words for a device that is missing, denied or busy. */
  readonly deviceProblem = signal<string | null>(null);
  readonly opening = signal(false);
  readonly micOn = signal(true);
  readonly cameraOn = signal(true);
  readonly level = signal(0);
  readonly status = signal<PublishStatus>({ state: 'idle' });
  readonly liveSince = signal<number | null>(null);
  readonly sent = signal<SendStats | null>(null);
  /** The screen share's own publish (idle while not shared or not live). */
  readonly screenStatus = signal<PublishStatus>({ state: 'idle' });
  /** Words for a screen share that was refused (by the browser, the system or the server). */
  readonly shareProblem = signal<string | null>(null);

  /** What the large preview shows: the camera (the shared screen has a tile of its own). */
  readonly previewTrack = computed(() => this.camera.value);
  readonly publishing = computed(() => ['connecting', 'live', 'reconnecting'].includes(this.status.value.state));
  /** What `media_state` tells the class. */
  readonly mediaState = computed<MediaState>(() => ({
    mic: this.mic.value !== null && this.micOn.value,
    camera: this.camera.value !== null && this.cameraOn.value,
    screen: this.screen.value !== null,
  }));

  private publisher: WhipPublisher | null = null;
  private screenPublisher: WhipPublisher | null = null;
  /** Bumped whenever the screen publish is replaced or ended: its old callbacks go quiet. */
  private screenGen = 0;
  private stopMeter: (() => void) | null = null;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private readonly onDeviceChange = () => void this.refreshDevices();

  constructor(
    private readonly whipUrl: string,
    private readonly token: string,
  ) {}

  /** Opens the saved (or default) devices for the preview. */
  async start(): Promise<void> {
    navigator.mediaDevices?.addEventListener('devicechange', this.onDeviceChange);
    await this.openDevices();
  }

  async openDevices(): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.deviceProblem.value = 'This browser cannot use a camera here. Use a recent Chrome, Edge, Firefox or Safari.';
      return;
    }
    this.opening.value = true;
    try {
      const { stream, problem } = await openMedia(this.choice.value);
      this.releaseDevices();
      batch(() => {
        this.camera.value = stream.getVideoTracks()[0] ?? null;
        this.mic.value = stream.getAudioTracks()[0] ?? null;
        this.deviceProblem.value = problem;
      });
      this.applyEnabled();
      this.watchEnded();
      this.meter();
      await this.sendTracks();
    } catch (e) {
      this.deviceProblem.value = e instanceof MediaProblem ? e.message : 'Your camera and microphone could not be started.';
    } finally {
      this.opening.value = false;
      await this.refreshDevices();
    }
  }

  private async refreshDevices(): Promise<void> {
    try {
      this.devices.value = await listDevices();
    } catch {
      // No device list: the pickers offer the default only.
    }
  }

  /** Another camera, microphone or resolution; while live the new track goes out at once. */
  async choose(change: Partial<DeviceChoice>): Promise<void> {
    const next = { ...this.choice.value, ...change };
    this.choice.value = next;
    try {
      localStorage.setItem(CHOICE_KEY, JSON.stringify(next));
    } catch {
      // Not remembered: fine.
    }
    const kind = change.micId !== undefined ? 'microphone' : 'camera';
    if ((kind === 'camera' && !this.camera.value) || (kind === 'microphone' && !this.mic.value)) {
      await this.openDevices();
      return;
    }
    const old = kind === 'camera' ? this.camera.value : this.mic.value;
    if (kind === 'camera' && change.resolution && !change.cameraId && old) {
      // Same camera, other size: no need to reopen it.
      const ok = await old
        .applyConstraints({ width: { ideal: RESOLUTIONS[next.resolution].width }, height: { ideal: RESOLUTIONS[next.resolution].height } })
        .then(() => true)
        .catch(() => false);
      if (ok) return;
    }
    try {
      // Some cameras cannot be open twice: release the old one first.
      old?.stop();
      const track = await openTrack(kind, next);
      if (kind === 'camera') this.camera.value = track;
      else this.mic.value = track;
      this.deviceProblem.value = null;
      this.applyEnabled();
      this.watchEnded();
      if (kind === 'microphone') this.meter();
      await this.sendTracks();
    } catch (e) {
      this.deviceProblem.value = e instanceof MediaProblem ? e.message : 'That device could not be started.';
    }
  }

  toggleMic(): void {
    this.micOn.value = !this.micOn.value;
    this.applyEnabled();
  }

  toggleCamera(): void {
    this.cameraOn.value = !this.cameraOn.value;
    this.applyEnabled();
  }

  /** Share screen / Stop sharing. While live the share goes out at once, beside the camera. */
  async toggleScreen(): Promise<void> {
    if (this.screen.value) {
      await this.endScreen();
      return;
    }
    this.shareProblem.value = null;
    let track: MediaStreamTrack;
    try {
      track = await openScreen();
    } catch (e) {
      this.shareProblem.value = e instanceof MediaProblem ? e.message : 'Your screen could not be shared.';
      return;
    }
    // Slides and code: keep the detail, let the frame rate go.
    track.contentHint = 'detail';
    // The browser's own "Stop sharing" ends the track: the share ends too.
    track.addEventListener('ended', () => {
      if (this.screen.value === track) void this.endScreen();
    });
    this.screen.value = track;
    if (this.publishing.value) this.publishScreen();
  }

  /** Ends the share: the track stops and its WHIP resource is deleted. */
  async endScreen(): Promise<void> {
    const track = this.screen.value;
    const p = this.screenPublisher;
    this.screenPublisher = null;
    this.screenGen += 1;
    batch(() => {
      this.screen.value = null;
      this.screenStatus.value = { state: 'idle' };
    });
    track?.stop();
    if (p) await p.stop();
  }

  /** The second publish: the shared screen alone, on the same WHIP endpoint with `?source=screen`. */
  private publishScreen(): void {
    const track = this.screen.value;
    if (!track || this.screenPublisher) return;
    const gen = ++this.screenGen;
    this.screenPublisher = publish({
      url: screenWhipUrl(this.whipUrl),
      token: this.token,
      stream: new MediaStream([track]),
      // The screen without sound: the microphone goes with the camera.
      audio: false,
      onStatus: (status) => {
        if (gen === this.screenGen) this.onScreenStatus(status);
      },
    });
  }

  private onScreenStatus(status: PublishStatus): void {
    this.screenStatus.value = status;
    if (status.state !== 'failed') return;
    // Refused (a screen already shared from elsewhere, the class ended…): say
    // so, and end the share here so the button offers it again.
    this.screenPublisher = null;
    this.shareProblem.value = `Your screen is not shared with the class. ${status.reason ?? 'The server refused it.'}`;
    void this.endScreen();
  }

  goLive(): void {
    if (this.publishing.value) return;
    const tracks = [this.mic.value, this.camera.value].filter((t): t is MediaStreamTrack => t !== null);
    this.liveSince.value = null;
    this.sent.value = null;
    this.publisher = publish({
      url: this.whipUrl,
      token: this.token,
      stream: new MediaStream(tracks),
      onStatus: (status) => this.onStatus(status),
    });
    clearInterval(this.statsTimer);
    this.statsTimer = setInterval(() => void this.readStats(), STATS_EVERY_MS);
    this.publishScreen();
  }

  /** Stops the broadcast: the camera's publish and the screen share with it. */
  async stop(): Promise<void> {
    const p = this.publisher;
    this.publisher = null;
    clearInterval(this.statsTimer);
    batch(() => {
      this.liveSince.value = null;
      this.sent.value = null;
    });
    await Promise.all([p?.stop(), this.endScreen()]);
    this.status.value = { state: 'stopped' };
  }

  dispose(): void {
    navigator.mediaDevices?.removeEventListener('devicechange', this.onDeviceChange);
    void this.stop();
    this.releaseDevices();
  }

  private onStatus(status: PublishStatus): void {
    batch(() => {
      this.status.value = status;
      if (status.state === 'live' && this.liveSince.value === null) this.liveSince.value = Date.now();
      if (status.state === 'failed' || status.state === 'stopped') {
        this.liveSince.value = null;
        this.sent.value = null;
      }
    });
    if (status.state === 'failed') {
      clearInterval(this.statsTimer);
      this.publisher = null;
    }
  }

  private async readStats(): Promise<void> {
    const p = this.publisher;
    if (!p || this.status.value.state !== 'live') return;
    const stats = await p.stats().catch(() => null);
    if (p === this.publisher && stats) this.sent.value = stats;
  }

  /** Mute and camera off disable the tracks: the peer connection stays as it is. */
  private applyEnabled(): void {
    if (this.mic.value) this.mic.value.enabled = this.micOn.value;
    if (this.camera.value) this.camera.value.enabled = this.cameraOn.value;
  }

  /** The tracks the publish sends follow the devices and the screen share. */
  private async sendTracks(): Promise<void> {
    const p = this.publisher;
    if (!p) return;
    await p.replaceVideoTrack(this.camera.value).catch(() => undefined);
    await p.replaceAudioTrack(this.mic.value).catch(() => undefined);
  }

  private watchEnded(): void {
    for (const track of [this.camera.value, this.mic.value]) {
      track?.addEventListener(
        'ended',
        () => {
          // Unplugged, or taken by the system: say so in words.
          if (track === this.camera.value || track === this.mic.value) {
            this.deviceProblem.value = `Your ${track.kind === 'video' ? 'camera' : 'microphone'} stopped (unplugged?). Choose it again below.`;
          }
        },
        { once: true },
      );
    }
  }

  private meter(): void {
    this.stopMeter?.();
    this.stopMeter = null;
    const mic = this.mic.value;
    if (!mic) {
      this.level.value = 0;
      return;
    }
    this.stopMeter = startLevelMeter(mic, (level) => {
      this.level.value = level;
    });
  }

  private releaseDevices(): void {
    this.stopMeter?.();
    this.stopMeter = null;
    this.camera.value?.stop();
    this.mic.value?.stop();
  }
}
