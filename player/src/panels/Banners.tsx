// What the page says about the class link and the instructor's alerts:
// reconnecting, replaced by another tab, removed, not admitted (LinkBanner);
// the quiet-class alert (AlertBanner); the recent reactions (ReactionsFeed).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { RoomState } from '../room/state';
import type { LinkState } from '../room/connection';
import { Button } from '../ui';
import type { PanelProps } from './types';
import './banners.css';

/** The words for where we stand, or null when all is well. */
export function linkWords(link: LinkState, standing: RoomState['standing']): { tone: 'info' | 'warn' | 'error'; text: string } | null {
  switch (standing.kind) {
    case 'replaced':
      return { tone: 'warn', text: 'You joined this class from another tab or device, so this page stopped following it.' };
    case 'kicked':
      return { tone: 'error', text: `You were removed from this class: ${standing.reason}` };
    case 'denied':
      return { tone: 'error', text: `You were not let into this class: ${standing.reason}` };
    case 'unauthorized':
      return { tone: 'error', text: `This class link no longer works (${standing.reason || 'sign-in refused'}). Ask your instructor for a new one.` };
    default:
      break;
  }
  if (link === 'reconnecting') return { tone: 'info', text: 'Connection to the class lost. Reconnecting…' };
  if (link === 'closed') return { tone: 'info', text: 'You left the class.' };
  return null;
}

export function LinkBanner({ room }: PanelProps) {
  const words = linkWords(room.link.value, room.state.value.standing);
  if (!words) return null;
  return (
    <div class={`link-banner link-banner-${words.tone}`} role={words.tone === 'error' ? 'alert' : 'status'}>
      {words.tone === 'info' && room.link.value === 'reconnecting' ? <span class="spinner" aria-hidden="true" /> : null}
      <span>{words.text}</span>
      {room.state.value.standing.kind === 'replaced' ? (
        <Button small onClick={() => location.reload()}>
          Use this tab instead
        </Button>
      ) : null}
    </div>
  );
}

/** The instructor's quiet-class alert: subtle, dismissable. */
export function AlertBanner({ room }: PanelProps) {
  const alert = room.state.value.alert;
  const [dismissedAt, setDismissedAt] = useState(0);
  if (!alert || alert.atMs <= dismissedAt) return null;
  return (
    <div class="alert-banner" role="status">
      <span class="alert-icon" aria-hidden="true">
        💤
      </span>
      <span class="alert-text">
        {alert.kind === 'quiet' ? <strong>Quiet class. </strong> : null}
        {alert.message}
        {alert.kind === 'quiet' ? ' A question or a quick poll may bring them back.' : null}
      </span>
      <button type="button" class="link-button" onClick={() => setDismissedAt(alert.atMs)}>
        Dismiss
      </button>
    </div>
  );
}

interface FeedItem {
  key: number;
  emoji: string;
  name: string;
  atMs: number;
}

const FEED_KEEP_MS = 15_000;
const FEED_MAX = 6;

/**
 * The reactions added lately, newest first: found by comparing each
 * message's reactions with what they were (the server sends a message's
 * whole set after each change).
 */
export function ReactionsFeed({ room }: PanelProps) {
  const s = room.state.value;
  const seen = useRef<Map<string, Set<string>> | null>(null);
  const nextKey = useRef(0);
  const [items, setItems] = useState<FeedItem[]>([]);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const current = new Map<string, Set<string>>();
    const added: FeedItem[] = [];
    const names = new Map(s.participants.map((p) => [p.id, p.name]));
    for (const m of s.chat) {
      const keys = new Set<string>();
      for (const [emoji, ids] of Object.entries(m.reactions)) for (const id of ids) keys.add(`${emoji}\u0000${id}`);
      current.set(m.id, keys);
      const before = seen.current?.get(m.id);
      if (!seen.current || !before) continue; // history, not news
      for (const k of keys) {
        if (before.has(k)) continue;
        const [emoji = '', id = ''] = k.split('\u0000');
        added.push({ key: nextKey.current++, emoji, name: names.get(id) ?? 'Someone', atMs: Date.now() });
      }
    }
    // New messages count as seen only from now on.
    seen.current = current;
    if (added.length > 0) setItems((old) => [...added.reverse(), ...old].slice(0, FEED_MAX));
  }, [s.chat, s.participants]);

  useEffect(() => {
    if (items.length === 0) return undefined;
    const timer = setInterval(() => {
      const t = Date.now();
      setNow(t);
      setItems((old) => old.filter((i) => t - i.atMs < FEED_KEEP_MS));
    }, 1000);
    return () => clearInterval(timer);
  }, [items.length]);

  const fresh = items.filter((i) => now - i.atMs < FEED_KEEP_MS);
  if (fresh.length === 0) return null;
  return (
    <section class="reactions-feed" aria-label="Recent reactions">
      <ul>
        {fresh.map((i) => (
          <li key={i.key}>
            <span class="feed-emoji" aria-hidden="true">
              {i.emoji}
            </span>
            <span class="visually-hidden">{i.emoji} from </span>
            <span class="feed-name">{i.name}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
