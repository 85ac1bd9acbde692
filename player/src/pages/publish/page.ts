// What the publisher's modules share: the page's elements, where the publish
// stands (also what the test hook shows), and the state and status lines.
import { byId as pageElement } from '../../lib/dom';

export type PublishState = 'idle' | 'connecting' | 'live' | 'stopped' | 'error';

const byId = <T extends HTMLElement>(id: string, type: new () => T): T =>
  pageElement('publish.html', id, type);

export const ui = {
  controls: byId('controls', HTMLFormElement),
  token: byId('token', HTMLInputElement),
  session: byId('session', HTMLInputElement),
  title: byId('title', HTMLInputElement),
  create: byId('create', HTMLButtonElement),
  codec: byId('codec', HTMLSelectElement),
  golive: byId('golive', HTMLButtonElement),
  camera: byId('camera', HTMLButtonElement),
  mic: byId('mic', HTMLButtonElement),
  stop: byId('stop', HTMLButtonElement),
  state: byId('state', HTMLElement),
  status: byId('status', HTMLElement),
  preview: byId('preview', HTMLVideoElement),
  counters: byId('counters', HTMLElement),
};

export const pub = {
  state: 'idle' as PublishState,
  /** The absolute WHIP resource URL from the Location header. */
  location: null as string | null,
  /** The session id. */
  session: null as string | null,
  lastError: null as string | null,
  /** The connection while publishing. */
  pc: null as RTCPeerConnection | null,
  /** The camera and microphone. */
  stream: null as MediaStream | null,
};

export function setState(state: PublishState): void {
  pub.state = state;
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  const busy = state === 'connecting' || state === 'live';
  ui.golive.disabled = busy;
  ui.create.disabled = busy;
  ui.codec.disabled = busy;
  ui.stop.disabled = !(busy || pub.pc || pub.stream);
  ui.camera.disabled = ui.mic.disabled = !pub.stream;
}

export function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

export function fail(message: string): void {
  pub.lastError = message;
  setStatus(message, true);
  setState('error');
}

export function token(): string {
  return ui.token.value.trim();
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

/** "HTTP 409 Conflict: <the body>" for a refused request. */
export async function httpError(res: Response): Promise<string> {
  const body = (await res.text().catch(() => '')).trim();
  return `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}${body ? ': ' + body : ''}`;
}
