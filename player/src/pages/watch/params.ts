// The watch page's address: #token=..&session=..&mode=.. (the query string
// works too), and the mode to start in.

export type ViewMode = 'webrtc' | 'hls' | 'audio';

export const MODES: readonly ViewMode[] = ['webrtc', 'hls', 'audio'];

/** A parameter of the fragment, else of the query, trimmed ('' when absent). */
export function paramReader(search: string, hash: string): (key: string) => string {
  const q = new URLSearchParams(search);
  const h = new URLSearchParams(hash.replace(/^#/, ''));
  return (k) => (h.get(k) ?? q.get(k) ?? '').trim();
}

/** The role claim of the JWT, unverified (only to pick a default). */
export function tokenRole(token: string): unknown {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return (JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='))) as { role?: unknown } | null)?.role ?? null;
  } catch {
    return null;
  }
}

/** mode= from the URL; otherwise WebRTC for students and instructors, HLS for the rest. */
export function initialMode(asked: string, token: string): ViewMode {
  const mode = MODES.find((m) => m === asked.toLowerCase());
  if (mode) return mode;
  const role = tokenRole(token);
  return role === 'student' || role === 'instructor' ? 'webrtc' : 'hls';
}
