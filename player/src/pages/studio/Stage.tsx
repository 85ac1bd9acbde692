// The large preview: the camera as the class sees it, with the broadcast
// state on it; the shared screen as a tile of its own beside it.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { PublishStatus } from '../../lib/whip';
import type { Broadcast } from './broadcast';

/** `m:ss` or `h:mm:ss` since `since` (ms). */
export function elapsed(since: number, now: number): string {
  const s = Math.max(0, Math.floor((now - since) / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** The current time, ticking every second while `on`. */
export function useNow(on: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

/** State words shown on the stage and in the header. */
export function StateBadge(props: { b: Broadcast }) {
  const { state } = props.b.status.value;
  const since = props.b.liveSince.value;
  const now = useNow(state === 'live');
  switch (state) {
    case 'live':
      return (
        <span class="state-badge state-live">
          <span class="live-dot" aria-hidden="true" />
          Live{since !== null ? <span class="elapsed"> {elapsed(since, now)}</span> : null}
        </span>
      );
    case 'connecting':
      return <span class="state-badge state-busy">Connecting…</span>;
    case 'reconnecting':
      return <span class="state-badge state-warn">Reconnecting…</span>;
    case 'failed':
      return <span class="state-badge state-failed">Not live</span>;
    default:
      return <span class="state-badge">Not live</span>;
  }
}

export function Stage(props: { b: Broadcast; name: string }) {
  const { b } = props;
  const video = useRef<HTMLVideoElement>(null);
  const track = b.previewTrack.value;
  const cameraShown = b.camera.value !== null && b.cameraOn.value;

  useEffect(() => {
    const el = video.current;
    if (!el) return;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) void el.play().catch(() => undefined);
  }, [track]);

  return (
    <div class="stage">
      <video ref={video} class={cameraShown ? 'stage-video' : 'stage-video hidden'} muted autoplay playsInline aria-label="Your preview" />
      {cameraShown ? null : (
        <div class="stage-off">
          <span class="avatar" aria-hidden="true">
            {props.name.trim().charAt(0).toUpperCase() || '?'}
          </span>
          <span>{b.opening.value ? 'Starting your camera…' : b.camera.value ? 'Your camera is off' : 'No camera'}</span>
        </div>
      )}
      <div class="stage-top">
        {['idle', 'stopped'].includes(b.status.value.state) ? null : <StateBadge b={b} />}
      </div>
      <div class="stage-bottom">
        <span class="stage-name">
          {props.name} (you){b.mic.value && !b.micOn.value ? ' · muted' : ''}
        </span>
      </div>
    </div>
  );
}

/**
 * Words over the screen tile: where the share stands (`flowing`: the room
 * lists the screen publish as ready, so the class can watch it).
 */
export function screenWords(publishing: boolean, state: PublishStatus['state'], flowing: boolean): { text: string; live: boolean } {
  if (!publishing) return { text: 'Not live: the class sees it when you go live', live: false };
  switch (state) {
    case 'live':
      return flowing ? { text: 'The class sees your screen', live: true } : { text: 'Sharing…', live: false };
    case 'reconnecting':
      return { text: 'Reconnecting…', live: false };
    case 'failed':
      return { text: 'Not shared', live: false };
    default:
      return { text: 'Sharing…', live: false };
  }
}

/** The instructor's own shared screen, as a tile beside the camera preview. */
export function ScreenTile(props: { b: Broadcast; flowing: boolean }) {
  const { b } = props;
  const video = useRef<HTMLVideoElement>(null);
  const track = b.screen.value;
  useEffect(() => {
    const el = video.current;
    if (!el) return;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) void el.play().catch(() => undefined);
  }, [track]);
  if (!track) return null;
  const words = screenWords(b.publishing.value, b.screenStatus.value.state, props.flowing);
  return (
    <section class="studio-tile is-screen" aria-label="Your shared screen">
      <div class="tile-video">
        <video ref={video} muted autoplay playsInline aria-label="Your shared screen" />
        <span class={words.live ? 'tile-state is-live' : 'tile-state'} role="status">
          {words.text}
        </span>
      </div>
      <div class="tile-foot">
        <span class="tile-name">Your screen</span>
      </div>
    </section>
  );
}
