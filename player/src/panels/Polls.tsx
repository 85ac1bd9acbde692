// Polls: instructors create them (question, 2–6 options, multiple choice,
// timer, shared results), follow the live results and close them; students
// answer and see the results when they are shared or the poll closed.
import { useEffect, useState } from 'preact/hooks';
import type { Poll, PollResults } from '../room/protocol';
import { Button, Field } from '../ui';
import { percent } from './format';
import type { PanelProps } from './types';
import './polls.css';

const MIN_OPTIONS = 2;
const MAX_OPTIONS = 6;
const TIMERS: { label: string; seconds: number | null }[] = [
  { label: 'No timer', seconds: null },
  { label: '30 seconds', seconds: 30 },
  { label: '1 minute', seconds: 60 },
  { label: '2 minutes', seconds: 120 },
  { label: '5 minutes', seconds: 300 },
];

/** Seconds left on an open poll's timer (null without one), ticking each second. */
function useSecondsLeft(closesAt: string | null): number | null {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!closesAt) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [closesAt]);
  if (!closesAt) return null;
  const end = Date.parse(closesAt);
  return Number.isFinite(end) ? Math.max(0, Math.ceil((end - now) / 1000)) : null;
}

function Status({ poll }: { poll: Poll }) {
  const left = useSecondsLeft(poll.closed ? null : poll.closes_at);
  if (poll.closed) return <span class="tag">Closed</span>;
  if (left === null) return <span class="tag tag-ok">Open</span>;
  const m = Math.floor(left / 60);
  const sec = String(left % 60).padStart(2, '0');
  return (
    <span class="tag tag-ok">
      Open · {m}:{sec} left
    </span>
  );
}

export function ResultsChart({ poll, results }: { poll: Poll; results: PollResults }) {
  const top = Math.max(0, ...results.counts);
  return (
    <div class="results">
      <ul class="bars" aria-label={`Results: ${poll.question}`}>
        {poll.options.map((option, i) => {
          const pct = results.percentages[i] ?? 0;
          const count = results.counts[i] ?? 0;
          return (
            <li key={i} class={count > 0 && count === top ? 'bar bar-top' : 'bar'}>
              <div class="bar-label">
                <span class="bar-option">{option}</span>
                <span class="bar-value">
                  {percent(pct)} <span class="muted">({count})</span>
                </span>
              </div>
              <div class="bar-track" aria-hidden="true">
                <div class="bar-fill" style={{ width: `${Math.min(100, Math.max(0, pct))}%` }} />
              </div>
            </li>
          );
        })}
      </ul>
      <p class="respondents">
        {results.respondents} {results.respondents === 1 ? 'respondent' : 'respondents'}
      </p>
    </div>
  );
}

function CreatePoll({ room }: PanelProps) {
  const [open, setOpen] = useState(false);
  const [question, setQuestion] = useState('');
  const [options, setOptions] = useState(['', '']);
  const [multiple, setMultiple] = useState(false);
  const [timer, setTimer] = useState(0);
  const [share, setShare] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);

  if (!open) {
    return (
      <Button variant="primary" class="poll-new" onClick={() => setOpen(true)}>
        Create a poll
      </Button>
    );
  }

  const submit = (e: Event) => {
    e.preventDefault();
    const q = question.trim();
    const opts = options.map((o) => o.trim()).filter((o) => o !== '');
    if (q === '') return setProblem('Write a question.');
    if (q.length > 500) return setProblem('The question is too long (at most 500 characters).');
    if (opts.length < MIN_OPTIONS) return setProblem('Give at least two options.');
    if (opts.some((o) => o.length > 200)) return setProblem('An option is too long (at most 200 characters).');
    const seconds = TIMERS[timer]?.seconds ?? null;
    room.send({
      type: 'create_poll',
      question: q,
      options: opts,
      multiple,
      share_results: share,
      ...(seconds === null ? {} : { duration_s: seconds }),
    });
    setQuestion('');
    setOptions(['', '']);
    setProblem(null);
    setOpen(false);
  };

  return (
    <form class="poll-form" onSubmit={submit} aria-labelledby="poll-form-heading">
      <h3 id="poll-form-heading">New poll</h3>
      <Field label="Question">
        <input value={question} maxLength={500} onInput={(e) => setQuestion(e.currentTarget.value)} />
      </Field>
      <fieldset class="poll-options">
        <legend>Options</legend>
        {options.map((o, i) => (
          <div class="poll-option-row" key={i}>
            <label class="visually-hidden" for={`poll-option-${i}`}>
              Option {i + 1}
            </label>
            <input
              id={`poll-option-${i}`}
              value={o}
              maxLength={200}
              placeholder={`Option ${i + 1}`}
              onInput={(e) => {
                const next = [...options];
                next[i] = e.currentTarget.value;
                setOptions(next);
              }}
            />
            {options.length > MIN_OPTIONS ? (
              <button
                type="button"
                class="icon-button"
                aria-label={`Remove option ${i + 1}`}
                onClick={() => setOptions(options.filter((_, j) => j !== i))}
              >
                ×
              </button>
            ) : null}
          </div>
        ))}
        {options.length < MAX_OPTIONS ? (
          <button type="button" class="link-button" onClick={() => setOptions([...options, ''])}>
            + Add option
          </button>
        ) : null}
      </fieldset>
      <div class="poll-settings">
        <Field label="Several answers allowed" check>
          <input type="checkbox" checked={multiple} onChange={(e) => setMultiple(e.currentTarget.checked)} />
        </Field>
        <Field label="Show results to students" check>
          <input type="checkbox" checked={share} onChange={(e) => setShare(e.currentTarget.checked)} />
        </Field>
        <Field label="Timer">
          <select value={String(timer)} onChange={(e) => setTimer(Number(e.currentTarget.value))}>
            {TIMERS.map((t, i) => (
              <option key={t.label} value={String(i)}>
                {t.label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {problem ? (
        <p class="form-problem" role="alert">
          {problem}
        </p>
      ) : null}
      <div class="poll-form-buttons">
        <Button onClick={() => setOpen(false)}>Cancel</Button>
        <Button variant="primary" type="submit">
          Launch poll
        </Button>
      </div>
    </form>
  );
}

function AnswerForm({ room, poll, onAnswered }: PanelProps & { poll: Poll; onAnswered: () => void }) {
  const [chosen, setChosen] = useState<number[]>([]);
  const name = `poll-${poll.id}`;
  return (
    <form
      class="poll-answer"
      onSubmit={(e) => {
        e.preventDefault();
        if (chosen.length === 0) return;
        room.send({ type: 'answer_poll', poll_id: poll.id, choices: [...chosen].sort((a, b) => a - b) });
        onAnswered();
      }}
    >
      <fieldset>
        <legend class="visually-hidden">{poll.question}</legend>
        {poll.options.map((option, i) => (
          <label key={i} class="choice">
            <input
              type={poll.multiple ? 'checkbox' : 'radio'}
              name={name}
              checked={chosen.includes(i)}
              onChange={(e) => {
                if (!poll.multiple) setChosen([i]);
                else setChosen(e.currentTarget.checked ? [...chosen, i] : chosen.filter((c) => c !== i));
              }}
            />
            <span>{option}</span>
          </label>
        ))}
      </fieldset>
      {poll.multiple ? <p class="hint">Choose one or more.</p> : null}
      <Button variant="primary" type="submit" disabled={chosen.length === 0}>
        Submit<span class="visually-hidden"> answer to {poll.question}</span>
      </Button>
    </form>
  );
}

export function PollsPanel({ room }: PanelProps) {
  const s = room.state.value;
  const instructor = s.you?.role === 'instructor';
  const student = s.you?.role === 'student';
  // Polls this page answered; the server refuses a second answer anyway.
  const [answered, setAnswered] = useState<Set<string>>(new Set());
  const polls = [...s.polls].reverse();
  return (
    <section class="panel-section" aria-labelledby="polls-heading">
      <div class="section-head">
        <h3 id="polls-heading">Polls</h3>
      </div>
      {instructor ? <CreatePoll room={room} /> : null}
      {polls.length === 0 ? <p class="empty">{instructor ? 'No polls yet.' : 'No polls yet. Your instructor may start one.'}</p> : null}
      <ul class="poll-list">
        {polls.map((poll) => {
          const results = s.results[poll.id];
          const alreadyRefused = s.lastError?.code === 'already_answered';
          const done = answered.has(poll.id);
          return (
            <li key={poll.id} class="poll card-flat" aria-label={`Poll: ${poll.question}`}>
              <div class="poll-head">
                <p class="poll-question">{poll.question}</p>
                <Status poll={poll} />
              </div>
              <p class="poll-meta">
                {poll.multiple ? 'Several answers allowed' : 'One answer'}
                {instructor ? (poll.share_results ? ' · results shown to students' : ' · results only for you') : null}
              </p>
              {student && !poll.closed && !done ? (
                <AnswerForm room={room} poll={poll} onAnswered={() => setAnswered(new Set([...answered, poll.id]))} />
              ) : null}
              {student && done && !poll.closed ? (
                <p class="poll-done" role="status">
                  {alreadyRefused ? 'You have already answered this poll.' : 'Thanks, your answer was sent.'}
                </p>
              ) : null}
              {results && (instructor || poll.share_results || poll.closed) ? (
                <ResultsChart poll={poll} results={results} />
              ) : !instructor && !poll.closed && !poll.share_results && done ? (
                <p class="hint">Results will appear when the instructor closes the poll.</p>
              ) : null}
              {instructor && !poll.closed ? (
                <Button small onClick={() => room.send({ type: 'close_poll', poll_id: poll.id })}>
                  Close poll<span class="visually-hidden"> {poll.question}</span>
                </Button>
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
