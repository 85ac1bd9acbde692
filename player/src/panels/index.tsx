// The classroom panels the studio and the classroom pages share, each one
// component over the Room (role-aware: an instructor sees moderation
// controls, a student does not). CONTRACT for the pages; the panels are the
// room helper's (see docs/web.md).
import type { Room } from '../room/connection';

export interface PanelProps {
  room: Room;
}

function Placeholder(props: { title: string }) {
  return (
    <section class="card" aria-label={props.title}>
      <h2>{props.title}</h2>
    </section>
  );
}

export const ParticipantsPanel = (_: PanelProps) => <Placeholder title="Participants" />;
export const LobbyPanel = (_: PanelProps) => <Placeholder title="Lobby" />;
export const HandsPanel = (_: PanelProps) => <Placeholder title="Raised hands" />;
export const ChatPanel = (_: PanelProps) => <Placeholder title="Chat" />;
export const PollsPanel = (_: PanelProps) => <Placeholder title="Polls" />;
export const ReactionsFeed = (_: PanelProps) => <Placeholder title="Reactions" />;
/**
 * The side panel of the studio and the classroom: tabs for participants
 * (with the lobby, instructors), chat, hands and polls, each panel
 * role-aware. Pages place it; they do not pick panels one by one.
 */
export const Sidebar = (_: PanelProps) => (
  <aside class="card" aria-label="Class">
    <h2>Class</h2>
  </aside>
);
/** The quiet-class alert as a subtle banner (instructors). */
export const AlertBanner = (_: PanelProps) => null;
/** Connection lost / reconnecting, in words. */
export const LinkBanner = (_: PanelProps) => null;
