// Who the page acts as. Tokens are the API's JWTs: an instructor's comes from
// an LMS, `classcast token` or the link `make run` prints (`/#token=…`); a
// student's or guest's from redeeming an invite (or an LMS link
// `/class/{id}#token=…`). They live in localStorage, one per session for
// participants, so a reload or a second tab keeps the seat. The page never
// verifies a token (the server does); it only reads the claims to choose
// what to show.

export type Role = 'instructor' | 'student' | 'guest';

export interface Claims {
  sub: string;
  name: string;
  role: Role;
  session?: string;
  exp?: number;
}

const INSTRUCTOR_KEY = 'classcast.instructor';
const sessionKey = (session: string) => `classcast.session.${session}`;

let pageToken: string | null = null;

/** The token requests from this page carry (see `api`). */
export function currentToken(): string | null {
  return pageToken;
}

export function usePageToken(token: string | null): void {
  pageToken = token;
}

/** The claims of a JWT, or null when it is not one (or has expired). */
export function claimsOf(token: string, nowS = Date.now() / 1000): Claims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Claims>;
    if (typeof claims.sub !== 'string' || typeof claims.role !== 'string') return null;
    if (typeof claims.exp === 'number' && claims.exp < nowS) return null;
    return { name: claims.sub, ...claims } as Claims;
  } catch {
    return null;
  }
}

/** A `#token=…` in the address, removed from it once read (it is a secret). */
export function takeTokenFromHash(): string | null {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (!token) return null;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return token;
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, token: string | null): void {
  try {
    if (token) localStorage.setItem(key, token);
    else localStorage.removeItem(key);
  } catch {
    // Private mode without storage: the token lasts for this page only.
  }
}

export const instructorToken = (): string | null => read(INSTRUCTOR_KEY);
export const saveInstructorToken = (token: string | null): void => write(INSTRUCTOR_KEY, token);
export const participantToken = (session: string): string | null => read(sessionKey(session));
export const saveParticipantToken = (session: string, token: string | null): void => write(sessionKey(session), token);

/**
 * The token for a page about `session`: one in the address wins (and is
 * kept), then this browser's seat in that session, then the instructor's
 * (the studio asks for the instructor's first: a teacher who once opened
 * their class with a student link must still get in).
 */
export function tokenForSession(session: string, prefer: 'participant' | 'instructor' = 'participant'): string | null {
  const fromHash = takeTokenFromHash();
  if (fromHash) {
    const claims = claimsOf(fromHash);
    if (claims?.role === 'instructor') saveInstructorToken(fromHash);
    else saveParticipantToken(session, fromHash);
    return fromHash;
  }
  return prefer === 'instructor'
    ? (instructorToken() ?? participantToken(session))
    : (participantToken(session) ?? instructorToken());
}
