// People: who is in the class (connection quality, media, stage, spotlight,
// recording consent) and, for instructors, the lobby and the moderation
// actions on each participant.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api';
import type { ClientMessage, Participant } from '../room/protocol';
import { Button } from '../ui';
import { initials, qualityWords, roleWords } from './format';
import { CameraIcon, MicIcon, ScreenIcon } from './icons';
import type { PanelProps } from './types';
import './people.css';

/** `recording_consent` per user id, from GET /api/sessions/{id}/participants. */
type ConsentMap = Map<string, boolean | null>;

interface ParticipantRow {
  user_id: string;
  recording_consent: boolean | null;
}

const CONSENT_EVERY_MS = 10_000;

/** Instructors: the recording consent of everyone who joined, refreshed every 10 s. */
function useConsent(sessionId: string, enabled: boolean): ConsentMap | null {
  const [consent, setConsent] = useState<ConsentMap | null>(null);
  useEffect(() => {
    if (!enabled) return undefined;
    const abort = new AbortController();
    const load = async () => {
      try {
        const body = await api<{ participants: ParticipantRow[] }>(
          'GET',
          `/api/sessions/${encodeURIComponent(sessionId)}/participants`,
          undefined,
          { signal: abort.signal },
        );
        setConsent(new Map(body.participants.map((p) => [p.user_id, p.recording_consent])));
      } catch {
        // Keep what we had; the next round may succeed.
      }
    };
    void load();
    const timer = setInterval(() => void load(), CONSENT_EVERY_MS);
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, [sessionId, enabled]);
  return consent;
}

export function QualityDot({ quality }: { quality: Participant['quality'] }) {
  const words = qualityWords(quality);
  return (
    <span class={`quality-dot quality-${quality ?? 'none'}`} title={words}>
      <span class="visually-hidden">{words}</span>
    </span>
  );
}

function MediaIcons({ p }: { p: Participant }) {
  const mic = p.media.mic ? 'Microphone on' : 'Microphone off';
  const camera = p.media.camera ? 'Camera on' : 'Camera off';
  return (
    <span class="media-icons">
      <span class={p.media.mic ? 'media-on' : 'media-off'} title={mic}>
        <MicIcon off={!p.media.mic} />
        <span class="visually-hidden">{mic}</span>
      </span>
      <span class={p.media.camera ? 'media-on' : 'media-off'} title={camera}>
        <CameraIcon off={!p.media.camera} />
        <span class="visually-hidden">{camera}</span>
      </span>
      {p.media.screen ? (
        <span class="media-on media-screen" title="Sharing the screen">
          <ScreenIcon />
          <span class="visually-hidden">Sharing the screen</span>
        </span>
      ) : null}
    </span>
  );
}

function consentTag(consent: boolean | null | undefined) {
  if (consent === undefined) return null;
  if (consent === true) return <span class="tag tag-ok">Recording agreed</span>;
  if (consent === false) return <span class="tag tag-warn">Recording declined</span>;
  return <span class="tag">Recording: no answer</span>;
}

/** The instructor's actions on one participant, behind a disclosure. */
function Actions({ room, p }: PanelProps & { p: Participant }) {
  const [open, setOpen] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [reason, setReason] = useState('');
  const spotlit = room.state.value.spotlight === p.id;
  const student = p.role === 'student';
  const send = (m: ClientMessage) => room.send(m);
  const id = p.id;
  const who = <span class="visually-hidden"> {p.name}</span>;
  return (
    <div class="person-actions">
      <Button small aria-expanded={open} onClick={() => setOpen(!open)} class="actions-toggle">
        Actions<span class="visually-hidden"> for {p.name}</span>
      </Button>
      {open ? (
        <div class="actions-row">
          <Button small onClick={() => send({ type: 'mute', participant_id: id })}>
            Mute{who}
          </Button>
          {student ? (
            <Button small onClick={() => send({ type: 'call_on', participant_id: id, stage: false })}>
              Call on{who}
            </Button>
          ) : null}
          {student && !p.on_stage ? (
            <Button small onClick={() => send({ type: 'call_on', participant_id: id, stage: true })}>
              Call on stage{who}
            </Button>
          ) : null}
          {p.on_stage ? (
            <Button small onClick={() => send({ type: 'demote', participant_id: id })}>
              Demote{who}
            </Button>
          ) : null}
          <Button
            small
            aria-pressed={spotlit}
            onClick={() => send(spotlit ? { type: 'spotlight' } : { type: 'spotlight', participant_id: id })}
          >
            {spotlit ? 'Remove spotlight' : 'Spotlight'}
            {who}
          </Button>
          {p.role !== 'guest' ? (
            <Button small onClick={() => send({ type: 'mute_chat', participant_id: id, muted: !p.chat_muted })}>
              {p.chat_muted ? 'Unmute chat' : 'Mute chat'}
              {who}
            </Button>
          ) : null}
          {p.role !== 'instructor' ? (
            <Button small variant="plain" class="btn-quiet-danger" onClick={() => setConfirmRemove(true)}>
              Remove…{who}
            </Button>
          ) : null}
        </div>
      ) : null}
      {open && confirmRemove ? (
        <div class="confirm" role="group" aria-label={`Remove ${p.name}`}>
          <p>
            Remove <strong>{p.name}</strong> from this class? They cannot join again.
          </p>
          <label class="field">
            <span>Reason (optional, shown to them)</span>
            <input value={reason} maxLength={200} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <div class="confirm-buttons">
            <Button small onClick={() => setConfirmRemove(false)}>
              Cancel
            </Button>
            <Button
              small
              variant="danger"
              onClick={() => {
                const text = reason.trim();
                send(text ? { type: 'kick', participant_id: id, reason: text } : { type: 'kick', participant_id: id });
                setConfirmRemove(false);
                setOpen(false);
              }}
            >
              Remove {p.name}
            </Button>
          </div>
        </div>
      ) : null}
    </div>
  );
}

function order(a: Participant, b: Participant): number {
  const rank = (p: Participant) => (p.role === 'instructor' ? 0 : p.role === 'student' ? 1 : 2);
  return rank(a) - rank(b) || a.name.localeCompare(b.name);
}

export function ParticipantsPanel({ room }: PanelProps) {
  const s = room.state.value;
  const instructor = s.you?.role === 'instructor';
  const consent = useConsent(room.sessionId, instructor);
  const people = [...s.participants].sort(order);
  return (
    <section class="panel-section" aria-labelledby="people-heading">
      <div class="section-head">
        <h3 id="people-heading">In class ({people.length})</h3>
        {instructor ? (
          <Button small onClick={() => room.send({ type: 'mute_all' })}>
            Mute all
          </Button>
        ) : null}
      </div>
      <ul class="people">
        {people.map((p) => {
          const you = p.id === s.you?.id;
          return (
            <li key={p.id} class={`person${s.spotlight === p.id ? ' person-spotlit' : ''}`}>
              <div class="person-main">
                <span class="avatar-wrap">
                  <span class="avatar" aria-hidden="true">
                    {initials(p.name)}
                  </span>
                  <QualityDot quality={p.quality} />
                </span>
                <div class="person-text">
                  <span class="person-name">
                    {p.name}
                    {you ? <span class="muted"> (you)</span> : null}
                  </span>
                  <span class="person-tags">
                    <span class="tag-plain">{roleWords(p.role)}</span>
                    {p.on_stage ? <span class="tag tag-accent">On stage</span> : null}
                    {s.spotlight === p.id ? <span class="tag tag-accent">Spotlight</span> : null}
                    {p.hand_raised ? <span class="tag">Hand raised</span> : null}
                    {p.chat_muted ? <span class="tag tag-warn">Chat muted</span> : null}
                    {instructor && p.role !== 'instructor' ? consentTag(consent ? (consent.get(p.id) ?? null) : undefined) : null}
                  </span>
                </div>
                {p.role !== 'guest' ? <MediaIcons p={p} /> : null}
              </div>
              {instructor && !you ? <Actions room={room} p={p} /> : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** Instructors: the lobby switch and who waits, with Admit / Deny. */
export function LobbyPanel({ room }: PanelProps) {
  const s = room.state.value;
  if (s.you?.role !== 'instructor') return null;
  const { enabled, waiting } = s.lobby;
  return (
    <section class="panel-section lobby" aria-labelledby="lobby-heading">
      <div class="section-head">
        <h3 id="lobby-heading">Lobby</h3>
        <label class="switch">
          <input
            type="checkbox"
            role="switch"
            checked={enabled}
            onChange={(e) => room.send({ type: 'set_lobby', enabled: e.currentTarget.checked })}
          />
          <span class="switch-track" aria-hidden="true" />
          <span>Lobby {enabled ? 'on' : 'off'}</span>
        </label>
      </div>
      <p class="hint">
        {enabled ? 'New students and guests wait here until you let them in.' : 'Everyone with the link joins at once.'}
      </p>
      {waiting.length > 0 ? (
        <>
          <ul class="people waiting">
            {waiting.map((p) => (
              <li key={p.id} class="person">
                <div class="person-main">
                  <span class="avatar" aria-hidden="true">
                    {initials(p.name)}
                  </span>
                  <div class="person-text">
                    <span class="person-name">{p.name}</span>
                    <span class="person-tags">
                      <span class="tag-plain">{roleWords(p.role)}, waiting</span>
                    </span>
                  </div>
                  <div class="row-buttons">
                    <Button small variant="primary" onClick={() => room.send({ type: 'admit', participant_id: p.id })}>
                      Admit<span class="visually-hidden"> {p.name}</span>
                    </Button>
                    <Button small onClick={() => room.send({ type: 'deny', participant_id: p.id })}>
                      Deny<span class="visually-hidden"> {p.name}</span>
                    </Button>
                  </div>
                </div>
              </li>
            ))}
          </ul>
          {waiting.length > 0 ? (
            <Button small class="admit-all" onClick={() => room.send({ type: 'admit' })}>
              Admit all ({waiting.length})
            </Button>
          ) : null}
        </>
      ) : enabled ? (
        <p class="empty">Nobody is waiting.</p>
      ) : null}
    </section>
  );
}
