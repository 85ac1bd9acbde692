// The instructor's studio (`/studio/{session}`). Before anything opens, the
// page makes sure the token is this class's instructor's and the class has
// not ended; otherwise it says so in words (and opens no socket that would
// only be refused).
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { claimsOf, tokenForSession, usePageToken, type Claims } from '../../lib/auth';
import { AppShell, Button, FullMessage, mount, pathParam } from '../../ui';
import { Ended, Refused } from './messages';
import { loadSession, type SessionInfo } from './session';
import { Studio } from './Studio';

type Gate = { kind: 'loading' } | { kind: 'open'; session: SessionInfo } | { kind: 'refused'; status: number; words: string };

function NotYours() {
  return (
    <Refused heading="This class is not yours">
      <p>Only the teacher who created a class can open its studio. Open the studio from your own classes page.</p>
      <p>
        <a href="/">Go to your classes</a>
      </p>
    </Refused>
  );
}

function StudioGate(props: { id: string; token: string; claims: Claims }) {
  const { id, token, claims } = props;
  const [gate, setGate] = useState<Gate>({ kind: 'loading' });
  const [tries, setTries] = useState(0);

  useEffect(() => {
    let gone = false;
    loadSession(id).then(
      (session) => !gone && setGate({ kind: 'open', session }),
      (e: unknown) => {
        if (gone) return;
        const status = e instanceof ApiError ? e.status : 0;
        setGate({ kind: 'refused', status, words: e instanceof ApiError ? e.message : 'The class could not be loaded.' });
      },
    );
    return () => {
      gone = true;
    };
  }, [id, tries]);

  if (gate.kind === 'loading') {
    return (
      <AppShell title="Studio">
        <FullMessage heading="Opening the studio…" />
      </AppShell>
    );
  }
  if (gate.kind === 'refused') {
    if (gate.status === 403) return <NotYours />;
    if (gate.status === 404) {
      return (
        <Refused heading="There is no such class">
          <p>It may have been removed, or the link is incomplete.</p>
          <p>
            <a href="/">Go to your classes</a>
          </p>
        </Refused>
      );
    }
    if (gate.status === 401) {
      return (
        <Refused heading="Your sign-in has expired">
          <p>Open the studio again from your classes page or the link your school gave you.</p>
        </Refused>
      );
    }
    return (
      <Refused heading="The studio could not open">
        <p>{gate.words}</p>
        <p>
          <Button variant="primary" onClick={() => setTries(tries + 1)}>
            Try again
          </Button>
        </p>
      </Refused>
    );
  }
  const session = gate.session;
  if (session.instructor.id !== claims.sub) return <NotYours />;
  if (session.state === 'ended') return <Ended id={session.id} title={session.title} />;
  return <Studio token={token} claims={claims} first={session} />;
}

const sessionId = pathParam('/studio/');
const token = sessionId ? tokenForSession(sessionId, 'instructor') : null;
usePageToken(token);
const claims = token ? claimsOf(token) : null;

if (!sessionId || !token || !claims) {
  mount(
    <Refused heading="Sign in to open the studio">
      <p>Open the studio from your classes page, or from the link your school gave you.</p>
    </Refused>,
  );
} else if (claims.role !== 'instructor') {
  // A student's or guest's token: the studio is not theirs, their class page is.
  mount(
    <Refused heading="The studio is for the class's teacher">
      <p>
        You are signed in as {claims.name}, {claims.role === 'guest' ? 'a guest' : 'a student'}. Join the class from its page to
        watch and take part.
      </p>
      <p>
        <a href={`/class/${encodeURIComponent(sessionId)}`}>Go to the class</a>
      </p>
    </Refused>,
  );
} else if (claims.session && claims.session !== sessionId) {
  mount(<NotYours />);
} else {
  mount(<StudioGate id={sessionId} token={token} claims={claims} />);
}
