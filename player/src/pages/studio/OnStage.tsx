// Students on stage publish beside the instructor (each a WHIP publish of
// its own): the instructor watches and hears each one here, over WHEP
// `?publish={id}` like any viewer, as soon as their media flows.
import { useEffect, useRef, useState } from 'preact/hooks';
import { watchWhep, type WhepState } from '../../lib/whep';
import type { Room } from '../../room/connection';
import { Notice } from '../../ui';

export function OnStage(props: { room: Room; sessionId: string; token: string }) {
  const s = props.room.state.value;
  const students = s.participants.filter((p) => p.on_stage && p.role !== 'instructor');
  if (students.length === 0) return null;
  return (
    <div class="on-stage-list">
      {students.map((student) => {
        const publish = s.publishes.find((p) => p.kind === 'stage' && p.participant_id === student.id && p.ready);
        return publish ? (
          <StageView
            key={publish.id}
            name={student.name}
            sessionId={props.sessionId}
            publishId={publish.id}
            token={props.token}
          />
        ) : (
          <Notice key={student.id} tone="info">
            {student.name} is on stage and getting their camera ready. The class sees them as soon as they start.
          </Notice>
        );
      })}
    </div>
  );
}

function StageView(props: { name: string; sessionId: string; publishId: string; token: string }) {
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
    <section class="on-stage card" aria-label={`On stage: ${props.name}`}>
      <div class="on-stage-head">
        <strong>On stage: {props.name}</strong>
        <span class="muted">{state === 'playing' ? 'The class sees and hears them.' : 'Connecting…'}</span>
      </div>
      <video ref={video} class="on-stage-video" playsInline autoplay aria-label={`${props.name}'s video`} />
    </section>
  );
}
