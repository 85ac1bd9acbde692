// window.classcast: what tests/browser/publish.mjs reads (state, location,
// stats(); lib.mjs: lastError).
import { pub, type PublishState } from './page';
import { stats, type SendSummary } from './stats';

export interface PublishHook {
  readonly state: PublishState;
  /** The absolute WHIP resource URL from the Location header. */
  readonly location: string | null;
  readonly session: string | null;
  readonly lastError: string | null;
  stats(): Promise<SendSummary>;
}

declare global {
  /** The test hook of each page that has one (window.classcast). */
  interface ClasscastHooks {
    publish: PublishHook;
  }
  interface Window {
    classcast?: ClasscastHooks[keyof ClasscastHooks];
  }
}

export function installHook(): void {
  window.classcast = {
    get state() {
      return pub.state;
    },
    get location() {
      return pub.location;
    },
    get session() {
      return pub.session;
    },
    get lastError() {
      return pub.lastError;
    },
    stats,
  } satisfies PublishHook;
}
