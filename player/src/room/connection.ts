// The classroom socket as the pages use it: connect, keep the room state as
// a signal, send messages, reconnect by itself (backoff; every `welcome`
// replaces the state). CONTRACT for the pages; the implementation is the
// room helper's (see docs/web.md).
import { signal, type ReadonlySignal } from '@preact/signals';
import type { ClientMessage } from './protocol';
import { initialRoomState, type RoomState } from './state';

export type LinkState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface Room {
  readonly state: ReadonlySignal<RoomState>;
  readonly link: ReadonlySignal<LinkState>;
  /** Sends when open; while reconnecting, drops (the page shows the link state). */
  send(message: ClientMessage): void;
  close(): void;
}

export function connectRoom(_sessionId: string, _token: string): Room {
  const state = signal<RoomState>(initialRoomState);
  const link = signal<LinkState>('connecting');
  return { state, link, send: () => undefined, close: () => undefined };
}
