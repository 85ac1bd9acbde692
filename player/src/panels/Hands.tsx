// Raised hands: the queue in raise order with the time, who is on stage;
// instructors call on (with or without stage) and demote, students raise
// and lower their own hand.
import { Button } from '../ui';
import { clockTime } from './format';
import type { PanelProps } from './types';
import './hands.css';

/** A student's Raise hand / Lower hand button (the classroom puts it under the video). */
export function HandButton({ room }: PanelProps) {
  const s = room.state.value;
  if (s.you?.role !== 'student' || s.standing.kind !== 'in') return null;
  const raised = s.hands.some((h) => h.participant_id === s.you?.id);
  return (
    <Button
      variant={raised ? 'plain' : 'primary'}
      aria-pressed={raised}
      class="hand-button"
      onClick={() => room.send({ type: raised ? 'lower_hand' : 'raise_hand' })}
    >
      <span aria-hidden="true">✋</span>
      {raised ? 'Lower hand' : 'Raise hand'}
    </Button>
  );
}

function ordinal(n: number): string {
  const rem = n % 100;
  if (rem >= 11 && rem <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

export function HandsPanel({ room }: PanelProps) {
  const s = room.state.value;
  const instructor = s.you?.role === 'instructor';
  const onStage = s.participants.filter((p) => p.on_stage);
  const myPlace = s.hands.findIndex((h) => h.participant_id === s.you?.id);
  return (
    <section class="panel-section" aria-labelledby="hands-heading">
      <div class="section-head">
        <h3 id="hands-heading">Raised hands ({s.hands.length})</h3>
        {instructor && s.hands.length > 0 ? (
          <Button small onClick={() => room.send({ type: 'call_on', participant_id: '', stage: false })}>
            Call on next
          </Button>
        ) : null}
      </div>
      {s.you?.role === 'student' ? (
        <div class="hand-self">
          {/* The button itself sits under the video, where a student looks (classroom). */}
          <p class="hint">
            {myPlace >= 0 ? `Your hand is up: ${ordinal(myPlace + 1)} in line.` : 'Raise your hand (under the video) to ask to speak.'}
          </p>
        </div>
      ) : null}
      {s.hands.length === 0 ? (
        <p class="empty">No hands raised.</p>
      ) : (
        <ol class="hand-queue" aria-label="Hand queue, first raised first">
          {s.hands.map((h, i) => (
            <li key={h.participant_id} class={h.participant_id === s.you?.id ? 'hand hand-you' : 'hand'}>
              <span class="hand-place" aria-hidden="true">
                {i + 1}
              </span>
              <span class="hand-name">
                {h.name}
                {h.participant_id === s.you?.id ? <span class="muted"> (you)</span> : null}
              </span>
              <time class="hand-time" dateTime={h.raised_at}>
                {clockTime(h.raised_at)}
              </time>
              {instructor ? (
                <span class="row-buttons">
                  <Button small onClick={() => room.send({ type: 'call_on', participant_id: h.participant_id, stage: false })}>
                    Call on<span class="visually-hidden"> {h.name}</span>
                  </Button>
                  <Button
                    small
                    variant="primary"
                    onClick={() => room.send({ type: 'call_on', participant_id: h.participant_id, stage: true })}
                  >
                    Call on stage<span class="visually-hidden"> {h.name}</span>
                  </Button>
                </span>
              ) : null}
            </li>
          ))}
        </ol>
      )}
      {onStage.length > 0 ? (
        <>
          <h3 class="subhead">On stage</h3>
          <ul class="hand-queue">
            {onStage.map((p) => (
              <li key={p.id} class="hand">
                <span class="stage-mark" aria-hidden="true">
                  ●
                </span>
                <span class="hand-name">
                  {p.name}
                  {p.id === s.you?.id ? <span class="muted"> (you)</span> : null}
                </span>
                {instructor ? (
                  <span class="row-buttons">
                    <Button small onClick={() => room.send({ type: 'demote', participant_id: p.id })}>
                      Demote<span class="visually-hidden"> {p.name}</span>
                    </Button>
                  </span>
                ) : null}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}
