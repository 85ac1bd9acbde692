// The class's other publishes beside the main video: the instructor's screen
// share (large) and students on stage, each viewed over its own WHEP
// resource (`?publish={id}`). They come and go with the room's `publishes`
// messages, without a reload.
import { useEffect, useRef, useState } from 'preact/hooks';
import { watchWhep, type WhepState } from '../../lib/whep';
import type { Publish } from '../../room/protocol';

interface Props {
  whepUrl: string;
  token: string;
  publishes: Publish[];
  /** This participant: their own publish is not viewed back. */
  selfId: string | null;
  /** Names as the room knows them (a stage token carries only the id). */
  nameOf: (participantId: string) => string | undefined;
}

const TILE_WORDS: Record<Publish['kind'], (name: string) => string> = {
  camera: (name) => `${name}’s camera`,
  screen: (name) => `${name}’s screen`,
  stage: (name) => `On stage: ${name}`,
};

export function PublishTiles({ whepUrl, token, publishes, selfId, nameOf }: Props) {
  const others = publishes.filter((p) => !p.main && p.ready && p.participant_id !== selfId);
  if (others.length === 0) return null;
  // The screen share first and large: slides want the room.
  const ordered = [...others.filter((p) => p.kind === 'screen'), ...others.filter((p) => p.kind !== 'screen')];
  return (
    <section class="publish-tiles" aria-label="Also live in this class">
      {ordered.map((p) => (
        <PublishTile key={p.id} whepUrl={whepUrl} token={token} publish={p} name={nameOf(p.participant_id) ?? p.name} />
      ))}
    </section>
  );
}

function PublishTile(props: { whepUrl: string; token: string; publish: Publish; name: string }) {
  const { whepUrl, token, publish, name } = props;
  const videoRef = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<WhepState>('connecting');
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

  const words =
    state === 'playing' ? null : state === 'denied' || state === 'fallback' ? 'Cannot be shown here' : 'Connecting…';
  return (
    <figure class={`publish-tile card is-${publish.kind}`}>
      <div class="publish-video">
        <video ref={videoRef} aria-label={label} autoplay playsInline />
        {words ? (
          <div class="publish-overlay" role="status">
            {words}
          </div>
        ) : null}
      </div>
      <figcaption>{label}</figcaption>
    </figure>
  );
}
