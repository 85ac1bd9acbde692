// Students on stage publish beside the instructor (each a WHIP publish of
// its own): the instructor watches and hears each one here, in a tile beside
// the camera preview, over WHEP `?publish={id}` like any viewer, as soon as
// their media flows.
import { useEffect, useRef, useState } from 'preact/hooks';
import { watchWhep, type WhepState } from '../../lib/whep';
import type { Room } from '../../room/connection';
import type { Participant } from '../../room/protocol';
import type { RoomState } from '../../room/state';
import { Button } from '../../ui';

/** The students on stage, in the order the room lists them. */
export function stageStudents(s: RoomState): Participant[] {
  return s.participants.filter((p) => p.on_stage && p.role !== 'instructor');
}

export function OnStage(props: { room: Room; sessionId: string; token: string }) {
  const { room } = props;
  const s = room.state.value;
  const students = stageStudents(s);
  if (students.length === 0) return null;
  return (
    <>
      {students.map((student) => {
        const publish = s.publishes.find((p) => p.kind === 'stage' && p.participant_id === student.id && p.ready);
        const endTurn = () => room.send({ type: 'demote', participant_id: student.id });
        return publish ? (
          <StageView
            key={publish.id}
            name={student.name}
            sessionId={props.sessionId}
            publishId={publish.id}
            token={props.token}
            onEnd={endTurn}
          />
        ) : (
          <section key={student.id} class="studio-tile on-stage is-waiting" aria-label={`On stage: ${student.name}`}>
            <div class="tile-video tile-placeholder">
              <span class="avatar avatar-small" aria-hidden="true">
                {student.name.trim().charAt(0).toUpperCase() || '?'}
              </span>
              <span>Getting their camera ready…</span>
            </div>
            <TileFoot name={student.name} onEnd={endTurn} />
          </section>
        );
      })}
    </>
  );
}

function TileFoot(props: { name: string; onEnd: () => void }) {
  return (
    <div class="tile-foot">
      <span class="tile-name">{props.name}</span>
      <Button small onClick={props.onEnd} title="Take them off stage: their camera and microphone stop">
        End turn<span class="visually-hidden"> of {props.name}</span>
      </Button>
    </div>
  );
}

function StageView(props: {
  name: string;
  sessionId: string;
  publishId: string;
  token: string;
  onEnd: () => void;
}) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<WhepState>('connecting');
  useEffect(() => {
    const el = video.current;
    if (!el) return;
    const viewer = watchWhep({
      url: new URL(
        `/whep/${encodeURIComponent(props.sessionId)}?publish=${encodeURIComponent(props.publishId)}`,
        location.href,
      ).href,
      token: props.token,
      onStream: (stream) => {
        el.srcObject = stream;
        if (stream) el.play().catch(() => undefined);
      },
      onStatus: (st) => setState(st.state),
    });
    return () => viewer.stop();
  }, [props.sessionId, props.publishId, props.token]);
  return (
    <section class="studio-tile on-stage" aria-label={`On stage: ${props.name}`}>
      <div class="tile-video">
        <video ref={video} class="on-stage-video" playsInline autoplay aria-label={`${props.name}'s video`} />
        <span class={state === 'playing' ? 'tile-state is-live' : 'tile-state'} role="status">
          {state === 'playing' ? 'On stage' : 'Connecting…'}
        </span>
      </div>
      <TileFoot name={props.name} onEnd={props.onEnd} />
    </section>
  );
}
