// Replays: a session's recordings (`/replay/{session}`) or a course's
// (`/library?course=…`), newest first; the player with the class chat beside.
import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { claimsOf, instructorToken, saveInstructorToken, takeTokenFromHash, tokenForSession, usePageToken } from '../../lib/auth';
import { day, lengthInWords } from '../../lib/timefmt';
import { AppShell, Badge, FullMessage, Notice, mount, pathParam } from '../../ui';
import { ChatReplay } from './ChatReplay';
import { Player } from './Player';
import { courseRecordings, pick, sessionRecordings, type RecordingView } from './recordings';
import './replay.css';

const sessionId = pathParam('/replay/');
const inLibrary = location.pathname.startsWith('/library');
const course = inLibrary ? new URLSearchParams(location.search).get('course') : null;

function libraryToken(): string | null {
  const fromHash = takeTokenFromHash();
  if (fromHash && claimsOf(fromHash)?.role === 'instructor') saveInstructorToken(fromHash);
  return fromHash ?? instructorToken();
}

const token = sessionId ? tokenForSession(sessionId) : inLibrary ? libraryToken() : null;
usePageToken(token);
const claims = token ? claimsOf(token) : null;

/** Re-read the list this often while a recording is still being made. */
const POLL_MS = 5000;
const time = signal(0);

type Loaded = { recordings: RecordingView[]; record: boolean };

async function load(): Promise<Loaded> {
  if (sessionId) return sessionRecordings(sessionId);
  return { recordings: await courseRecordings(course ?? ''), record: true };
}

function refusal(e: unknown): string {
  if (!(e instanceof ApiError)) return 'The recordings could not be loaded. Reload the page to try again.';
  if (e.status === 403) return 'You are not allowed to see these recordings. Open the replay from your class link.';
  return e.message;
}

function Replay() {
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<string | null>(new URLSearchParams(location.search).get('recording'));

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let gone = false;
    const poll = async () => {
      try {
        const got = await load();
        if (gone) return;
        setData(got);
        setError('');
        if (got.recordings.some((r) => r.state === 'recording' || r.state === 'processing')) timer = setTimeout(() => void poll(), POLL_MS);
      } catch (e) {
        if (!gone) setError(refusal(e));
      }
    };
    void poll();
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, []);

  const choose = (id: string) => {
    setSelected(id);
    time.value = 0;
    const url = new URL(location.href);
    url.searchParams.set('recording', id);
    history.replaceState(null, '', url);
  };

  if (error) return <FullMessage heading="The recordings cannot be shown">{<p>{error}</p>}</FullMessage>;
  if (!data) return <p class="muted replay-loading">Loading the recordings…</p>;
  const { recordings } = data;
  if (!recordings.length) {
    return (
      <FullMessage heading={data.record ? 'No recordings yet' : 'This class was not recorded'}>
        <p>
          {data.record
            ? 'Recordings appear here when the class has been live. Come back after the class.'
            : 'Only classes the instructor chose to record can be replayed.'}
        </p>
      </FullMessage>
    );
  }
  const rec = pick(recordings, selected);
  const parts = (r: RecordingView) => recordings.filter((x) => x.session_id === r.session_id).length;
  return (
    <div class="replay">
      {rec ? <Selected key={rec.id} rec={rec} multiPart={parts(rec) > 1} /> : null}
      <section class="card recordings" aria-labelledby="recordings-heading">
        <h2 id="recordings-heading">{course ? `Recordings of ${course}` : 'Recordings'}</h2>
        <ul class="recording-list">
          {recordings.map((r) => (
            <li key={r.id}>
              <button type="button" class="recording-item" aria-current={r.id === rec?.id ? 'true' : undefined} onClick={() => choose(r.id)}>
                <span class="rec-title">
                  {r.session_title ?? 'Class recording'}
                  {parts(r) > 1 ? ` · Part ${r.part}` : ''}
                </span>
                <span class="rec-meta">
                  {day(r.created_at)}
                  {r.duration_seconds ? ` · ${lengthInWords(r.duration_seconds)}` : ''}
                </span>
                {r.state !== 'ready' ? <StateBadge rec={r} /> : null}
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

function StateBadge({ rec }: { rec: RecordingView }) {
  switch (rec.state) {
    case 'recording':
      return <Badge tone="live">Recording</Badge>;
    case 'processing':
      return <Badge tone="warn">Preparing</Badge>;
    case 'failed':
      return <Badge tone="danger">Failed</Badge>;
    case 'deleted':
      return <Badge>Deleted</Badge>;
    default:
      return null;
  }
}

function notReady(rec: RecordingView): string {
  switch (rec.state) {
    case 'recording':
      return 'This part is still being recorded: the class is live. It can be replayed a minute or two after it ends; this page checks by itself.';
    case 'processing':
      return 'This recording is being prepared. It usually takes a minute or two; this page checks again by itself.';
    case 'failed':
      return `This recording could not be made${rec.error ? ` (${rec.error})` : ''}. Ask your instructor whether there is another copy.`;
    case 'deleted':
      return 'This recording was deleted.';
    default:
      return 'This recording cannot be played right now. Reload the page to try again.';
  }
}

function Selected({ rec, multiPart }: { rec: RecordingView; multiPart: boolean }) {
  const playable = rec.state === 'ready' && rec.url;
  return (
    <div class="replay-main">
      <div class="replay-head">
        <div>
          <h1>
            {rec.session_title ?? 'Class recording'}
            {multiPart ? ` · Part ${rec.part}` : ''}
          </h1>
          <p class="muted">
            {day(rec.created_at)}
            {rec.duration_seconds ? ` · ${lengthInWords(rec.duration_seconds)}` : ''}
          </p>
        </div>
        {rec.download_url && rec.state === 'ready' ? (
          <a class="btn" href={rec.download_url} download>
            Download
          </a>
        ) : null}
      </div>
      <div class="replay-body">
        <section class="card player-card" aria-label="Recording">
          {playable ? <Player rec={rec} time={time} /> : <Notice tone={rec.state === 'failed' ? 'error' : 'info'}>{notReady(rec)}</Notice>}
        </section>
        {playable ? <ChatReplay rec={rec} time={time} /> : null}
      </div>
    </div>
  );
}

const title = course ? `Library · ${course}` : inLibrary ? 'Your recordings' : 'Replay';

if (!token || !claims) {
  mount(
    <AppShell title={title}>
      <FullMessage heading={inLibrary ? 'Sign in to open the library' : 'Open the replay from your class link'}>
        <p>
          {inLibrary
            ? 'Open the library from your classes page, or from the link your school gave you.'
            : 'Your instructor’s link to the class lets you watch its recordings, too.'}
        </p>
      </FullMessage>
    </AppShell>,
  );
} else {
  mount(
    <AppShell title={title}>
      <Replay />
    </AppShell>,
  );
}
