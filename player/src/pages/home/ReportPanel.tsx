// An ended session's attendance: who came, for how long, what they did; and
// the same as a CSV file.
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { when } from '../../lib/timefmt';
import { Button, Notice } from '../../ui';
import { reportCsv, sessionReport, type SessionReport } from './sessions';

const messageOf = (e: unknown) => (e instanceof ApiError ? e.message : 'Something went wrong. Try again.');
const roleName: Record<string, string> = { instructor: 'Instructor', student: 'Student', guest: 'Guest' };

function minutes(m: number): string {
  if (m < 1) return m > 0 ? 'under 1 min' : '0 min';
  return `${Math.round(m)} min`;
}

export function ReportPanel(props: { sessionId: string; title: string }) {
  const [report, setReport] = useState<SessionReport | null>(null);
  const [error, setError] = useState('');
  const [csvError, setCsvError] = useState('');
  const [downloading, setDownloading] = useState(false);

  useEffect(() => {
    let gone = false;
    sessionReport(props.sessionId).then(
      (r) => !gone && setReport(r),
      (e) => !gone && setError(`The attendance could not be loaded: ${messageOf(e)}`),
    );
    return () => {
      gone = true;
    };
  }, [props.sessionId]);

  const download = async () => {
    setCsvError('');
    setDownloading(true);
    try {
      const { blob, filename } = await reportCsv(props.sessionId, props.title);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setCsvError(`The CSV file could not be made: ${messageOf(e)}`);
    } finally {
      setDownloading(false);
    }
  };

  const t = report?.totals;
  return (
    <div class="panel" role="region" aria-label={`Attendance for ${props.title}`}>
      <div class="panel-head">
        <h3>Attendance</h3>
        <Button small onClick={download} disabled={downloading}>
          {downloading ? 'Preparing…' : 'Download CSV'}
        </Button>
      </div>
      {csvError ? <Notice tone="error">{csvError}</Notice> : null}
      {error ? <Notice tone="error">{error}</Notice> : null}
      {!report && !error ? <p class="muted">Loading the attendance…</p> : null}
      {report && t ? (
        <>
          <p class="muted small">
            {t.participants === 1 ? '1 participant' : `${t.participants} participants`} · {t.chat_messages} chat messages ·{' '}
            {t.hand_raises} raised hands
            {t.polls.length ? ` · ${Math.round(t.poll_participation * 100)}% of students answered a poll` : ''}
          </p>
          {report.participants.length === 0 ? (
            <p>Nobody joined this class.</p>
          ) : (
            <div class="table-wrap">
              <table class="report">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Role</th>
                    <th scope="col">Time present</th>
                    <th scope="col">First joined</th>
                    <th scope="col">Last left</th>
                    <th scope="col" class="num">Chat</th>
                    <th scope="col" class="num">Hands</th>
                    <th scope="col" class="num">Polls</th>
                  </tr>
                </thead>
                <tbody>
                  {report.participants.map((p) => (
                    <tr key={p.participant_id}>
                      <th scope="row">{p.name}</th>
                      <td>{roleName[p.role] ?? p.role}</td>
                      <td>{minutes(p.attendance_minutes)}</td>
                      <td>{when(p.first_join) || '—'}</td>
                      <td>{p.present ? 'Still here' : when(p.last_leave) || '—'}</td>
                      <td class="num">{p.chat_messages}</td>
                      <td class="num">{p.hand_raises}</td>
                      <td class="num">{p.polls_answered}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      ) : null}
    </div>
  );
}
