// Chat: messages with sender, time, the message they reply to, @mentions
// (a message that mentions you stands out, also for screen readers),
// reactions, Reply and (instructors) Delete; a composer with @-mention
// suggestions. Guests read only; a muted student is told so.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage, Participant } from '../room/protocol';
import type { RoomState } from '../room/state';
import { Button } from '../ui';
import { clockTime, mentionQuery, mentionSuggestions, nameDirectory, splitMentions } from './format';
import type { PanelProps } from './types';
import './chat.css';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '👏'];
const MAX_CHARS = 2000;

/** The refusal to show after our own send, in words a student understands. */
function refusalWords(err: NonNullable<RoomState['lastError']>): string {
  switch (err.code) {
    case 'muted':
      return 'The instructor has turned off chat for you.';
    case 'rate_limited':
      return 'You are sending messages too quickly. Wait a moment and try again.';
    case 'not_delivered':
      return 'Your message could not be delivered. Send it again.';
    case 'forbidden':
      return 'You cannot write in this chat.';
    case 'not_found':
      return 'That message is no longer in the chat.';
    default:
      return err.message;
  }
}

function Reactions(props: { message: ChatMessage; youId: string | null; canReact: boolean; names: Map<string, string>; onReact: (emoji: string) => void }) {
  const entries = Object.entries(props.message.reactions).filter(([, ids]) => ids.length > 0);
  if (entries.length === 0) return null;
  return (
    <div class="reactions">
      {entries.map(([emoji, ids]) => {
        const mine = props.youId !== null && ids.includes(props.youId);
        const who = ids.map((id) => props.names.get(id) ?? 'someone').join(', ');
        const label = `${emoji} ${ids.length}, from ${who}`;
        return props.canReact ? (
          <button key={emoji} type="button" class={mine ? 'chip chip-mine' : 'chip'} aria-pressed={mine} aria-label={label} title={who} onClick={() => props.onReact(emoji)}>
            <span aria-hidden="true">{emoji}</span> <span aria-hidden="true">{ids.length}</span>
          </button>
        ) : (
          <span key={emoji} class="chip" title={who}>
            <span aria-hidden="true">
              {emoji} {ids.length}
            </span>
            <span class="visually-hidden">{label}</span>
          </span>
        );
      })}
    </div>
  );
}

/** Add a reaction: a small choice of emoji. */
function ReactionPicker(props: { onReact: (emoji: string) => void }) {
  const [picking, setPicking] = useState(false);
  return (
    <span class="react-add">
      <button type="button" class="tool" aria-expanded={picking} aria-label="Add reaction" title="Add reaction" onClick={() => setPicking(!picking)}>
        <span aria-hidden="true">☺</span>
      </button>
      {picking ? (
        <span class="react-picker" role="group" aria-label="Reactions">
          {QUICK_REACTIONS.map((emoji) => (
            <button
              key={emoji}
              type="button"
              class="react-option"
              aria-label={`React with ${emoji}`}
              onClick={() => {
                props.onReact(emoji);
                setPicking(false);
              }}
            >
              {emoji}
            </button>
          ))}
        </span>
      ) : null}
    </span>
  );
}

function MessageItem(props: {
  message: ChatMessage;
  quoted: ChatMessage | null | undefined;
  you: Participant | null;
  names: Map<string, string>;
  canWrite: boolean;
  instructor: boolean;
  onReply: () => void;
  onDelete: () => void;
  onReact: (emoji: string) => void;
}) {
  const m = props.message;
  const youId = props.you?.id ?? null;
  const mentionsYou = youId !== null && m.mentions.includes(youId);
  const own = m.sender_id === youId;
  const parts = splitMentions(m.text, m.mentions, props.names);
  return (
    <li class={`msg${mentionsYou ? ' msg-mention' : ''}${own ? ' msg-own' : ''}`}>
      <div class="msg-head">
        <span class="msg-sender">{own ? 'You' : m.sender_name}</span>
        <time class="msg-time" dateTime={m.at}>
          {clockTime(m.at)}
        </time>
        {mentionsYou ? <span class="mention-mark">Mentions you</span> : null}
        {props.canWrite || props.instructor ? (
          <span class="msg-tools">
            {props.canWrite ? <ReactionPicker onReact={props.onReact} /> : null}
            {props.canWrite ? (
              <button type="button" class="tool" onClick={props.onReply}>
                Reply<span class="visually-hidden"> to {m.sender_name}</span>
              </button>
            ) : null}
            {props.instructor ? (
              <button type="button" class="tool tool-danger" onClick={props.onDelete}>
                Delete<span class="visually-hidden"> message from {m.sender_name}</span>
              </button>
            ) : null}
          </span>
        ) : null}
      </div>
      {m.reply_to ? (
        <blockquote class="msg-quote">
          <span class="visually-hidden">Replying to </span>
          {props.quoted ? (
            <>
              <span class="quote-sender">{props.quoted.sender_name}</span>
              <span class="quote-text">{props.quoted.text}</span>
            </>
          ) : (
            <span class="quote-text muted">an earlier message</span>
          )}
        </blockquote>
      ) : null}
      <p class="msg-text">
        {parts.map((part, i) =>
          part.mention ? (
            <span key={i} class={part.mention === youId ? 'mention mention-you' : 'mention'}>
              {part.text}
            </span>
          ) : (
            part.text
          ),
        )}
      </p>
      <Reactions message={m} youId={youId} canReact={props.canWrite} names={props.names} onReact={props.onReact} />
    </li>
  );
}

function Composer(props: { room: PanelProps['room']; replyTo: ChatMessage | null; onSent: () => void; onCancelReply: () => void }) {
  const { room } = props;
  const s = room.state.value;
  const [text, setText] = useState('');
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [sentAt, setSentAt] = useState<number | null>(null);
  const [closedSuggestions, setClosedSuggestions] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  const query = closedSuggestions ? null : mentionQuery(text, caret);
  const suggestions = query ? mentionSuggestions(query.query, s.participants, s.you?.id ?? null) : [];

  useEffect(() => {
    if (props.replyTo) input.current?.focus();
  }, [props.replyTo]);

  const refusal = s.lastError && sentAt !== null && s.lastError.atMs >= sentAt ? s.lastError : null;

  const pick = (p: Participant) => {
    if (!query) return;
    const next = `${text.slice(0, query.start)}@${p.name} ${text.slice(caret)}`;
    const pos = query.start + p.name.length + 2;
    setText(next);
    setCaret(pos);
    setActive(0);
    requestAnimationFrame(() => {
      input.current?.focus();
      input.current?.setSelectionRange(pos, pos);
    });
  };

  const submit = () => {
    const body = text.trim();
    if (body === '' || body.length > MAX_CHARS) return;
    room.send(props.replyTo ? { type: 'chat', text: body, reply_to: props.replyTo.id } : { type: 'chat', text: body });
    setSentAt(Date.now());
    setText('');
    setCaret(0);
    props.onSent();
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (suggestions.length > 0) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setActive((active + step + suggestions.length) % suggestions.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        const chosen = suggestions[Math.min(active, suggestions.length - 1)];
        if (chosen) {
          e.preventDefault();
          pick(chosen);
          return;
        }
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setClosedSuggestions(true);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  };

  const sync = (el: HTMLTextAreaElement) => {
    setText(el.value);
    setCaret(el.selectionStart ?? el.value.length);
    setClosedSuggestions(false);
  };

  const over = text.length > MAX_CHARS;
  return (
    <div class="composer">
      {refusal ? (
        <div class="composer-refusal" role="alert">
          {refusalWords(refusal)}
        </div>
      ) : null}
      {props.replyTo ? (
        <div class="composer-reply">
          <span>
            Replying to <strong>{props.replyTo.sender_name}</strong>: <span class="quote-text">{props.replyTo.text}</span>
          </span>
          <button type="button" class="link-button" onClick={props.onCancelReply}>
            Cancel reply
          </button>
        </div>
      ) : null}
      {suggestions.length > 0 ? (
        <ul class="mention-list" role="listbox" id="mention-list" aria-label="People to mention">
          {suggestions.map((p, i) => (
            <li
              key={p.id}
              id={`mention-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'mention-option active' : 'mention-option'}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(p);
              }}
            >
              {p.name}
            </li>
          ))}
        </ul>
      ) : null}
      <div class="composer-row">
        <label class="visually-hidden" for="chat-input">
          Message
        </label>
        <textarea
          id="chat-input"
          ref={input}
          rows={2}
          value={text}
          placeholder="Message the class"
          title="Enter sends, Shift+Enter starts a new line"
          aria-describedby={over ? 'chat-too-long' : undefined}
          onInput={(e) => sync(e.currentTarget)}
          onKeyUp={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
          onClick={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
          onKeyDown={onKeyDown}
        />
        <Button variant="primary" onClick={submit} disabled={text.trim() === '' || over}>
          Send
        </Button>
      </div>
      {over ? (
        <p class="composer-hint warn" id="chat-too-long">
          {text.length - MAX_CHARS} characters too long (at most {MAX_CHARS}).
        </p>
      ) : null}
    </div>
  );
}

export function ChatPanel({ room }: PanelProps) {
  const s = room.state.value;
  const [replyTo, setReplyTo] = useState<ChatMessage | null>(null);
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const names = nameDirectory(s.participants, s.chat);
  const byId = new Map(s.chat.map((m) => [m.id, m]));
  const instructor = s.you?.role === 'instructor';
  const role = s.you?.role;
  const canWrite = (role === 'instructor' || role === 'student') && !(s.you?.chat_muted ?? false);

  // Keep the newest message in view unless the reader scrolled up.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [s.chat.length]);
  // Shown again after another tab (or resized): back to the newest.
  useEffect(() => {
    const el = list.current;
    if (!el || typeof ResizeObserver === 'undefined') return undefined;
    const watcher = new ResizeObserver(() => {
      if (stick.current) el.scrollTop = el.scrollHeight;
    });
    watcher.observe(el);
    return () => watcher.disconnect();
  }, []);

  // A reply to a message that was deleted meanwhile: drop it.
  const reply = replyTo && byId.has(replyTo.id) ? replyTo : null;

  return (
    <section class="panel-section chat" aria-labelledby="chat-heading">
      <h3 id="chat-heading" class="visually-hidden">
        Chat
      </h3>
      <ol
        class="chat-log"
        ref={list}
        aria-live="polite"
        aria-relevant="additions"
        aria-label="Chat messages"
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {s.chat.length === 0 ? <li class="empty">No messages yet. Say hello!</li> : null}
        {s.chat.map((m) => (
          <MessageItem
            key={m.id}
            message={m}
            quoted={m.reply_to ? (byId.get(m.reply_to) ?? null) : undefined}
            you={s.you}
            names={names}
            canWrite={canWrite}
            instructor={instructor}
            onReply={() => setReplyTo(m)}
            onDelete={() => room.send({ type: 'delete_message', message_id: m.id })}
            onReact={(emoji) => room.send({ type: 'react', message_id: m.id, emoji })}
          />
        ))}
      </ol>
      {role === 'guest' ? (
        <p class="chat-note">Guests can read the chat but not write in it.</p>
      ) : s.you?.chat_muted ? (
        <p class="chat-note warn" role="status">
          The instructor has turned off chat for you.
        </p>
      ) : s.you ? (
        <Composer
          room={room}
          replyTo={reply}
          onSent={() => {
            stick.current = true;
            setReplyTo(null);
          }}
          onCancelReply={() => setReplyTo(null)}
        />
      ) : null}
    </section>
  );
}
