// One session on the home page: what and when, its state, and what the
// instructor can do with it now.
import { span } from '../../lib/timefmt';
import { Badge, Button } from '../../ui';
import { InvitePanel } from './InvitePanel';
import { ReportPanel } from './ReportPanel';
import type { SessionView } from './sessions';

export type Opened = 'invite' | 'report' | null;

function StateBadge({ s }: { s: SessionView }) {
  if (s.state === 'ended') return <Badge>Ended</Badge>;
  if (s.live || s.state === 'live') return <Badge tone="live">Live</Badge>;
  return <Badge tone="ok">Scheduled</Badge>;
}

function viewersInWords(s: SessionView): string | null {
  if (!s.viewers || s.state === 'ended') return null;
  const n = s.viewers.webrtc + s.viewers.hls;
  if (!s.live && n === 0) return null;
  return n === 1 ? '1 watching' : `${n} watching`;
}

export function SessionCard(props: { s: SessionView; opened: Opened; onOpen: (what: Opened) => void }) {
  const { s, opened } = props;
  const ended = s.state === 'ended';
  const viewers = viewersInWords(s);
  const start = s.live ? 'Open studio' : 'Start class';
  const toggle = (what: Opened) => props.onOpen(opened === what ? null : what);
  const headingId = `session-${s.id}`;
  return (
    <article class="card session" aria-labelledby={headingId}>
      <div class="session-row">
        <div class="session-what">
          <h3 id={headingId}>{s.title}</h3>
          <p class="session-meta">
            <span>{span(s.scheduled_start, s.scheduled_end) || 'No time set'}</span>
            {s.course ? (
              <span>
                <a href={`/library?course=${encodeURIComponent(s.course)}`} aria-label={`Recordings of ${s.course}`}>
                  {s.course}
                </a>
              </span>
            ) : null}
            {s.record ? <span>Recorded</span> : null}
            {viewers ? <span>{viewers}</span> : null}
          </p>
        </div>
        <StateBadge s={s} />
        <div class="session-actions">
          {!ended ? (
            <a class="btn btn-primary" href={`/studio/${encodeURIComponent(s.id)}`} aria-label={`${start}: ${s.title}`}>
              {start}
            </a>
          ) : null}
          {!ended ? (
            <Button aria-expanded={opened === 'invite'} aria-label={`Invite to ${s.title}`} onClick={() => toggle('invite')}>
              Invite
            </Button>
          ) : null}
          {ended ? (
            <Button aria-expanded={opened === 'report'} aria-label={`Attendance of ${s.title}`} onClick={() => toggle('report')}>
              Attendance
            </Button>
          ) : null}
          {ended && s.record ? (
            <a class="btn" href={`/replay/${encodeURIComponent(s.id)}`} aria-label={`Replay ${s.title}`}>
              Replay
            </a>
          ) : null}
        </div>
      </div>
      {opened === 'invite' ? <InvitePanel sessionId={s.id} title={s.title} /> : null}
      {opened === 'report' ? <ReportPanel sessionId={s.id} title={s.title} /> : null}
    </article>
  );
}
