// The recording-consent question, asked once per class (the answer is kept
// in this browser and stored by the server: PUT /api/sessions/{id}/consent).
import { useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import type { Claims } from '../../lib/auth';
import { Button, Notice } from '../../ui';
import { answerConsent, consentAnswered, rememberConsent, type ClassSession } from './session';

export function ConsentPrompt(props: { session: ClassSession; claims: Claims }) {
  const { session, claims } = props;
  const [answered, setAnswered] = useState(() => consentAnswered(session.id, claims.sub));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (answered) return null;

  const answer = async (consent: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await answerConsent(session.id, consent);
      rememberConsent(session.id, claims.sub, consent);
      setAnswered(true);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Your answer could not be saved. Try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="consent card" aria-labelledby="consent-heading">
      <div class="consent-text">
        <h2 id="consent-heading">This class is recorded</h2>
        <p>
          {session.instructor.name} records this class for replay. If you speak, chat or go on stage, you may be in
          the recording. Do you agree to be recorded?
        </p>
      </div>
      <div class="consent-actions">
        <Button variant="primary" disabled={busy} onClick={() => void answer(true)}>
          I agree
        </Button>
        <Button disabled={busy} onClick={() => void answer(false)}>
          I do not agree
        </Button>
      </div>
      {error ? <Notice tone="error">{error}</Notice> : null}
    </section>
  );
}
