// Where the class's videos go: the main video (the instructor) large, and
// every other publish beside it (never under it on a wide screen): students
// on stage in a side column; a screen share takes the large place and the
// instructor joins the column as a smaller tile. On a phone the column
// becomes rows under the large video.
//
// The main video keeps its place in the tree whatever the arrangement (only
// CSS moves it), so a screen share starting or stopping never interrupts the
// instructor's picture or sound.
import { useState } from 'preact/hooks';
import type { Publish } from '../../room/protocol';
import type { Tier } from './live';
import { PublishTile, tilesFor } from './PublishTiles';
import type { ClassSession } from './session';
import { VideoStage } from './VideoStage';

interface Props {
  session: ClassSession;
  token: string;
  instructorName: string;
  cameraOff: boolean;
  live: boolean | null;
  publishes: Publish[];
  /** This participant: their own publish is not viewed back. */
  selfId: string | null;
  /** Names as the room knows them. */
  nameOf: (participantId: string) => string | undefined;
}

export function ClassStage(props: Props) {
  const [tier, setTier] = useState<Tier | null>(null);
  // On the HLS broadcast the server's composition already shows everyone;
  // WHEP tiles would be refused anyway (no seat).
  const { screen, others } = tier === 'hls' ? { screen: null, others: [] } : tilesFor(props.publishes, props.selfId);
  const name = (p: Publish) => props.nameOf(p.participant_id) ?? p.name;
  const classes = ['class-stage', screen ? 'has-screen' : '', others.length > 0 ? 'has-side' : ''].filter(Boolean).join(' ');
  return (
    <div class={classes}>
      <VideoStage
        session={props.session}
        token={props.token}
        instructorName={props.instructorName}
        cameraOff={props.cameraOff}
        live={props.live}
        compact={screen !== null}
        onTier={setTier}
      />
      {screen ? (
        <section class="screen-slot" aria-label="Shared screen">
          <PublishTile key={screen.id} whepUrl={props.session.whep_url} token={props.token} publish={screen} name={name(screen)} large />
        </section>
      ) : null}
      {others.length > 0 ? (
        <section class="publish-tiles" aria-label="Also live in this class">
          {others.map((p) => (
            <PublishTile key={p.id} whepUrl={props.session.whep_url} token={props.token} publish={p} name={name(p)} />
          ))}
        </section>
      ) : null}
    </div>
  );
}
