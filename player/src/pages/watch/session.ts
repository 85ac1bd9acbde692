// The session itself (GET /api/sessions/<id>): its title for the header, and
// a clear error for one that does not exist or may not be watched.
import { authHeaders, fail, isWebRtcMode, page, RETRY_MS, session, setStatus, ui } from './page';

export interface SessionJson {
  title?: string;
  state?: string;
  live?: boolean;
}

export function fetchSession(): Promise<Response> {
  return fetch(`/api/sessions/${encodeURIComponent(session)}`, { headers: authHeaders(), cache: 'no-store' });
}

/**
 * The title for the header, and a clear error for a session that does not
 * exist (its master playlist is a 404 too, which alone would mean "retry
 * forever"). `hlsRetryPending`: whether HLS waits to retry, when the status
 * line says what the session is waiting for.
 */
export async function checkSession(hlsRetryPending: () => boolean): Promise<void> {
  try {
    const res = await fetchSession();
    if (res.status === 404) return fail(`no such session: ${session}`);
    if (res.status === 401 || res.status === 403) return fail(`not allowed to watch ${session} (HTTP ${res.status})`);
    if (!res.ok) return;
    const s = (await res.json()) as SessionJson;
    if (s.title) {
      ui.title.textContent = s.title;
      document.title = `${s.title} · classcast`;
    }
    if (page.state === 'waiting' && hlsRetryPending() && !isWebRtcMode()) {
      setStatus(
        s.live
          ? 'the class is live; waiting for the first HLS segments…'
          : `waiting for the class to start (session ${s.state}); retrying every ${RETRY_MS / 1000} s…`,
      );
    }
  } catch {
    // The title is a nicety; playback errors are reported by the player.
  }
}
