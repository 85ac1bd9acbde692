// The session to publish into: read from the address, created on demand
// (POST /api/sessions), and its server counters polled every 2 s.
import { messageOf } from '../../lib/api';
import { authHeaders, httpError, pub, setStatus, token, ui } from './page';

const POLL_MS = 2000;

let pollTimer: ReturnType<typeof setInterval> | undefined;

interface SessionJson {
  id: string;
  state?: string;
  live?: boolean;
  media?: unknown;
}

/** #token=..&session=..&codec=.. (the query string works too) into the form. */
export function readParams(): void {
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const get = (k: string) => h.get(k) ?? q.get(k) ?? '';
  ui.token.value = get('token');
  ui.session.value = get('session');
  if (get('codec')) ui.codec.value = get('codec');
}

function rememberSession(id: string): void {
  ui.session.value = id;
  pub.session = id;
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  h.set('session', id);
  if (token()) h.set('token', token());
  history.replaceState(null, '', `${location.pathname}${location.search}#${h.toString()}`);
  startPolling();
}

export async function createSession(): Promise<string> {
  const res = await fetch('/api/sessions', {
    method: 'POST',
    headers: authHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ title: ui.title.value.trim() || 'Live class' }),
  });
  if (res.status !== 201) throw new Error(`create session failed: ${await httpError(res)}`);
  const s = (await res.json()) as SessionJson;
  rememberSession(s.id);
  setStatus(`session ${s.id} created (${s.state ?? 'scheduled'})`);
  return s.id;
}

async function pollOnce(): Promise<void> {
  const id = ui.session.value.trim();
  if (!id) return;
  try {
    const res = await fetch(`/api/sessions/${encodeURIComponent(id)}`, { headers: authHeaders(), cache: 'no-store' });
    if (!res.ok) {
      ui.counters.textContent = await httpError(res);
      return;
    }
    const s = (await res.json()) as SessionJson;
    ui.counters.textContent = `state: ${s.state}   live: ${s.live}\n` + JSON.stringify(s.media ?? {}, null, 2);
  } catch (e) {
    ui.counters.textContent = `poll failed: ${messageOf(e)}`;
  }
}

export function startPolling(): void {
  clearInterval(pollTimer);
  void pollOnce();
  pollTimer = setInterval(() => void pollOnce(), POLL_MS);
}

export function stopPolling(): void {
  clearInterval(pollTimer);
}
