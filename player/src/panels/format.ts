// Small pure helpers the panels share (and the unit tests check): times,
// mention highlighting, names.
import type { ChatMessage, Participant, Quality } from '../room/protocol';

/** "10:15" in the viewer's time zone (RFC 3339 in; '' when unreadable). */
export function clockTime(at: string): string {
  const ms = Date.parse(at);
  if (!Number.isFinite(ms)) return '';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "Ada Lovelace" → "AL"; one letter for one word. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter((w) => w !== '');
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => Array.from(w)[0]?.toUpperCase() ?? '').join('') || '?';
}

export interface TextPart {
  text: string;
  /** The participant this `@name` mentions. */
  mention?: string;
}

/**
 * Splits a message's text into plain parts and `@name` mentions of the
 * participants the server resolved (`mentions`): names match
 * case-insensitively, the longest name first, as the server matches them.
 */
export function splitMentions(text: string, mentions: string[], names: Map<string, string>): TextPart[] {
  const targets = mentions
    .map((id) => ({ id, name: names.get(id) ?? '' }))
    .filter((t) => t.name !== '')
    .sort((a, b) => b.name.length - a.name.length);
  if (targets.length === 0) return [{ text }];
  const lower = text.toLowerCase();
  const parts: TextPart[] = [];
  let plainFrom = 0;
  let i = 0;
  while (i < text.length) {
    const at = lower.indexOf('@', i);
    if (at < 0) break;
    const hit = targets.find((t) => lower.startsWith(t.name.toLowerCase(), at + 1));
    if (!hit) {
      i = at + 1;
      continue;
    }
    if (at > plainFrom) parts.push({ text: text.slice(plainFrom, at) });
    const end = at + 1 + hit.name.length;
    parts.push({ text: text.slice(at, end), mention: hit.id });
    plainFrom = end;
    i = end;
  }
  if (plainFrom < text.length) parts.push({ text: text.slice(plainFrom) });
  return parts;
}

/** The names of everyone we may meet in a message: present participants and senders. */
export function nameDirectory(participants: Participant[], chat: ChatMessage[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of chat) names.set(m.sender_id, m.sender_name);
  for (const p of participants) names.set(p.id, p.name);
  return names;
}

/** The `@query` being typed just before the caret, or null. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const at = before.lastIndexOf('@');
  if (at < 0) return null;
  // "a@b" is an e-mail address, not a mention.
  if (at > 0 && /\S/.test(before[at - 1] ?? '')) return null;
  const query = before.slice(at + 1);
  if (query.length > 40 || /\n/.test(query)) return null;
  return { start: at, query };
}

/** Participants whose name starts with (then contains) `query`, at most `limit`. */
export function mentionSuggestions(query: string, participants: Participant[], selfId: string | null, limit = 5): Participant[] {
  const q = query.toLowerCase();
  const others = participants.filter((p) => p.id !== selfId);
  const starts = others.filter((p) => p.name.toLowerCase().startsWith(q));
  const contains = others.filter((p) => !p.name.toLowerCase().startsWith(q) && p.name.toLowerCase().includes(q));
  return [...starts, ...contains].slice(0, limit);
}

export function qualityWords(quality: Quality): string {
  switch (quality) {
    case 'green':
      return 'Good connection';
    case 'yellow':
      return 'Unstable connection';
    case 'red':
      return 'Poor connection';
    default:
      return 'No media connection';
  }
}

/** "50%": whole percent, as a teacher reads a chart. */
export function percent(value: number): string {
  return `${Math.round(value)}%`;
}

export function roleWords(role: string): string {
  if (role === 'instructor') return 'Instructor';
  if (role === 'guest') return 'Guest';
  return 'Student';
}
