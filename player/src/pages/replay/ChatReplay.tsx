// The session's chat beside the recording: each line appears when the video
// reaches the moment it was written (all earlier ones at once after a seek).
import type { Signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { clock } from '../../lib/timefmt';
import { linesUpTo, offsetS, sessionChat, startMs, type ChatLine, type RecordingView } from './recordings';

export function ChatReplay(props: { rec: RecordingView; time: Signal<number> }) {
  const { rec } = props;
  const [lines, setLines] = useState<ChatLine[] | null>(null);
  const [error, setError] = useState('');
  const list = useRef<HTMLOListElement>(null);
  const start = startMs(rec);

  useEffect(() => {
    let gone = false;
    setLines(null);
    setError('');
    const until = rec.stopped_at ? Date.parse(rec.stopped_at) : null;
    sessionChat(rec.session_id, start, Number.isNaN(until) ? null : until).then(
      (all) => !gone && setLines(all),
      (e) => {
        if (gone) return;
        setError(
          e instanceof ApiError && e.status === 404
            ? 'The chat of this class cannot be shown here.'
            : `The chat could not be loaded: ${e instanceof ApiError ? e.message : 'try reloading the page'}.`,
        );
      },
    );
    return () => {
      gone = true;
    };
  }, [rec.id]);

  const shown = lines ? linesUpTo(lines, start, props.time.value) : [];
  const byId = new Map((lines ?? []).map((l) => [l.id, l]));

  // Keep the newest line in view as they appear.
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [shown.length]);

  return (
    <section class="card chat-replay" aria-labelledby="chat-replay-heading">
      <h2 id="chat-replay-heading">Class chat</h2>
      {error ? <p class="muted">{error}</p> : null}
      {!lines && !error ? <p class="muted">Loading the chat…</p> : null}
      {lines && lines.length === 0 ? <p class="muted">Nobody wrote in the chat during this recording.</p> : null}
      {lines && lines.length > 0 && shown.length === 0 ? (
        <p class="muted">Messages appear here at the moment they were written in class.</p>
      ) : null}
      <ol class="chat-lines" ref={list} tabIndex={shown.length ? 0 : undefined} aria-label="Chat messages so far">
        {shown.map((l) => {
          const parent = l.reply_to ? byId.get(l.reply_to) : undefined;
          return (
            <li key={l.id} class="chat-line">
              <div class="chat-head">
                <span class="chat-sender">{l.sender_name}</span>
                <span class="chat-time">{clock(Math.max(0, offsetS(l, start)))}</span>
              </div>
              {parent ? (
                <p class="chat-reply">
                  Replying to {parent.sender_name}: {parent.text.length > 80 ? `${parent.text.slice(0, 80)}…` : parent.text}
                </p>
              ) : null}
              <p class="chat-text">{l.text}</p>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
