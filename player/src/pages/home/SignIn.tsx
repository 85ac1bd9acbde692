// Signing in on the home page: paste an instructor token (the link `make
// run` prints signs in by itself).
import { useState } from 'preact/hooks';
import { claimsOf } from '../../lib/auth';
import { Button, Field, Notice } from '../../ui';

export function SignIn(props: { message?: string; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState('');

  const submit = (e: Event) => {
    e.preventDefault();
    const token = value.trim();
    const claims = token ? claimsOf(token) : null;
    if (!token) return setError('Paste your instructor token first.');
    if (!claims) return setError('This is not a valid token, or it has expired. Make a new one and paste it again.');
    if (claims.role !== 'instructor') {
      return setError('This is a student or guest token. This page is for instructors: students join from the link their instructor sends.');
    }
    props.onToken(token);
  };

  return (
    <section class="card signin" aria-labelledby="signin-heading">
      <h1 id="signin-heading">Sign in with your instructor token</h1>
      <p>
        Your school's learning platform usually signs you in when you open classcast from it. Otherwise, use the
        link <code>make run</code> prints when the server starts, or make a token on the server with{' '}
        <code>classcast token --role instructor --user &lt;your name&gt;</code> and paste it here.
      </p>
      {props.message ? <Notice tone="warn">{props.message}</Notice> : null}
      <form class="signin-form" onSubmit={submit} noValidate>
        <Field label="Instructor token">
          <textarea
            rows={3}
            value={value}
            spellcheck={false}
            autocomplete="off"
            onInput={(e) => {
              setValue(e.currentTarget.value);
              setError('');
            }}
          />
        </Field>
        {error ? <Notice tone="error">{error}</Notice> : null}
        <div class="form-actions">
          <Button variant="primary" type="submit">
            Sign in
          </Button>
        </div>
      </form>
    </section>
  );
}
