// The large preview: what the class sees (camera or shared screen), with
// the broadcast state on it.
import { useEffect, useRef, useState } from 'preact/hooks';
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
  const sharing = b.screen.value !== null;
  const cameraShown = sharing || (b.camera.value !== null && b.cameraOn.value);

  useEffect(() => {
    const el = video.current;
    if (!el) return;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) void el.play().catch(() => undefined);
  }, [track]);

  return (
    <div class={sharing ? 'stage stage-screen' : 'stage'}>
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
        {sharing ? <span class="state-badge">Sharing your screen</span> : null}
      </div>
      <div class="stage-bottom">
        <span class="stage-name">
          {props.name} (you){b.mic.value && !b.micOn.value ? ' · muted' : ''}
        </span>
      </div>
    </div>
  );
}
