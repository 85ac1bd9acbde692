// What a page knows of the room: everything the server told this socket,
// folded by the reducer (reducer.ts). Pages and panels only read it.
import type { ChatMessage, Hand, Layout, Participant, Poll, PollResults, Publish } from './protocol';

/** Where this participant stands. */
export type Standing =
  | { kind: 'connecting' }
  | { kind: 'waiting' } // in the lobby
  | { kind: 'in' }
  | { kind: 'denied'; reason: string }
  | { kind: 'kicked'; reason: string }
  | { kind: 'replaced' } // this user opened the class elsewhere
  | { kind: 'unauthorized'; reason: string };

export interface StageCall {
  /** Present when called on with stage: publish with this over WHIP. */
  publishToken?: string;
  whipUrl?: string;
  /** Increases with every call-on, so a page can tell a new call from an old one. */
  seq: number;
}

export interface RoomState {
  standing: Standing;
  you: Participant | null;
  participants: Participant[];
  /** Instructors only: who waits, in arrival order. */
  lobby: { enabled: boolean; waiting: Participant[] };
  hands: Hand[];
  chat: ChatMessage[];
  polls: Poll[];
  results: Record<string, PollResults>;
  spotlight: string | null;
  /** Someone publishes the broadcast (null: not known yet, before the welcome). */
  live: boolean | null;
  /** The class's live publishes, oldest first (camera, screen, students on stage). */
  publishes: Publish[];
  /** What the HLS broadcast and the recording show (the instructor chooses). */
  layout: Layout;
  calledOn: StageCall | null;
  /** Increases with every mute request addressed to this participant. */
  muteRequests: number;
  /** The latest instructor alert (quiet class), with when it came (ms). */
  alert: { kind: string; message: string; atMs: number } | null;
  /** The latest refusal of one of our messages. */
  lastError: { code: string; message: string; atMs: number } | null;
}

export const initialRoomState: RoomState = {
  standing: { kind: 'connecting' },
  you: null,
  participants: [],
  lobby: { enabled: false, waiting: [] },
  hands: [],
  chat: [],
  polls: [],
  results: {},
  spotlight: null,
  live: null,
  publishes: [],
  layout: 'auto',
  calledOn: null,
  muteRequests: 0,
  alert: null,
  lastError: null,
};
