// The classroom socket's messages (docs/protocol.md), as TypeScript types.
// The room fixtures the Rust tests write (tests/fixtures/room/) are checked
// against these by the reducer's tests, so the two cannot drift.

export type Role = 'instructor' | 'student' | 'guest';
export type Quality = 'green' | 'yellow' | 'red' | null;

export interface MediaState {
  mic: boolean;
  camera: boolean;
  screen: boolean;
}

export interface Participant {
  id: string;
  name: string;
  role: Role;
  media: MediaState;
  quality: Quality;
  hand_raised: boolean;
  on_stage: boolean;
  chat_muted: boolean;
}

export interface ChatMessage {
  id: string;
  sender_id: string;
  sender_name: string;
  text: string;
  /** RFC 3339, UTC, milliseconds. */
  at: string;
  reply_to: string | null;
  mentions: string[];
  /** emoji → ids of those who reacted */
  reactions: Record<string, string[]>;
}

export interface Hand {
  participant_id: string;
  name: string;
  raised_at: string;
}

export interface Poll {
  id: string;
  question: string;
  options: string[];
  multiple: boolean;
  share_results: boolean;
  closes_at: string | null;
  closed: boolean;
}

export interface PollResults {
  poll_id: string;
  counts: number[];
  percentages: number[];
  respondents: number;
}

/** A live publish of the class: the instructor's camera or screen share, or a student on stage. */
export interface Publish {
  id: string;
  kind: 'camera' | 'screen' | 'stage';
  participant_id: string;
  name: string;
  /** The class's main broadcast (what the big video plays). */
  main: boolean;
  /** Its media flows: WHEP `?publish={id}` may view it. */
  ready: boolean;
  started_at: string;
}

/**
 * What the HLS broadcast and the recording show when several people publish:
 * `speaker` the instructor only, `stage` the instructor and the students on
 * stage in a grid, `screen` the screen share large with the instructor in a
 * corner, `auto` (the default) screen while sharing, else stage while someone
 * is on stage, else speaker.
 */
export type Layout = 'auto' | 'speaker' | 'stage' | 'screen';

export const LAYOUTS: readonly Layout[] = ['auto', 'speaker', 'stage', 'screen'];

export interface RoomSnapshot {
  participants: Participant[];
  hands: Hand[];
  polls: Poll[];
  chat: ChatMessage[];
  spotlight: string | null;
  lobby_enabled: boolean;
  live: boolean;
  /** Older servers leave it out. */
  publishes?: Publish[];
  /** The broadcast's layout (older servers leave it out: `auto`). */
  layout?: Layout;
}

export type ServerMessage =
  | { type: 'welcome'; you: Participant; room: RoomSnapshot }
  | { type: 'waiting' }
  | { type: 'live'; live: boolean }
  | { type: 'publishes'; publishes: Publish[] }
  | { type: 'layout'; layout: Layout }
  | { type: 'denied'; reason: string }
  | { type: 'pong'; id?: number }
  | { type: 'participant_joined'; participant: Participant }
  | { type: 'participant_left'; participant_id: string }
  | { type: 'participant_updated'; participant: Participant }
  | { type: 'lobby'; enabled: boolean; waiting: Participant[] }
  | { type: 'chat'; message: ChatMessage }
  | { type: 'chat_deleted'; message_id: string }
  | { type: 'reactions'; message_id: string; reactions: Record<string, string[]> }
  | { type: 'hands'; hands: Hand[] }
  | { type: 'called_on'; publish_token?: string; whip_url?: string }
  | { type: 'mute_requested' }
  | { type: 'kicked'; reason: string }
  | { type: 'spotlight'; participant_id: string | null }
  | { type: 'poll_opened'; poll: Poll }
  | { type: 'poll_results'; results: PollResults }
  | { type: 'poll_closed'; poll: Poll; results: PollResults }
  | { type: 'alert'; kind: string; message: string }
  | { type: 'error'; code: string; message: string };

export type ClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'ping'; id?: number }
  | ({ type: 'media_state' } & MediaState)
  | { type: 'chat'; text: string; reply_to?: string }
  | { type: 'react'; message_id: string; emoji: string }
  | { type: 'raise_hand' }
  | { type: 'lower_hand' }
  | { type: 'answer_poll'; poll_id: string; choices: number[] }
  | { type: 'set_lobby'; enabled: boolean }
  | { type: 'admit'; participant_id?: string }
  | { type: 'deny'; participant_id: string }
  | { type: 'delete_message'; message_id: string }
  | { type: 'mute_chat'; participant_id: string; muted: boolean }
  | { type: 'call_on'; participant_id: string; stage: boolean }
  | { type: 'demote'; participant_id: string }
  | { type: 'mute_all' }
  | { type: 'mute'; participant_id: string }
  | { type: 'kick'; participant_id: string; reason?: string }
  | { type: 'spotlight'; participant_id?: string }
  | {
      type: 'create_poll';
      question: string;
      options: string[];
      multiple?: boolean;
      duration_s?: number;
      share_results?: boolean;
    }
  | { type: 'close_poll'; poll_id: string }
  | { type: 'set_layout'; layout: Layout };

/** Close codes (docs/protocol.md#close-codes). */
export const CLOSE = {
  replaced: 4001,
  kicked: 4003,
  denied: 4004,
  tooSlow: 4008,
  abusive: 4400,
  unauthenticated: 4401,
} as const;
