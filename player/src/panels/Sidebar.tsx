// The side panel of the studio and the classroom: tabs for People (with the
// lobby, instructors), Chat, Hands and Polls, each with a count, and the
// recent reactions underneath.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ReactionsFeed } from './Banners';
import { ChatPanel } from './Chat';
import { HandsPanel } from './Hands';
import { LobbyPanel, ParticipantsPanel } from './People';
import { PollsPanel } from './Polls';
import type { PanelProps } from './types';
import './sidebar.css';

type Tab = 'people' | 'chat' | 'hands' | 'polls';
const TABS: { id: Tab; label: string }[] = [
  { id: 'people', label: 'People' },
  { id: 'chat', label: 'Chat' },
  { id: 'hands', label: 'Hands' },
  { id: 'polls', label: 'Polls' },
];

/** Chat messages from others that arrived while the Chat tab was not shown. */
function useUnread(room: PanelProps['room'], chatShown: boolean): number {
  const s = room.state.value;
  const seen = useRef<Set<string> | null>(null);
  const [, force] = useState(0);
  useEffect(() => {
    if (s.standing.kind !== 'in') return;
    // The history a welcome brings is not news.
    if (seen.current === null || chatShown) {
      const all = seen.current ?? new Set<string>();
      let added = false;
      for (const m of s.chat) {
        if (!all.has(m.id)) {
          all.add(m.id);
          added = true;
        }
      }
      seen.current = all;
      if (added) force((n) => n + 1);
    }
  }, [s.chat, chatShown, s.standing.kind]);
  const known = seen.current;
  if (!known) return 0;
  return s.chat.filter((m) => !known.has(m.id) && m.sender_id !== s.you?.id).length;
}

function Waiting({ room }: PanelProps) {
  const kind = room.state.value.standing.kind;
  const text =
    kind === 'waiting'
      ? 'You are in the lobby. The instructor will let you in shortly.'
      : kind === 'connecting'
        ? 'Joining the class…'
        : 'You are not in the class.';
  return (
    <div class="sidebar-waiting" role="status">
      {kind === 'waiting' || kind === 'connecting' ? <span class="spinner" aria-hidden="true" /> : null}
      <p>{text}</p>
    </div>
  );
}

export function Sidebar({ room }: PanelProps) {
  const s = room.state.value;
  const [tab, setTab] = useState<Tab>('chat');
  const unread = useUnread(room, tab === 'chat');
  const instructor = s.you?.role === 'instructor';
  const openPolls = s.polls.filter((p) => !p.closed).length;
  const counts: Record<Tab, { n: number; words: string; attention: boolean }> = {
    people: instructor && s.lobby.waiting.length > 0
      ? { n: s.lobby.waiting.length, words: 'waiting in the lobby', attention: true }
      : { n: s.participants.length, words: 'in class', attention: false },
    chat: { n: unread, words: 'unread', attention: unread > 0 },
    hands: { n: s.hands.length, words: 'raised', attention: instructor && s.hands.length > 0 },
    polls: { n: openPolls, words: 'open', attention: !instructor && openPolls > 0 },
  };
  const tabs = useRef<Record<string, HTMLButtonElement | null>>({});

  const onKeyDown = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    let next = -1;
    if (e.key === 'ArrowRight') next = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') next = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = TABS.length - 1;
    const target = TABS[next];
    if (!target) return;
    e.preventDefault();
    setTab(target.id);
    tabs.current[target.id]?.focus();
  };

  return (
    <aside class="sidebar" aria-label="Class">
      {s.standing.kind !== 'in' ? (
        <Waiting room={room} />
      ) : (
        <>
          <div class="tabs" role="tablist" aria-label="Class panels" onKeyDown={onKeyDown}>
            {TABS.map((t) => {
              const c = counts[t.id];
              const show = c.n > 0;
              return (
                <button
                  key={t.id}
                  ref={(el) => {
                    tabs.current[t.id] = el;
                  }}
                  type="button"
                  role="tab"
                  id={`tab-${t.id}`}
                  aria-selected={tab === t.id}
                  aria-controls={`panel-${t.id}`}
                  tabIndex={tab === t.id ? 0 : -1}
                  class={tab === t.id ? 'tab tab-active' : 'tab'}
                  onClick={() => setTab(t.id)}
                >
                  {t.label}
                  {show ? (
                    <span class={c.attention ? 'count count-attention' : 'count'}>
                      {c.n}
                      <span class="visually-hidden"> {c.words}</span>
                    </span>
                  ) : null}
                </button>
              );
            })}
          </div>
          {/* Every panel stays mounted (a draft, a half-made poll survive a tab switch). */}
          {TABS.map((t) => (
            <div
              key={t.id}
              class="tab-panel"
              role="tabpanel"
              id={`panel-${t.id}`}
              aria-labelledby={`tab-${t.id}`}
              hidden={tab !== t.id}
            >
              {t.id === 'people' ? (
                <>
                  <LobbyPanel room={room} />
                  <ParticipantsPanel room={room} />
                </>
              ) : null}
              {t.id === 'chat' ? <ChatPanel room={room} /> : null}
              {t.id === 'hands' ? <HandsPanel room={room} /> : null}
              {t.id === 'polls' ? <PollsPanel room={room} /> : null}
            </div>
          ))}
          <ReactionsFeed room={room} />
        </>
      )}
    </aside>
  );
}
