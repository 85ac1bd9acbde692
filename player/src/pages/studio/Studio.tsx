// The studio once the page knows the session is this instructor's: the
// stage and its controls on the left, the class (Sidebar) on the right.
import { computed, effect, untracked, useComputed } from '@preact/signals';
import { useEffect, useMemo } from 'preact/hooks';
import type { Claims } from '../../lib/auth';
import { AlertBanner, LinkBanner, Sidebar } from '../../panels';
import { connectRoom } from '../../room/connection';
import type { Standing } from '../../room/state';
import { AppShell, Badge, Notice } from '../../ui';
import { Broadcast } from './broadcast';
import { ControlBar } from './Controls';
import { BroadcastCard, DevicesCard } from './Panels';
import type { SessionInfo } from './session';
import { SessionWatch } from './session';
import { InvitePanel } from '../home/InvitePanel';
import { LayoutSwitcher } from './LayoutSwitcher';
import { OnStage, stageStudents } from './OnStage';
import { ScreenTile, Stage, StateBadge } from './Stage';
import { Blocked, Ended } from './messages';
import './studio.css';

/** Standings in which the studio cannot work: the page says why instead. */
export function blockedBy(standing: Standing): string | null {
  switch (standing.kind) {
    case 'unauthorized':
      return standing.reason || 'Your sign-in was refused by the class.';
    case 'kicked':
    case 'denied':
      return standing.reason || 'You cannot open this class.';
    case 'replaced':
      return 'You opened this studio in another tab or window. Use that one, or reload here to continue here.';
    default:
      return null;
  }
}

export function Studio(props: { token: string; claims: Claims; first: SessionInfo }) {
  const { token, claims, first } = props;
  const room = useMemo(() => connectRoom(first.id, token), [first.id, token]);
  const b = useMemo(() => new Broadcast(new URL(`/whip/${encodeURIComponent(first.id)}`, location.href).href, token), [first.id, token]);
  const session = useMemo(() => new SessionWatch(first), [first]);

  useEffect(() => {
    void b.start();
    session.start();
    // Mute and camera off reach the class at once, and again after every
    // (re)join, so the class never shows a stale state.
    const inRoom = computed(() => room.state.value.standing.kind === 'in');
    const stopSending = effect(() => {
      const media = b.mediaState.value;
      if (inRoom.value) untracked(() => room.send({ type: 'media_state', ...media }));
    });
    return () => {
      stopSending();
      session.dispose();
      b.dispose();
      room.close();
    };
  }, [b, session, room]);

  // Only a change of standing re-renders the page, not every chat message.
  const blocked = useComputed(() => blockedBy(room.state.value.standing)).value;
  const onStage = useComputed(() => stageStudents(room.state.value).length).value;
  // The class can watch the share once the room lists it as flowing.
  const screenFlowing = useComputed(() => {
    const s = room.state.value;
    return s.publishes.some((p) => p.kind === 'screen' && p.ready && p.participant_id === s.you?.id);
  }).value;
  const ended = session.info.value?.state === 'ended';
  useEffect(() => {
    if (blocked || ended) {
      // Nothing more to do here: release the camera and stop reconnecting.
      b.dispose();
      session.dispose();
      room.close();
    }
  }, [blocked, ended, b, session, room]);

  const title = session.info.value?.title ?? first.title;
  if (ended) return <Ended id={first.id} title={title} />;
  if (blocked) return <Blocked title={title} reason={blocked} />;

  const status = b.status.value;
  const tiles = (b.screen.value ? 1 : 0) + onStage;
  return (
    <AppShell
      title={title}
      actions={
        <div class="header-status">
          {session.info.value?.record ? <Badge tone="danger">Recording</Badge> : null}
          <StateBadge b={b} />
        </div>
      }
    >
      <LinkBanner room={room} />
      <AlertBanner room={room} />
      <div class="studio-layout">
        <section class="studio-main" aria-label="Your broadcast">
          <h1 class="visually-hidden">Studio: {title}</h1>
          <div class={tiles > 0 ? 'studio-stage has-tiles' : 'studio-stage'}>
            <Stage b={b} name={claims.name || 'You'} />
            {tiles > 0 ? (
              <div class="studio-tiles" role="group" aria-label="Also on air">
                <ScreenTile b={b} flowing={screenFlowing} />
                <OnStage room={room} sessionId={first.id} token={token} />
              </div>
            ) : null}
          </div>
          <ControlBar b={b} session={session} onEnd={() => void session.end().then(() => b.stop())} />
          <div class="studio-notices">
            {status.state === 'failed' ? (
              <Notice tone="error">
                <strong>Failed:</strong> {status.reason ?? 'The broadcast could not start.'}
              </Notice>
            ) : null}
            {status.state === 'reconnecting' ? <Notice tone="warn">{status.reason ?? 'Reconnecting…'}</Notice> : null}
            {b.deviceProblem.value ? <Notice tone="warn">{b.deviceProblem.value}</Notice> : null}
            {b.shareProblem.value ? <Notice tone="error">{b.shareProblem.value}</Notice> : null}
            {session.actionError.value ? <Notice tone="error">{session.actionError.value}</Notice> : null}
          </div>
          <LayoutSwitcher room={room} />
          <div class="studio-cards">
            <DevicesCard b={b} />
            <BroadcastCard b={b} session={session} token={token} />
            <details class="card studio-card studio-invite">
              <summary>Invite students and guests</summary>
              <InvitePanel sessionId={first.id} title={title} />
            </details>
          </div>
        </section>
        <Sidebar room={room} />
      </div>
    </AppShell>
  );
}
