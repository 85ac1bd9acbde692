// The broadcast's layout: what the HLS viewers and the recording see when
// several people publish. The instructor picks it (`set_layout`); the room
// says what it is (`welcome`'s `room.layout`, then `layout` messages), and
// that is what the radios show once the room has answered.
import { useEffect, useState } from 'preact/hooks';
import { layoutHint, LAYOUT_NAMES } from '../../room/layout';
import type { Room } from '../../room/connection';
import { LAYOUTS, type Layout } from '../../room/protocol';
import { Notice } from '../../ui';

/** How long a choice may wait for the room's answer before the radios go back. */
const ANSWER_MS = 5000;

const SHORT: Record<Layout, string> = {
  auto: 'Follows the class',
  speaker: 'You alone',
  stage: 'You and the stage',
  screen: 'Your screen, you small',
};

export function LayoutSwitcher(props: { room: Room }) {
  const { room } = props;
  const s = room.state.value;
  const [pending, setPending] = useState<{ layout: Layout; sentAt: number } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const usable = s.standing.kind === 'in' && room.link.value === 'open';

  // The room took it.
  useEffect(() => {
    if (pending && s.layout === pending.layout) setPending(null);
  }, [s.layout, pending]);
  // The room refused it.
  useEffect(() => {
    const e = s.lastError;
    if (pending && e && e.atMs >= pending.sentAt) {
      setPending(null);
      setProblem(`The layout did not change: ${e.message}`);
    }
  }, [s.lastError, pending]);
  // No answer at all.
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => {
      setPending(null);
      setProblem('The layout did not change: the class did not answer. Check your connection and try again.');
    }, ANSWER_MS);
    return () => clearTimeout(timer);
  }, [pending]);

  const choose = (layout: Layout) => {
    setProblem(null);
    if (layout === s.layout) {
      setPending(null);
      return;
    }
    setPending({ layout, sentAt: Date.now() });
    room.send({ type: 'set_layout', layout });
  };

  const shown = pending?.layout ?? s.layout;
  return (
    <section class="card layout-card" aria-labelledby="layout-heading">
      <div class="layout-row">
        <h2 id="layout-heading">Broadcast layout</h2>
        <div class="segmented" role="radiogroup" aria-labelledby="layout-heading" aria-describedby="layout-hint">
          {LAYOUTS.map((layout) => (
            <label key={layout} class={shown === layout ? 'segment is-on' : 'segment'} title={SHORT[layout]}>
              <input
                type="radio"
                name="broadcast-layout"
                value={layout}
                checked={shown === layout}
                disabled={!usable}
                onChange={() => choose(layout)}
              />
              <span>{LAYOUT_NAMES[layout]}</span>
            </label>
          ))}
        </div>
      </div>
      <p class="hint" id="layout-hint">
        {layoutHint(shown, s.publishes)}
      </p>
      {problem ? <Notice tone="error">{problem}</Notice> : null}
    </section>
  );
}
