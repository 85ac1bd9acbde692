// The classroom panels the studio and the classroom pages share, each one
// component over the Room (role-aware: an instructor sees moderation
// controls, a student does not). See docs/web.md.
export type { PanelProps } from './types';
export { LobbyPanel, ParticipantsPanel } from './People';
export { HandButton, HandsPanel } from './Hands';
export { ChatPanel } from './Chat';
export { PollsPanel, ResultsChart } from './Polls';
/**
 * The side panel of the studio and the classroom: tabs for participants
 * (with the lobby, instructors), chat, hands and polls, each panel
 * role-aware. Pages place it; they do not pick panels one by one.
 */
export { Sidebar } from './Sidebar';
/** AlertBanner: the quiet-class alert (instructors); LinkBanner: connection and standing in words. */
export { AlertBanner, LinkBanner, ReactionsFeed } from './Banners';
