// The classroom page: loads the session, joins the room, and shows what the
// participant's standing allows (lobby, class, or a plain message).
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import type { Claims } from '../../lib/auth';
import { HandButton, LinkBanner, Sidebar } from '../../panels';
import { connectRoom, type Room } from '../../room/connection';
import type { Standing } from '../../room/state';
import { AppShell, Badge, Button, FullMessage } from '../../ui';
import { ConsentPrompt } from './ConsentPrompt';
import { loadSession, type ClassSession } from './session';
import { StageCall } from './StageCall';
import { ClassStage } from './ClassStage';
import './classroom.css';

const RELOAD_RETRY_MS = 3000;

/** Words for a session that cannot be opened with this token. */
function refusal(e: ApiError): { heading: string; text: string } {
  const said = e.message.toLowerCase();
  if (said.includes('another session')) {
    return {
      heading: 'This link is for another class',
      text: 'Your sign-in belongs to a different class. Open the link your instructor sent for this one.',
    };
  }
  if (said.includes('removed')) return { heading: 'You were removed from this class', text: 'Ask your instructor if you think this is a mistake.' };
  if (said.includes('no longer works')) return { heading: 'This class has ended', text: 'Its join link no longer works.' };
  if (e.status === 404) return { heading: 'This class does not exist', text: 'Check the link, or ask your instructor for a new one.' };
  if (e.status === 401) return { heading: 'Your class link has expired', text: 'Open your class link again to join.' };
  return { heading: 'You cannot join this class', text: e.message };
}

export function Classroom(props: { sessionId: string; token: string; claims: Claims }) {
  const [session, setSession] = useState<ClassSession | null>(null);
  const [refused, setRefused] = useState<ApiError | null>(null);
  const [unreachable, setUnreachable] = useState(false);
  const [room, setRoom] = useState<Room | null>(null);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let gone = false;
    const load = () => {
      loadSession(props.sessionId)
        .then((s) => {
          if (gone) return;
          setSession(s);
          setUnreachable(false);
          setRoom(connectRoom(props.sessionId, props.token));
        })
        .catch((e: unknown) => {
          if (gone) return;
          // The server is away or busy: try again by itself.
          if (!(e instanceof ApiError) || e.status === 0 || e.status >= 500 || e.status === 429) {
            setUnreachable(true);
            timer = setTimeout(load, RELOAD_RETRY_MS);
            return;
          }
          setRefused(e);
        });
    };
    load();
    return () => {
      gone = true;
      if (timer) clearTimeout(timer);
    };
  }, [props.sessionId, props.token]);

  useEffect(() => () => room?.close(), [room]);

  if (refused) {
    const words = refusal(refused);
    return (
      <AppShell title="Classroom">
        <FullMessage heading={words.heading}>
          <p>{words.text}</p>
        </FullMessage>
      </AppShell>
    );
  }
  if (!session || !room) {
    return (
      <AppShell title="Classroom">
        <FullMessage heading={unreachable ? 'The class cannot be reached' : 'Joining the class…'}>
          {unreachable ? <p>Check your connection. We keep trying by ourselves.</p> : null}
        </FullMessage>
      </AppShell>
    );
  }
  return <InRoom session={session} room={room} token={props.token} claims={props.claims} />;
}

/** A standing that ends the visit: words for it. */
function ending(standing: Standing): { heading: string; text: string; reload?: boolean } | null {
  switch (standing.kind) {
    case 'kicked':
      return {
        heading: 'You were removed from this class',
        text: standing.reason ? `Your instructor wrote: “${standing.reason}”` : 'Your instructor removed you from the class.',
      };
    case 'denied':
      return {
        heading: 'You were not let in',
        text: standing.reason ? `Your instructor wrote: “${standing.reason}”` : 'The instructor did not let you into this class.',
      };
    case 'replaced':
      return {
        heading: 'This class is open somewhere else',
        text: 'You opened this class in another tab or on another device, so this page has stopped.',
        reload: true,
      };
    case 'unauthorized':
      return {
        heading: 'Your class link no longer works',
        text: standing.reason ? `${standing.reason}. Open your class link again to join.` : 'Open your class link again to join.',
      };
    default:
      return null;
  }
}

function InRoom(props: { session: ClassSession; room: Room; token: string; claims: Claims }) {
  const { session, room, claims } = props;
  const state = room.state.value;
  const end = ending(state.standing);

  // A visit that ended closes the class socket; the video and stage unmount with their views.
  useEffect(() => {
    if (end) room.close();
  }, [end !== null]);

  if (end) {
    return (
      <AppShell title={session.title}>
        <FullMessage heading={end.heading}>
          <p>{end.text}</p>
          {end.reload ? (
            <div>
              <Button variant="primary" onClick={() => location.reload()}>
                Use this page instead
              </Button>
            </div>
          ) : null}
        </FullMessage>
      </AppShell>
    );
  }

  if (state.standing.kind === 'waiting') {
    return (
      <AppShell title={session.title}>
        <div class="lobby-wait card" role="status">
          <div class="lobby-pulse" aria-hidden="true" />
          <h1>Waiting for {session.instructor.name} to let you in</h1>
          <p>You will join “{session.title}” as soon as they do. Keep this page open.</p>
        </div>
      </AppShell>
    );
  }

  const instructor = state.participants.find((p) => p.role === 'instructor') ?? null;
  // The screen share is a publish of its own: the camera's picture is the main video's.
  const cameraOff = instructor !== null && !instructor.media.camera;
  const recording = session.record ? (
    <Badge tone="danger">
      <span class="rec-dot" aria-hidden="true" />
      Recorded
    </Badge>
  ) : null;
  return (
    <AppShell title={session.title} actions={recording}>
      <LinkBanner room={room} />
      <div class="classroom-layout">
        <div class="classroom-main">
          {session.record && claims.role !== 'instructor' ? <ConsentPrompt session={session} claims={claims} /> : null}
          <StageCall room={room} />
          <ClassStage
            session={session}
            token={props.token}
            instructorName={instructor?.name ?? session.instructor.name}
            cameraOff={cameraOff}
            live={state.live}
            publishes={state.publishes}
            selfId={state.you?.id ?? null}
            nameOf={(id) => state.participants.find((p) => p.id === id)?.name}
          />
          <ClassActions room={room} />
        </div>
        <div class="classroom-side">
          <Sidebar room={room} />
        </div>
      </div>
    </AppShell>
  );
}

/** Under the video, where a student looks: the hand and its place in line. */
function ClassActions({ room }: { room: Room }) {
  const s = room.state.value;
  if (s.you?.role !== 'student') return null;
  const place = s.hands.findIndex((h) => h.participant_id === s.you?.id);
  return (
    <div class="class-actions card">
      {s.you.on_stage ? null : <HandButton room={room} />}
      <span class="muted" role="status">
        {s.you.on_stage
          ? 'Your instructor called you on stage.'
          : place >= 0
            ? place === 0
              ? 'Your hand is up: you are next.'
              : `Your hand is up: ${place} ${place === 1 ? 'person' : 'people'} before you.`
            : 'Raise your hand to ask a question or to speak.'}
      </span>
    </div>
  );
}
