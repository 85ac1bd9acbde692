// VOD resume: where a recording was left, kept in localStorage per session
// every 5 s, and where to start it again.
import { page, session, ui } from './page';

const SAVE_EVERY_MS = 5000;
const positionKey = `classcast.watch.position.${session}`;

export function savedPosition(): number {
  try {
    return Number(localStorage.getItem(positionKey)) || 0;
  } catch {
    return 0;
  }
}

/** Where to start a recording `duration` s long: the saved position, unless at the very start or end. */
export function resumePoint(duration: number): number | null {
  const at = savedPosition();
  return at > 1 && at < duration - 5 ? at : null;
}

export function formatTime(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

/** Saves the position of a recording being played, every 5 s. */
export function keepPosition(): void {
  setInterval(() => {
    const t = ui.video.currentTime;
    if (!page.isVod || !(t > 0) || ui.video.ended) return;
    try {
      localStorage.setItem(positionKey, t.toFixed(1));
    } catch {
      // storage disabled
    }
  }, SAVE_EVERY_MS);
}

/** Played to the end: next time starts from the beginning. */
export function forgetPosition(): void {
  try {
    localStorage.removeItem(positionKey);
  } catch {
    // storage disabled
  }
}

/** Native HLS knows it plays a recording once its duration is finite: resume it. */
export function resumeNative(): void {
  page.isVod = Number.isFinite(ui.video.duration);
  const at = savedPosition();
  if (page.isVod && at > 1 && at < ui.video.duration - 5) ui.video.currentTime = at;
}
