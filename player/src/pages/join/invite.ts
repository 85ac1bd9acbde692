// An invite link's API: what it is for, and redeeming it with a name.
import { api } from '../../lib/api';
import type { Role } from '../../lib/auth';

export interface InviteInfo {
  role: Role;
  expires_at: string;
  session: {
    id: string;
    title: string;
    state: 'scheduled' | 'live' | 'ended';
    scheduled_start: string | null;
    scheduled_end: string | null;
    instructor_name: string;
    record: boolean;
  };
}

export interface Redeemed {
  token: string;
  session_id: string;
  role: Role;
  name: string;
  expires_at: string;
}

const path = (code: string) => `/api/invites/${encodeURIComponent(code)}`;

// No token: an invite is its own credential, and this browser may hold
// another class's token that must not be sent along.
export const readInvite = (code: string) => api<InviteInfo>('GET', path(code), undefined, { token: null });
export const redeemInvite = (code: string, name: string) => api<Redeemed>('POST', `${path(code)}/redeem`, { name }, { token: null });

export const MAX_NAME = 64;

/** What is wrong with a display name, in words, or null (the server checks too). */
export function nameProblem(raw: string): string | null {
  const name = raw.trim();
  if (!name) return 'Enter your name, as your instructor and classmates should see it.';
  if ([...name].length > MAX_NAME) return `Your name can be at most ${MAX_NAME} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'Your name cannot contain control characters.';
  return null;
}
