// A session's invite links: one for students, one for guests, each with a
// Copy button, its expiry and uses, and a way to replace a leaked link.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { when } from '../../lib/timefmt';
import { Button, Notice } from '../../ui';
import { createInvite, listInvites, revokeInvite, usable, type Invite, type InviteRole } from './sessions';
import './invite.css';

const ROLES: { role: InviteRole; label: string; about: string }[] = [
  { role: 'student', label: 'Student link', about: 'Students join with their name: they watch, chat, raise a hand and answer polls.' },
  { role: 'guest', label: 'Guest link', about: 'Guests join with their name and watch the class.' },
];

const messageOf = (e: unknown) => (e instanceof ApiError ? e.message : 'Something went wrong. Try again.');

export function InvitePanel(props: { sessionId: string; title: string }) {
  const [invites, setInvites] = useState<Partial<Record<InviteRole, Invite>> | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    let gone = false;
    void (async () => {
      try {
        const existing = await listInvites(props.sessionId);
        const found: Partial<Record<InviteRole, Invite>> = {};
        for (const { role } of ROLES) {
          found[role] = existing.find((i) => i.role === role && usable(i)) ?? (await createInvite(props.sessionId, role));
        }
        if (!gone) setInvites(found);
      } catch (e) {
        if (!gone) setError(`The invite links could not be made: ${messageOf(e)}`);
      }
    })();
    return () => {
      gone = true;
    };
  }, [props.sessionId]);

  const replace = async (old: Invite) => {
    setError('');
    try {
      await revokeInvite(props.sessionId, old.id);
      const fresh = await createInvite(props.sessionId, old.role);
      setInvites((all) => ({ ...all, [old.role]: fresh }));
    } catch (e) {
      setError(`The link could not be replaced: ${messageOf(e)}`);
    }
  };

  return (
    <div class="panel" role="region" aria-label={`Invite links for ${props.title}`}>
      <h3>Invite people</h3>
      {error ? <Notice tone="error">{error}</Notice> : null}
      {!invites && !error ? <p class="muted">Preparing the links…</p> : null}
      {invites
        ? ROLES.map(({ role, label, about }) => {
            const invite = invites[role];
            return invite ? <InviteLink key={role} invite={invite} label={label} about={about} onReplace={replace} /> : null;
          })
        : null}
    </div>
  );
}

function usesInWords(i: Invite): string {
  const used = i.uses === 1 ? 'Used once' : `Used ${i.uses} times`;
  return i.max_uses === null ? `${used}, no limit` : `${used} of ${i.max_uses}`;
}

function InviteLink(props: { invite: Invite; label: string; about: string; onReplace: (i: Invite) => Promise<void> }) {
  const { invite, label } = props;
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'select' | ''>('');
  const id = `invite-${invite.id}`;
  const lower = label.toLowerCase();

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(invite.url);
      setCopied('yes');
    } catch {
      // No clipboard access (permission, insecure origin): select it for Ctrl+C.
      input.current?.select();
      setCopied('select');
    }
    setTimeout(() => setCopied(''), 4000);
  };

  return (
    <div class="invite">
      <label class="invite-label" for={id}>
        {label}
      </label>
      <p class="muted small">{props.about}</p>
      <div class="invite-row">
        <input id={id} class="invite-url" type="text" readOnly value={invite.url} ref={input} onFocus={(e) => e.currentTarget.select()} />
        <Button variant="primary" onClick={copy}>
          {copied === 'yes' ? 'Copied' : 'Copy'}
          <span class="visually-hidden"> {lower}</span>
        </Button>
        <Button onClick={() => props.onReplace(invite)} aria-label={`Replace ${lower}`} title="Withdraw this link and make a new one">
          Replace
        </Button>
      </div>
      <p class="muted small">
        Expires {when(invite.expires_at)} · {usesInWords(invite)}
      </p>
      <p class="visually-hidden" role="status">
        {copied === 'yes' ? `${label} copied.` : copied === 'select' ? `${label} selected: press Ctrl+C to copy it.` : ''}
      </p>
    </div>
  );
}
