// What the replay page asks the API for: recordings (a session's or a
// course's), this user's position in one, and the session's chat. The
// timing rules of the chat replay are plain functions, tested in Node.
import { api } from '../../lib/api';
import { currentToken } from '../../lib/auth';

export type RecordingState = 'recording' | 'processing' | 'ready' | 'failed' | 'deleted';

export interface RecordingView {
  id: string;
  session_id: string;
  part: number;
  state: RecordingState;
  duration_seconds: number | null;
  size_bytes: number | null;
  created_at: string;
  created_at_ms?: number;
  stopped_at: string | null;
  ready_at: string | null;
  error: string | null;
  url: string | null;
  session_title?: string;
  download_url?: string | null;
  /** The layouts the class's broadcast showed (speaker, stage, screen share). */
  chapters?: Chapter[];
}

export interface Chapter {
  at_seconds: number;
  layout: 'speaker' | 'stage' | 'screen' | 'auto';
  title: string;
}

export interface ChatLine {
  id: string;
  sender_name: string;
  text: string;
  at: string;
  at_ms: number;
  reply_to: string | null;
}

/** Where the recording's first frame is in wall-clock time (epoch ms). */
export const startMs = (r: RecordingView): number => r.created_at_ms ?? Date.parse(r.created_at);

export function newestFirst(list: RecordingView[]): RecordingView[] {
  return [...list].sort((a, b) => startMs(b) - startMs(a) || b.part - a.part);
}

/** The one to open: the asked-for one, else the newest that plays, else the newest. */
export function pick(list: RecordingView[], wanted: string | null): RecordingView | null {
  return list.find((r) => r.id === wanted) ?? list.find((r) => r.state === 'ready') ?? list[0] ?? null;
}

/** The chat lines written up to `positionS` into the recording, oldest first. */
export function linesUpTo(lines: ChatLine[], recordingStartMs: number, positionS: number): ChatLine[] {
  const upTo = recordingStartMs + positionS * 1000;
  return lines.filter((l) => l.at_ms <= upTo);
}

/** A chat line's place in the recording, in seconds (negative: before it started). */
export const offsetS = (line: ChatLine, recordingStartMs: number): number => (line.at_ms - recordingStartMs) / 1000;

const sessionPath = (id: string) => `/api/sessions/${encodeURIComponent(id)}`;
const recordingPath = (id: string) => `/api/recordings/${encodeURIComponent(id)}`;

export async function sessionRecordings(session: string): Promise<{ record: boolean; recordings: RecordingView[] }> {
  const body = await api<{ record: boolean; recordings: RecordingView[] }>('GET', `${sessionPath(session)}/recordings`);
  return { record: body.record, recordings: newestFirst(body.recordings) };
}

export async function courseRecordings(course: string): Promise<RecordingView[]> {
  const body = await api<RecordingView[] | { recordings: RecordingView[] }>('GET', `/api/recordings?course=${encodeURIComponent(course)}`);
  return newestFirst(Array.isArray(body) ? body : body.recordings);
}

export async function savedPosition(recording: string): Promise<number | null> {
  const body = await api<{ position_s: number | null }>('GET', `${recordingPath(recording)}/position`);
  return typeof body.position_s === 'number' ? body.position_s : null;
}

/** Stores the position; `leaving` lets the request outlive the page (pagehide). */
export async function savePosition(recording: string, positionS: number, leaving = false): Promise<void> {
  if (!leaving) return api<void>('PUT', `${recordingPath(recording)}/position`, { position_s: positionS });
  const token = currentToken();
  await fetch(`${recordingPath(recording)}/position`, {
    method: 'PUT',
    keepalive: true,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ position_s: positionS }),
  });
}

const CHAT_PAGE = 500;
const CHAT_MAX_PAGES = 40;

/** The session's chat from `sinceMs` on, every page of it (up to 20 000 lines). */
export async function sessionChat(session: string, sinceMs: number, untilMs: number | null): Promise<ChatLine[]> {
  const lines: ChatLine[] = [];
  let since: number | null = Math.floor(sinceMs);
  for (let page = 0; since !== null && page < CHAT_MAX_PAGES; page++) {
    const body: { messages: ChatLine[]; next_since_ms: number | null } = await api(
      'GET',
      `${sessionPath(session)}/chat?since_ms=${since}&limit=${CHAT_PAGE}`,
    );
    lines.push(...body.messages);
    const next = body.next_since_ms;
    // Stop past the recording's end, and if the server does not move on.
    since = next !== null && next > since && (untilMs === null || next <= untilMs) ? next : null;
  }
  const seen = new Set<string>();
  return lines.filter((l) => !seen.has(l.id) && seen.add(l.id) && (untilMs === null || l.at_ms <= untilMs));
}
