// The recording's chapters: where the class's broadcast changed layout (the
// instructor alone, students on stage, a screen share). A click seeks there.
import { clock } from '../../lib/timefmt';
import type { Chapter } from './recordings';

export function Chapters(props: { chapters: Chapter[]; now: number; seekTo: (s: number) => void }) {
  const { chapters, now, seekTo } = props;
  // One chapter is the whole recording: nothing to jump to.
  if (chapters.length < 2) return null;
  const current = chapters.reduce((at, c, i) => (c.at_seconds <= now ? i : at), 0);
  return (
    <nav class="chapters" aria-label="Chapters">
      <ol>
        {chapters.map((c, i) => (
          <li key={`${c.at_seconds}-${c.layout}`}>
            <button
              type="button"
              aria-current={i === current ? 'true' : undefined}
              onClick={() => seekTo(c.at_seconds)}
            >
              <span class="chapter-time">{clock(c.at_seconds)}</span> {c.title}
            </button>
          </li>
        ))}
      </ol>
    </nav>
  );
}
