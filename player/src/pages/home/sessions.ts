// What the home page asks the API for: the instructor's sessions, creating
// one, its invite links and its attendance report. Shapes as the server
// sends them (src/http/sessions.rs, src/control/report.rs, docs/web.md).
import { api, errorFrom, ApiError, wordsFor } from '../../lib/api';
import { currentToken } from '../../lib/auth';

export type SessionState = 'scheduled' | 'live' | 'ended';

export interface SessionView {
  id: string;
  title: string;
  instructor: { id: string; name: string };
  state: SessionState;
  live: boolean;
  scheduled_start: string | null;
  scheduled_end: string | null;
  max_webrtc_viewers: number;
  record: boolean;
  guests_webrtc: boolean;
  created_at: string;
  course?: string | null;
  allow_download?: boolean;
  viewers?: { webrtc: number; hls: number };
}

export interface NewSession {
  title: string;
  scheduled_start: string | null;
  scheduled_end: string | null;
  record: boolean;
  max_webrtc_viewers?: number;
  guests_webrtc: boolean;
  course?: string;
  allow_download?: boolean;
}

export type InviteRole = 'student' | 'guest';

export interface Invite {
  id: string;
  code: string;
  role: InviteRole;
  url: string;
  expires_at: string;
  max_uses: number | null;
  uses: number;
  revoked: boolean;
  created_at: string;
}

export interface ParticipantReport {
  participant_id: string;
  name: string;
  role: string;
  attendance_minutes: number;
  joins: number;
  first_join: string | null;
  last_leave: string | null;
  present: boolean;
  chat_messages: number;
  reactions: number;
  hand_raises: number;
  polls_answered: number;
}

export interface SessionReport {
  session_id: string;
  generated_at: string;
  participants: ParticipantReport[];
  totals: {
    participants: number;
    chat_messages: number;
    reactions: number;
    hand_raises: number;
    polls: { id: string; question: string; respondents: number }[];
    poll_participation: number;
  };
}

const path = (id: string) => `/api/sessions/${encodeURIComponent(id)}`;

export const listSessions = () => api<SessionView[]>('GET', '/api/sessions');
export const createSession = (s: NewSession) => api<SessionView>('POST', '/api/sessions', s);
export const listInvites = (id: string) => api<Invite[]>('GET', `${path(id)}/invites`);
export const createInvite = (id: string, role: InviteRole) => api<Invite>('POST', `${path(id)}/invites`, { role });
export const revokeInvite = (id: string, invite: string) =>
  api<void>('DELETE', `${path(id)}/invites/${encodeURIComponent(invite)}`);
export const sessionReport = (id: string) => api<SessionReport>('GET', `${path(id)}/report`);

/** Live first, then scheduled, then ended; newest first within each. */
export function grouped(sessions: SessionView[]): Record<SessionState, SessionView[]> {
  const key = (s: SessionView) => Date.parse(s.scheduled_start ?? s.created_at) || 0;
  const byNewest = [...sessions].sort((a, b) => key(b) - key(a));
  return {
    live: byNewest.filter((s) => s.state === 'live' || (s.state !== 'ended' && s.live)),
    scheduled: byNewest.filter((s) => s.state === 'scheduled' && !s.live),
    ended: byNewest.filter((s) => s.state === 'ended'),
  };
}

/** An invite still good for joining: not withdrawn, not expired, uses left. */
export function usable(invite: Invite, nowMs = Date.now()): boolean {
  if (invite.revoked) return false;
  if (Date.parse(invite.expires_at) <= nowMs) return false;
  return invite.max_uses === null || invite.uses < invite.max_uses;
}

/** The session's attendance as a CSV file (name from the server's Content-Disposition). */
export async function reportCsv(id: string, title: string): Promise<{ blob: Blob; filename: string }> {
  const token = currentToken();
  let res: Response;
  try {
    res = await fetch(`${path(id)}/report.csv`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  } catch {
    throw new ApiError(0, wordsFor(0));
  }
  if (!res.ok) throw await errorFrom(res);
  const disposition = res.headers.get('Content-Disposition') ?? '';
  const named = /filename="([^"]+)"/.exec(disposition)?.[1];
  return { blob: await res.blob(), filename: named ?? `${safeFileName(title)}-attendance.csv` };
}

function safeFileName(title: string): string {
  return title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim().slice(0, 80) || 'class';
}
