// What the classroom needs of `GET /api/sessions/{id}` (src/http/sessions.rs
// SessionView), and the recording-consent answer (src/http/recordings.rs).
import { api } from '../../lib/api';

export interface ClassSession {
  id: string;
  title: string;
  instructor: { id: string; name: string };
  state: 'scheduled' | 'live' | 'ended';
  live: boolean;
  record: boolean;
  whep_url: string;
  hls_url: string;
  whip_url: string;
}

export const loadSession = (id: string) => api<ClassSession>('GET', `/api/sessions/${encodeURIComponent(id)}`);

export const answerConsent = (id: string, consent: boolean) =>
  api<unknown>('PUT', `/api/sessions/${encodeURIComponent(id)}/consent`, { consent });

// The answer is kept per session and user, so the question is asked once.
const consentKey = (session: string, user: string) => `classcast.consent.${session}.${user}`;

export function consentAnswered(session: string, user: string): boolean {
  try {
    return localStorage.getItem(consentKey(session, user)) !== null;
  } catch {
    return false;
  }
}

export function rememberConsent(session: string, user: string, consent: boolean): void {
  try {
    localStorage.setItem(consentKey(session, user), String(consent));
  } catch {
    // Private mode without storage: asked again next time.
  }
}
