// The session as the server sees it (`GET /api/sessions/{id}`), refreshed
// every 5 s: live or not, recording, viewers by tier, ended. Plus the
// instructor's record switch and End class.
import { signal } from '@preact/signals';
import { api, ApiError } from '../../lib/api';

export interface SessionInfo {
  id: string;
  title: string;
  instructor: { id: string; name: string };
  state: 'scheduled' | 'live' | 'ended';
  live: boolean;
  record: boolean;
  whip_url: string;
  viewers: { webrtc: number; hls: number };
}

const REFRESH_MS = 5000;

export const sessionPath = (id: string) => `/api/sessions/${encodeURIComponent(id)}`;

/** The first look at the session: what the page decides to show from. */
export async function loadSession(id: string): Promise<SessionInfo> {
  return api<SessionInfo>('GET', sessionPath(id));
}

export class SessionWatch {
  readonly info = signal<SessionInfo>();
  /** Words for the last failed action (record, end). */
  readonly actionError = signal<string | null>(null);
  readonly busy = signal(false);
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(first: SessionInfo) {
    this.info.value = first;
  }

  start(): void {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const id = this.info.value?.id;
    if (!id) return;
    try {
      this.info.value = await loadSession(id);
    } catch {
      // A missed refresh changes nothing shown; the next one may succeed.
    }
  }

  async setRecord(record: boolean): Promise<void> {
    await this.act(async (id) => {
      await api('PUT', `${sessionPath(id)}/record`, { record });
      await this.refresh();
    });
  }

  async end(): Promise<boolean> {
    return this.act(async (id) => {
      this.info.value = await api<SessionInfo>('POST', `${sessionPath(id)}/end`);
    });
  }

  private async act(work: (id: string) => Promise<void>): Promise<boolean> {
    const id = this.info.value?.id;
    if (!id || this.busy.value) return false;
    this.busy.value = true;
    this.actionError.value = null;
    try {
      await work(id);
      return true;
    } catch (e) {
      this.actionError.value = e instanceof ApiError ? e.message : 'That did not work. Try again.';
      return false;
    } finally {
      this.busy.value = false;
    }
  }
}
