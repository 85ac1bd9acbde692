// The class's other publishes beside the main video: the instructor's screen
// share and students on stage, each viewed over its own WHEP resource
// (`?publish={id}`). They come and go with the room's `publishes` messages,
// without a reload; ClassStage arranges them.
import { useEffect, useRef, useState } from 'preact/hooks';
import { watchWhep, type WhepState } from '../../lib/whep';
import type { Publish } from '../../room/protocol';
import { Button } from '../../ui';
import { Icon } from './icons';

export const TILE_WORDS: Record<Publish['kind'], (name: string) => string> = {
  camera: (name) => `${name}’s camera`,
  screen: (name) => `${name}’s screen`,
  stage: (name) => `On stage: ${name}`,
};

/**
 * What the page shows beside the main video: every ready publish but the
 * main one and this participant's own, the screen share apart (it goes large).
 */
export function tilesFor(
  publishes: readonly Publish[],
  selfId: string | null,
): { screen: Publish | null; others: Publish[] } {
  const shown = publishes.filter((p) => !p.main && p.ready && p.participant_id !== selfId);
  const screen = shown.find((p) => p.kind === 'screen') ?? null;
  return { screen, others: shown.filter((p) => p !== screen) };
}

/** One publish, watched over WHEP; `large` for the screen share (with full screen). */
export function PublishTile(props: { whepUrl: string; token: string; publish: Publish; name: string; large?: boolean }) {
  const { whepUrl, token, publish, name, large } = props;
  const boxRef = useRef<HTMLDivElement>(null);
  const videoRef = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<WhepState>('connecting');
  const [fullscreen, setFullscreen] = useState(false);
  const label = TILE_WORDS[publish.kind](name);

  useEffect(() => {
    const sep = whepUrl.includes('?') ? '&' : '?';
    const viewer = watchWhep({
      url: `${whepUrl}${sep}publish=${encodeURIComponent(publish.id)}`,
      token,
      onStatus: (s) => setState(s.state),
      onStream: (stream) => {
        const video = videoRef.current;
        if (!video) return;
        video.srcObject = stream;
        if (stream) void video.play().catch(() => undefined);
      },
    });
    return () => viewer.stop();
  }, [whepUrl, token, publish.id]);

  useEffect(() => {
    const onChange = () => setFullscreen(document.fullscreenElement === boxRef.current);
    document.addEventListener('fullscreenchange', onChange);
    return () => document.removeEventListener('fullscreenchange', onChange);
  }, []);

  const toggleFullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void boxRef.current?.requestFullscreen();
  };

  const words =
    state === 'playing' ? null : state === 'denied' || state === 'fallback' ? 'Cannot be shown here' : 'Connecting…';
  return (
    <figure class={`publish-tile is-${publish.kind}${large ? ' is-large' : ''}`}>
      <div class={`publish-video${fullscreen ? ' is-fullscreen' : ''}`} ref={boxRef}>
        <video ref={videoRef} aria-label={label} autoplay playsInline />
        {words ? (
          <div class="publish-overlay" role="status">
            {words === 'Connecting…' ? <div class="spinner" aria-hidden="true" /> : null}
            {words}
          </div>
        ) : null}
      </div>
      <figcaption>
        {/* Beside the class video everyone is on stage: the name says enough. */}
        <span class="tile-name">{publish.kind === 'stage' ? name : label}</span>
        {large ? (
          <Button small onClick={toggleFullscreen}>
            <Icon name={fullscreen ? 'shrink' : 'expand'} />
            {fullscreen ? 'Exit full screen' : 'Full screen'}
            <span class="visually-hidden"> ({label})</span>
          </Button>
        ) : null}
      </figcaption>
    </figure>
  );
}
