// A student on stage publishes the class's video while the instructor is
// off air (one publisher per session for now): the instructor watches and
// hears them here, over WHEP like any viewer.
import { useEffect, useRef, useState } from 'preact/hooks';
import { watchWhep, type WhepState } from '../../lib/whep';
import type { Room } from '../../room/connection';
import { Notice } from '../../ui';
import type { Broadcast } from './broadcast';

const SENDING = new Set(['connecting', 'live', 'reconnecting']);

export function OnStage(props: { room: Room; b: Broadcast; sessionId: string; token: string }) {
  const s = props.room.state.value;
  const student = s.participants.find((p) => p.on_stage && p.role !== 'instructor') ?? null;
  const instructorSending = SENDING.has(props.b.status.value.state);
  if (!student || instructorSending) return null;
  return s.live ? (
    <StageView key={student.id} name={student.name} sessionId={props.sessionId} token={props.token} />
  ) : (
    <Notice tone="info">{student.name} is on stage and getting their camera ready. The class sees them as soon as they start.</Notice>
  );
}

function StageView(props: { name: string; sessionId: string; token: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<WhepState>('connecting');
  useEffect(() => {
    const el = video.current;
    if (!el) return;
    const viewer = watchWhep({
      url: new URL(`/whep/${encodeURIComponent(props.sessionId)}`, location.href).href,
      token: props.token,
      onStream: (stream) => {
        el.srcObject = stream;
        if (stream) el.play().catch(() => undefined);
      },
      onStatus: (st) => setState(st.state),
    });
    return () => viewer.stop();
  }, [props.sessionId, props.token]);
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
