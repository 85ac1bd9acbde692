// "New class": title, when, and how it is delivered → POST /api/sessions.
import { useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { fromLocalInput, toLocalInput } from '../../lib/timefmt';
import { MAX_COURSE, MAX_TITLE, problemWith } from './validate';
import { Button, Field, Notice } from '../../ui';
import { createSession, type NewSession, type SessionView } from './sessions';

/** The next quarter hour from now, and an hour after it. */
function defaultTimes(now = new Date()): [string, string] {
  const start = new Date(now);
  start.setSeconds(0, 0);
  start.setMinutes(Math.ceil((start.getMinutes() + 1) / 15) * 15);
  return [toLocalInput(start), toLocalInput(new Date(start.getTime() + 3600_000))];
}

export function NewClassForm(props: { onCreated: (s: SessionView) => void; onCancel: () => void }) {
  const [defStart, defEnd] = defaultTimes();
  const [title, setTitle] = useState('');
  const [start, setStart] = useState(defStart);
  const [end, setEnd] = useState(defEnd);
  const [course, setCourse] = useState('');
  const [cap, setCap] = useState('');
  const [record, setRecord] = useState(true);
  const [guestsWebrtc, setGuestsWebrtc] = useState(false);
  const [allowDownload, setAllowDownload] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = problemWith({ title, start, end, course, cap });
    if (problem) return setError(problem);
    const body: NewSession = {
      title: title.trim(),
      scheduled_start: fromLocalInput(start),
      scheduled_end: fromLocalInput(end),
      record,
      guests_webrtc: guestsWebrtc,
    };
    if (cap.trim() !== '') body.max_webrtc_viewers = Number(cap);
    // Sent only when used, so the form also works with servers that predate them.
    if (course.trim()) body.course = course.trim();
    if (allowDownload) body.allow_download = true;
    setBusy(true);
    setError('');
    try {
      props.onCreated(await createSession(body));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'The class could not be created. Try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card new-class" aria-labelledby="new-class-heading">
      <h2 id="new-class-heading">New class</h2>
      <form onSubmit={submit} noValidate>
        <div class="form-grid">
          <div class="span-2">
            <Field label="Title">
              <input type="text" value={title} maxLength={MAX_TITLE} required onInput={(e) => setTitle(e.currentTarget.value)} />
            </Field>
          </div>
          <Field label="Starts">
            <input type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
          </Field>
          <Field label="Ends">
            <input type="datetime-local" value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
          </Field>
          <Field label="Course (optional)">
            <input
              type="text"
              value={course}
              maxLength={MAX_COURSE}
              placeholder="e.g. MATH 101"
              onInput={(e) => setCourse(e.currentTarget.value)}
            />
          </Field>
          <Field label="Viewers over WebRTC, at most (optional)">
            <input
              type="number"
              min={0}
              max={100000}
              step={1}
              inputMode="numeric"
              value={cap}
              placeholder="Server default"
              onInput={(e) => setCap(e.currentTarget.value)}
            />
          </Field>
        </div>
        <p class="hint">Past the WebRTC limit, students watch the broadcast instead: a few seconds behind, at any scale.</p>
        <div class="checks">
          <Field label="Record this class" check>
            <input type="checkbox" checked={record} onChange={(e) => setRecord(e.currentTarget.checked)} />
          </Field>
          <Field label="Let students download the recording" check>
            <input type="checkbox" checked={allowDownload} onChange={(e) => setAllowDownload(e.currentTarget.checked)} />
          </Field>
          <Field label="Guests watch over WebRTC too" check>
            <input type="checkbox" checked={guestsWebrtc} onChange={(e) => setGuestsWebrtc(e.currentTarget.checked)} />
          </Field>
        </div>
        {error ? <Notice tone="error">{error}</Notice> : null}
        <div class="form-actions">
          <Button variant="primary" type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create class'}
          </Button>
          <Button onClick={props.onCancel}>Cancel</Button>
        </div>
      </form>
    </section>
  );
}
