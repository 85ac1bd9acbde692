// Publishing a MediaStream over WHIP (RFC 9725): the studio's Go live and a
// student's stage publish. Framework-free; state changes come as callbacks.
// CONTRACT: the studio helper implements it (docs/web.md).

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
  onStatus?: (status: PublishStatus) => void;
}

export interface WhipPublisher {
  /** The WHIP resource (Location) while live. */
  readonly resourceUrl: string | null;
  /** Swaps the video sent (screen share and back) without renegotiating. */
  replaceVideoTrack(track: MediaStreamTrack | null): Promise<void>;
  stats(): Promise<SendStats>;
  /** Ends the publish (DELETE on the resource) and stops nothing of the stream. */
  stop(): Promise<void>;
}

/** Starts publishing at once; reconnects by itself after a network failure. */
export function publish(_options: WhipOptions): WhipPublisher {
  throw new Error('WHIP publishing is not built yet');
}
