// The new-class form's checks, in words (the server checks again).
import { fromLocalInput } from '../../lib/timefmt';

export const MAX_TITLE = 200;
export const MAX_COURSE = 120;

/** What is wrong with the form, in words, or null. */
export function problemWith(f: { title: string; start: string; end: string; course: string; cap: string }): string | null {
  const title = f.title.trim();
  if (!title) return 'Give the class a title.';
  if (title.length > MAX_TITLE) return `The title can be at most ${MAX_TITLE} characters.`;
  const start = fromLocalInput(f.start);
  const end = fromLocalInput(f.end);
  if (f.start && !start) return 'The start time is not a date and time.';
  if (f.end && !end) return 'The end time is not a date and time.';
  if (start && end && Date.parse(end) <= Date.parse(start)) return 'The class must end after it starts.';
  if (f.course.trim().length > MAX_COURSE) return `The course can be at most ${MAX_COURSE} characters.`;
  if (f.cap.trim() !== '') {
    const n = Number(f.cap);
    if (!Number.isInteger(n) || n < 0 || n > 100_000) return 'Viewers over WebRTC must be a whole number from 0 to 100000.';
  }
  return null;
}
