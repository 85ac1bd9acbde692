// An invite link (`/join/{code}`): what the class is, a display name, and in.
// A link that no longer works gets a page of its own saying what to do next.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { claimsOf, participantToken, saveParticipantToken } from '../../lib/auth';
import { span } from '../../lib/timefmt';
import { AppShell, Badge, Button, Field, Notice, mount, pathParam } from '../../ui';
import { MAX_NAME, nameProblem, readInvite, redeemInvite, type InviteInfo } from './invite';
import './join.css';

const code = pathParam('/join/');

type View =
  | { kind: 'loading' }
  | { kind: 'ready'; invite: InviteInfo }
  | { kind: 'invalid' }
  | { kind: 'gone'; words: string }
  | { kind: 'failed'; status: number; words: string; retryAfterS?: number };

/** How a refusal of the link itself reads (null: not about the link). */
function linkRefusal(e: unknown): View | null {
  if (!(e instanceof ApiError)) return null;
  if (e.status === 404) return { kind: 'invalid' };
  if (e.status === 410) return { kind: 'gone', words: e.message };
  return null;
}

function Page() {
  const [view, setView] = useState<View>(code ? { kind: 'loading' } : { kind: 'invalid' });

  const load = async () => {
    if (!code) return;
    setView({ kind: 'loading' });
    try {
      setView({ kind: 'ready', invite: await readInvite(code) });
    } catch (e) {
      const refusal = linkRefusal(e);
      if (refusal) return setView(refusal);
      const err = e instanceof ApiError ? e : new ApiError(0, 'The invite could not be checked.');
      setView({ kind: 'failed', status: err.status, words: err.message, retryAfterS: err.retryAfterS });
    }
  };

  useEffect(() => {
    void load();
  }, []);

  switch (view.kind) {
    case 'loading':
      return <p class="join-loading muted">Checking your invite link…</p>;
    case 'invalid':
      return (
        <LinkProblem heading="This invite link is not valid">
          <p>Check that you opened the whole link, exactly as your instructor sent it.</p>
          <p>If it still does not work, ask your instructor for a new link.</p>
        </LinkProblem>
      );
    case 'gone':
      return (
        <LinkProblem heading={view.words.replace(/\.$/, '')}>
          {/ended/i.test(view.words) ? (
            <p>If the class was recorded, your instructor can send you the replay.</p>
          ) : (
            <p>Ask your instructor for a new link.</p>
          )}
        </LinkProblem>
      );
    case 'failed':
      return <Failed status={view.status} words={view.words} retryAfterS={view.retryAfterS} onRetry={load} />;
    case 'ready':
      return <JoinForm invite={view.invite} onLinkRefused={setView} />;
  }
}

/** A link that cannot be used: what happened and what to do, on a calm card. */
function LinkProblem(props: { heading: string; children: ComponentChildren }) {
  return (
    <div class="join">
      <section class="card join-card join-problem" aria-labelledby="problem-heading">
        <svg class="join-icon" viewBox="0 0 24 24" width="40" height="40" aria-hidden="true">
          <circle cx="12" cy="12" r="11" />
          <path d="M12 6.5v7M12 16.8v.7" />
        </svg>
        <h1 id="problem-heading">{props.heading}</h1>
        {props.children}
      </section>
    </div>
  );
}

function Failed(props: { status: number; words: string; retryAfterS?: number; onRetry: () => Promise<void> }) {
  const left = useCountdown(props.retryAfterS);
  useEffect(() => {
    // Asked to wait: try again by itself once the wait is over.
    if (props.retryAfterS && left === 0) void props.onRetry();
  }, [left]);
  return (
    <LinkProblem heading={props.status === 429 ? 'Many people are joining right now' : 'Your invite could not be checked'}>
      <p>{props.status === 429 ? 'Too many tries came from your network at once. This page tries again by itself.' : props.words}</p>
      {left > 0 ? (
        <p>Trying again in {left} s…</p>
      ) : (
        <p>
          <Button variant="primary" onClick={props.onRetry}>
            Try again
          </Button>
        </p>
      )}
    </LinkProblem>
  );
}

/** Seconds left of a wait the server asked for (0 when none or over). */
function useCountdown(seconds?: number): number {
  const [left, setLeft] = useState(seconds ?? 0);
  useEffect(() => {
    setLeft(seconds ?? 0);
    if (!seconds) return;
    const end = Date.now() + seconds * 1000;
    const timer = setInterval(() => {
      const s = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      setLeft(s);
      if (s === 0) clearInterval(timer);
    }, 250);
    return () => clearInterval(timer);
  }, [seconds]);
  return left;
}

function JoinForm(props: { invite: InviteInfo; onLinkRefused: (v: View) => void }) {
  const { session, role } = props.invite;
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [waitS, setWaitS] = useState<number | undefined>(undefined);
  const left = useCountdown(waitS);
  const seat = participantToken(session.id);
  const seatClaims = seat ? claimsOf(seat) : null;
  const classUrl = `/class/${encodeURIComponent(session.id)}`;

  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = nameProblem(name);
    if (problem) return setError(problem);
    setError('');
    setBusy(true);
    try {
      const joined = await redeemInvite(code ?? '', name.trim());
      saveParticipantToken(joined.session_id, joined.token);
      location.assign(`/class/${encodeURIComponent(joined.session_id)}`);
      return;
    } catch (err) {
      const refusal = linkRefusal(err);
      if (refusal) return props.onLinkRefused(refusal);
      if (err instanceof ApiError && err.status === 429) {
        const wait = err.retryAfterS ?? 30;
        setWaitS(wait);
        setError(`Too many people joined from your network just now. Wait ${wait} seconds, then press Join class again.`);
      } else {
        setError(err instanceof ApiError ? err.message : 'You could not join just now. Try again.');
      }
    }
    setBusy(false);
  };

  const when = span(session.scheduled_start, session.scheduled_end);
  const errorId = 'name-error';
  return (
    <div class="join">
      <section class="card join-card" aria-labelledby="join-heading">
        <p class="join-eyebrow">{role === 'guest' ? 'You are invited as a guest' : 'You are invited as a student'}</p>
        <h1 id="join-heading">Join {session.title}</h1>
        <p class="join-by">by {session.instructor_name}</p>
        <ul class="join-facts">
          <li>
            {session.state === 'live' ? <Badge tone="live">Live now</Badge> : <Badge>Not started yet</Badge>}
            {when ? <span>{when}</span> : null}
          </li>
          {session.record ? <li>This class is recorded. You will be asked for your consent inside.</li> : null}
          {role === 'guest' ? <li>As a guest you watch the class; chat, hands and polls are for students.</li> : null}
        </ul>
        {seatClaims ? (
          <Notice tone="info">
            You joined this class before as {seatClaims.name}.{' '}
            <a href={classUrl}>Continue as {seatClaims.name}</a>
          </Notice>
        ) : null}
        <form class="join-form" onSubmit={submit} noValidate>
          <Field label="Your name">
            <input
              type="text"
              value={name}
              autocomplete="name"
              maxLength={MAX_NAME}
              required
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? errorId : 'name-hint'}
              onInput={(e) => {
                setName(e.currentTarget.value);
                if (!waitS) setError('');
              }}
            />
          </Field>
          <p id="name-hint" class="join-hint">
            Your instructor and classmates see this name.
          </p>
          {error ? (
            <div id={errorId}>
              <Notice tone="error">{error}</Notice>
            </div>
          ) : null}
          <Button variant="primary" type="submit" disabled={busy || left > 0}>
            {busy ? 'Joining…' : left > 0 ? `Join class (wait ${left} s)` : 'Join class'}
          </Button>
        </form>
      </section>
    </div>
  );
}

mount(
  <AppShell title="Join a class">
    <Page />
  </AppShell>,
);
