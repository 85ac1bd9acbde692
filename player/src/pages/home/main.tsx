// The instructor's home: sign in, their classes (live, scheduled, ended),
// a new class, invite links, attendance and replays.
import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { claimsOf, instructorToken, saveInstructorToken, saveParticipantToken, takeTokenFromHash, usePageToken, type Claims } from '../../lib/auth';
import { AppShell, Button, FullMessage, Notice, mount } from '../../ui';
import { NewClassForm } from './NewClassForm';
import { SessionCard, type Opened } from './SessionCard';
import { grouped, listSessions, type SessionState, type SessionView } from './sessions';
import { SignIn } from './SignIn';
import './home.css';

const REFRESH_MS = 15_000;

/** Whom the page acts as: an instructor, a student who landed here, or nobody yet. */
type Who = { kind: 'instructor'; token: string; claims: Claims } | { kind: 'participant'; claims: Claims } | { kind: 'none'; message?: string };

function initialWho(): Who {
  const fromHash = takeTokenFromHash();
  if (fromHash) {
    const claims = claimsOf(fromHash);
    if (!claims) return { kind: 'none', message: 'The sign-in link is not valid or has expired. Ask for a new one, or paste a token below.' };
    if (claims.role !== 'instructor') {
      if (claims.session) saveParticipantToken(claims.session, fromHash);
      return { kind: 'participant', claims };
    }
    saveInstructorToken(fromHash);
  }
  const stored = instructorToken();
  if (!stored) return { kind: 'none' };
  const claims = claimsOf(stored);
  if (!claims || claims.role !== 'instructor') {
    saveInstructorToken(null);
    return { kind: 'none', message: 'Your sign-in has expired. Sign in again.' };
  }
  return { kind: 'instructor', token: stored, claims };
}

const who = signal<Who>(initialWho());

// A sign-in link opened in a tab already on this page changes only the hash.
addEventListener('hashchange', () => {
  if (new URLSearchParams(location.hash.slice(1)).has('token')) who.value = initialWho();
});

function signIn(token: string) {
  const claims = claimsOf(token);
  if (!claims) return;
  saveInstructorToken(token);
  who.value = { kind: 'instructor', token, claims };
}

function signOut(message?: string) {
  saveInstructorToken(null);
  usePageToken(null);
  who.value = { kind: 'none', message };
}

function App() {
  const w = who.value;
  if (w.kind === 'participant') {
    return (
      <AppShell title="Your classes">
        <FullMessage heading="This page is for instructors">
          <p>You are signed in as {w.claims.name}, a {w.claims.role}. Students and guests join from the link their instructor sends.</p>
          {w.claims.session ? (
            <p>
              <a class="btn btn-primary" href={`/class/${encodeURIComponent(w.claims.session)}`}>
                Go to your class
              </a>
            </p>
          ) : null}
        </FullMessage>
      </AppShell>
    );
  }
  if (w.kind === 'none') {
    return (
      <AppShell>
        <div class="home">
          <SignIn message={w.message} onToken={signIn} />
        </div>
      </AppShell>
    );
  }
  usePageToken(w.token);
  return (
    <AppShell
      actions={
        <div class="header-user">
          <span class="muted">{w.claims.name}</span>
          <Button small onClick={() => signOut()}>
            Sign out
          </Button>
        </div>
      }
    >
      <Dashboard />
    </AppShell>
  );
}

const GROUPS: { state: SessionState; heading: string; empty: string }[] = [
  { state: 'live', heading: 'Live now', empty: '' },
  { state: 'scheduled', heading: 'Scheduled', empty: 'No classes scheduled. Create one with “New class”.' },
  { state: 'ended', heading: 'Ended', empty: '' },
];

function Dashboard() {
  const [sessions, setSessions] = useState<SessionView[] | null>(null);
  const [error, setError] = useState('');
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<SessionView | null>(null);
  const [opened, setOpened] = useState<{ id: string; what: Opened }>({ id: '', what: null });

  const load = async () => {
    try {
      setSessions(await listSessions());
      setError('');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return signOut('Your sign-in has expired or was revoked. Sign in again.');
      setError(e instanceof ApiError ? `Your classes could not be loaded: ${e.message}` : 'Your classes could not be loaded.');
    }
  };

  useEffect(() => {
    void load();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  const onCreated = (s: SessionView) => {
    setCreating(false);
    setCreated(s);
    setSessions((all) => [s, ...(all ?? []).filter((x) => x.id !== s.id)]);
    setOpened({ id: s.id, what: null });
  };

  const groups = sessions ? grouped(sessions) : null;
  return (
    <div class="home">
      <div class="home-head">
        <h1>Your classes</h1>
        {!creating ? (
          <Button variant="primary" onClick={() => { setCreating(true); setCreated(null); }}>
            New class
          </Button>
        ) : null}
      </div>
      {creating ? <NewClassForm onCreated={onCreated} onCancel={() => setCreating(false)} /> : null}
      {created ? (
        <Notice tone="ok">
          “{created.title}” is scheduled. Invite your students, then start the class when you are ready.
        </Notice>
      ) : null}
      {error ? <Notice tone="error">{error}</Notice> : null}
      {!groups && !error ? <p class="muted">Loading your classes…</p> : null}
      {groups
        ? GROUPS.map(({ state, heading, empty }) => {
            const list = groups[state];
            if (!list.length && !empty) return null;
            return (
              <section key={state} class="session-group" aria-labelledby={`group-${state}`}>
                <h2 id={`group-${state}`}>
                  {heading} <span class="count">{list.length}</span>
                </h2>
                {list.length ? (
                  list.map((s) => (
                    <SessionCard
                      key={s.id}
                      s={s}
                      opened={opened.id === s.id ? opened.what : null}
                      onOpen={(what) => setOpened({ id: s.id, what })}
                    />
                  ))
                ) : (
                  <p class="muted empty">{empty}</p>
                )}
              </section>
            );
          })
        : null}
    </div>
  );
}

mount(<App />);
