// The classroom socket as the pages use it: connect, keep the room state as
// a signal, send messages, reconnect by itself (backoff; every `welcome`
// replaces the state). Framework-free but for the signals the panels read.
import { batch, signal, type ReadonlySignal } from '@preact/signals';
import type { ClientMessage, ServerMessage } from './protocol';
import { closeState, isFinalClose, reduce } from './reducer';
import { initialRoomState, type RoomState } from './state';

export type LinkState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface Room {
  /** The session this socket belongs to (panels call its REST endpoints). */
  readonly sessionId: string;
  readonly state: ReadonlySignal<RoomState>;
  readonly link: ReadonlySignal<LinkState>;
  /** Sends when open; while reconnecting, drops (the page shows the link state). */
  send(message: ClientMessage): void;
  close(): void;
}

/** The subprotocol that carries the token (never the URL: it would be logged). */
export const TOKEN_PROTOCOL_PREFIX = 'classcast.jwt.';
export const PING_EVERY_MS = 20_000;
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10_000;

/**
 * The wait before reconnect attempt `attempt` (0 first): doubling from
 * 0.5 s up to 10 s, each drawn between half and all of it so a class whose
 * server restarted does not come back in one wave.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function socketUrl(sessionId: string, loc: { protocol: string; host: string } = location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws/sessions/${encodeURIComponent(sessionId)}`;
}

/** Parses a frame; anything that is not an object with a `type` is dropped. */
export function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const value = JSON.parse(data) as unknown;
    if (typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string') {
      return value as ServerMessage;
    }
  } catch {
    // Not JSON: ignore it, as the server would a bad frame.
  }
  return null;
}

export function connectRoom(sessionId: string, token: string): Room {
  const state = signal<RoomState>(initialRoomState);
  const link = signal<LinkState>('connecting');
  let socket: WebSocket | null = null;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let pingId = 0;
  let closedByUs = false;

  const stopPing = () => {
    if (pingTimer !== undefined) clearInterval(pingTimer);
    pingTimer = undefined;
  };

  const open = () => {
    clearTimeout(retryTimer);
    retryTimer = undefined;
    let ws: WebSocket;
    try {
      ws = new WebSocket(socketUrl(sessionId), [TOKEN_PROTOCOL_PREFIX + token]);
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      if (socket !== ws) return;
      attempt = 0;
      link.value = 'open';
      stopPing();
      pingTimer = setInterval(() => send({ type: 'ping', id: ++pingId }), PING_EVERY_MS);
    };
    ws.onmessage = (event: MessageEvent) => {
      if (socket !== ws) return;
      const msg = parseServerMessage(event.data);
      if (msg) state.value = reduce(state.value, msg, Date.now());
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      stopPing();
      if (closedByUs) return;
      if (isFinalClose(event.code)) {
        // Replaced, kicked, denied or unauthorized: coming back would not help.
        batch(() => {
          state.value = closeState(state.value, event.code, event.reason);
          link.value = 'closed';
        });
        return;
      }
      scheduleReconnect();
    };
  };

  const scheduleReconnect = () => {
    if (closedByUs) return;
    link.value = 'reconnecting';
    clearTimeout(retryTimer);
    retryTimer = setTimeout(open, backoffMs(attempt++));
  };

  // Back online: try at once instead of waiting out the backoff.
  const onOnline = () => {
    if (!closedByUs && socket === null) {
      attempt = 0;
      open();
    }
  };

  const send = (message: ClientMessage) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };

  const close = () => {
    closedByUs = true;
    clearTimeout(retryTimer);
    stopPing();
    window.removeEventListener('online', onOnline);
    socket?.close(1000, 'bye');
    socket = null;
    link.value = 'closed';
  };

  window.addEventListener('online', onOnline);
  open();
  return { sessionId, state, link, send, close };
}
