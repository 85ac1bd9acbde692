// Times and durations in the words and shapes people read: "1:05:09" for a
// position, "Tue 8 Dec, 10:00" for a date, "45 min" for a length. In the
// browser's own locale and time zone.

/** A position or length in seconds as m:ss or h:mm:ss (negative and NaN as 0:00). */
export function clock(seconds: number): string {
  const total = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A length in words: "45 s", "12 min", "1 h 05 min". */
export function lengthInWords(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: 'numeric',
  minute: '2-digit',
});
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dateOnly = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });

/** An RFC 3339 time as "Tue 8 Dec, 10:00" ('' when missing or unreadable). */
export function when(rfc3339: string | null | undefined): string {
  const t = rfc3339 ? Date.parse(rfc3339) : NaN;
  return Number.isNaN(t) ? '' : dateTime.format(t);
}

/** The day of an RFC 3339 time, "Tue, 8 Dec 2026". */
export function day(rfc3339: string | null | undefined): string {
  const t = rfc3339 ? Date.parse(rfc3339) : NaN;
  return Number.isNaN(t) ? '' : dateOnly.format(t);
}

/** "Tue 8 Dec, 10:00 – 11:00" (the end's date only when it is another day). */
export function span(start: string | null | undefined, end: string | null | undefined): string {
  const s = start ? Date.parse(start) : NaN;
  const e = end ? Date.parse(end) : NaN;
  if (Number.isNaN(s)) return Number.isNaN(e) ? '' : `until ${dateTime.format(e)}`;
  if (Number.isNaN(e)) return dateTime.format(s);
  const sameDay = new Date(s).toDateString() === new Date(e).toDateString();
  return `${dateTime.format(s)} – ${sameDay ? timeOnly.format(e) : dateTime.format(e)}`;
}

/** A Date as the value of an `<input type="datetime-local">` (local time, minutes). */
export function toLocalInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** An `<input type="datetime-local">` value as RFC 3339 UTC, or null when empty/unreadable. */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}
