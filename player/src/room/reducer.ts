// The room's client state as a pure function of what the server said
// (docs/protocol.md): state × server message → state. No I/O, no clock of its
// own (`nowMs` comes in), so the fixtures the Rust room tests write replay
// here exactly. Every `welcome` is the whole room and replaces what we had.
import type { Layout, Participant, ServerMessage } from './protocol';
import { CLOSE, LAYOUTS } from './protocol';
import { initialRoomState, type RoomState, type Standing } from './state';

function replaceParticipant(list: Participant[], p: Participant): Participant[] {
  let found = false;
  const next = list.map((q) => {
    if (q.id !== p.id) return q;
    found = true;
    return p;
  });
  return found ? next : list;
}

/** A layout this client knows (a newer server may have more). */
export function isLayout(value: unknown): value is Layout {
  return typeof value === 'string' && (LAYOUTS as readonly string[]).includes(value);
}

export function reduce(state: RoomState, msg: ServerMessage, nowMs: number): RoomState {
  switch (msg.type) {
    case 'welcome':
      // The whole room: nothing of the old state survives but what is ours
      // alone (mute requests and stage calls already counted, the last alert).
      return {
        ...initialRoomState,
        standing: { kind: 'in' },
        you: msg.you,
        participants: msg.room.participants,
        lobby: { enabled: msg.room.lobby_enabled, waiting: [] },
        hands: msg.room.hands,
        chat: msg.room.chat,
        polls: msg.room.polls,
        // Results follow the welcome (poll_results), one per poll we may see.
        results: {},
        spotlight: msg.room.spotlight,
        live: msg.room.live,
        publishes: msg.room.publishes ?? [],
        layout: isLayout(msg.room.layout) ? msg.room.layout : 'auto',
        calledOn: state.calledOn,
        muteRequests: state.muteRequests,
        alert: state.alert,
      };
    case 'waiting':
      return { ...state, standing: { kind: 'waiting' } };
    case 'live':
      return { ...state, live: msg.live };
    case 'publishes':
      return { ...state, publishes: msg.publishes };
    case 'layout':
      // One this client does not know: keep what we show.
      return isLayout(msg.layout) ? { ...state, layout: msg.layout } : state;
    case 'denied':
      return { ...state, standing: { kind: 'denied', reason: msg.reason } };
    case 'kicked':
      return { ...state, standing: { kind: 'kicked', reason: msg.reason } };
    case 'pong':
      return state;
    case 'participant_joined': {
      const rest = state.participants.filter((p) => p.id !== msg.participant.id);
      return { ...state, participants: [...rest, msg.participant] };
    }
    case 'participant_left': {
      const id = msg.participant_id;
      return {
        ...state,
        participants: state.participants.filter((p) => p.id !== id),
        hands: state.hands.filter((h) => h.participant_id !== id),
        spotlight: state.spotlight === id ? null : state.spotlight,
      };
    }
    case 'participant_updated': {
      const p = msg.participant;
      return {
        ...state,
        participants: replaceParticipant(state.participants, p),
        you: state.you?.id === p.id ? p : state.you,
      };
    }
    case 'lobby':
      return { ...state, lobby: { enabled: msg.enabled, waiting: msg.waiting } };
    case 'chat': {
      const rest = state.chat.filter((m) => m.id !== msg.message.id);
      return { ...state, chat: [...rest, msg.message] };
    }
    case 'chat_deleted':
      return { ...state, chat: state.chat.filter((m) => m.id !== msg.message_id) };
    case 'reactions': {
      if (!state.chat.some((m) => m.id === msg.message_id)) return state;
      return {
        ...state,
        chat: state.chat.map((m) => (m.id === msg.message_id ? { ...m, reactions: msg.reactions } : m)),
      };
    }
    case 'hands':
      return { ...state, hands: msg.hands };
    case 'called_on': {
      const call: RoomState['calledOn'] = { seq: (state.calledOn?.seq ?? 0) + 1 };
      if (msg.publish_token !== undefined) call.publishToken = msg.publish_token;
      if (msg.whip_url !== undefined) call.whipUrl = msg.whip_url;
      return { ...state, calledOn: call };
    }
    case 'mute_requested':
      return { ...state, muteRequests: state.muteRequests + 1 };
    case 'spotlight':
      return { ...state, spotlight: msg.participant_id };
    case 'poll_opened': {
      const rest = state.polls.filter((p) => p.id !== msg.poll.id);
      return { ...state, polls: [...rest, msg.poll] };
    }
    case 'poll_results':
      // Kept even before its poll is known: the poll may come in a welcome next.
      return { ...state, results: { ...state.results, [msg.results.poll_id]: msg.results } };
    case 'poll_closed': {
      const known = state.polls.some((p) => p.id === msg.poll.id);
      return {
        ...state,
        polls: known ? state.polls.map((p) => (p.id === msg.poll.id ? msg.poll : p)) : [...state.polls, msg.poll],
        results: { ...state.results, [msg.results.poll_id]: msg.results },
      };
    }
    case 'alert':
      return { ...state, alert: { kind: msg.kind, message: msg.message, atMs: nowMs } };
    case 'error':
      return { ...state, lastError: { code: msg.code, message: msg.message, atMs: nowMs } };
    default:
      // A message type this client does not know (a newer server): ignore it.
      return state;
  }
}

/**
 * Where a closed socket leaves us: a final standing for the codes that mean
 * "do not come back" (`null` for every other code: reconnect).
 */
export function standingForClose(code: number, reason: string, current: Standing): Standing | null {
  switch (code) {
    case CLOSE.replaced:
      return { kind: 'replaced' };
    case CLOSE.kicked:
      // The `kicked` message came first with the instructor's reason; keep it.
      return current.kind === 'kicked' ? current : { kind: 'kicked', reason };
    case CLOSE.denied:
      return current.kind === 'denied' ? current : { kind: 'denied', reason };
    case CLOSE.unauthenticated:
      return { kind: 'unauthorized', reason };
    default:
      return null;
  }
}

/** Whether a close code ends the connection for good (no reconnect). */
export function isFinalClose(code: number): boolean {
  return standingForClose(code, '', { kind: 'connecting' }) !== null;
}

/** Applies a close to the state: a final standing, or unchanged (we reconnect). */
export function closeState(state: RoomState, code: number, reason: string): RoomState {
  const standing = standingForClose(code, reason, state.standing);
  return standing ? { ...state, standing } : state;
}
