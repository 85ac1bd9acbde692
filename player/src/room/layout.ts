// The broadcast's layout as people see it: what `auto` comes to with the
// class's live publishes, and words for it. Pure: the studio's switcher and
// its tests read these.
import type { Layout, Publish } from './protocol';

/** The layout the broadcast shows now: `auto` resolved against the live publishes. */
export function shownLayout(layout: Layout, publishes: readonly Publish[]): Exclude<Layout, 'auto'> {
  if (layout !== 'auto') return layout;
  if (publishes.some((p) => p.kind === 'screen')) return 'screen';
  if (publishes.some((p) => p.kind === 'stage')) return 'stage';
  return 'speaker';
}

export const LAYOUT_NAMES: Record<Layout, string> = {
  auto: 'Auto',
  speaker: 'Speaker',
  stage: 'Stage',
  screen: 'Screen',
};

/**
 * What the HLS viewers and the recording see now, in words, for the
 * instructor (`layout` as chosen, `publishes` the live ones).
 */
export function layoutHint(layout: Layout, publishes: readonly Publish[]): string {
  const shown = shownLayout(layout, publishes);
  const sharing = publishes.some((p) => p.kind === 'screen');
  const onStage = publishes.filter((p) => p.kind === 'stage').length;
  const people = onStage === 1 ? 'the student on stage' : 'the students on stage';
  let now: string;
  switch (shown) {
    case 'speaker':
      now = 'you alone, full frame';
      break;
    case 'stage':
      now = onStage > 0 ? `you and ${people} in a grid` : 'you alone (nobody is on stage yet)';
      break;
    case 'screen':
      now = sharing ? 'your shared screen large, your camera in a corner' : 'you alone (you are not sharing your screen)';
      break;
  }
  const auto = layout === 'auto' ? ' Auto follows the class: your screen while you share, else the stage while someone is on it, else you.' : '';
  return `HLS viewers and the recording see ${now}.${auto}`;
}
