import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { clock, fromLocalInput, lengthInWords, toLocalInput } from '../src/lib/timefmt';
import { grouped, usable, type Invite, type SessionView } from '../src/pages/home/sessions';
import { problemWith } from '../src/pages/home/validate';
import { nameProblem } from '../src/pages/join/invite';
import { linesUpTo, newestFirst, pick, type ChatLine, type RecordingView } from '../src/pages/replay/recordings';

test('positions read as m:ss or h:mm:ss', () => {
  assert.equal(clock(0), '0:00');
  assert.equal(clock(65.9), '1:05');
  assert.equal(clock(3723), '1:02:03');
  assert.equal(clock(NaN), '0:00');
  assert.equal(clock(-4), '0:00');
  assert.equal(lengthInWords(42), '42 s');
  assert.equal(lengthInWords(45 * 60), '45 min');
  assert.equal(lengthInWords(65 * 60), '1 h 05 min');
});

test('datetime-local values round-trip through UTC', () => {
  const d = new Date(2026, 11, 8, 10, 30);
  assert.equal(toLocalInput(d), '2026-12-08T10:30');
  assert.equal(fromLocalInput('2026-12-08T10:30'), d.toISOString());
  assert.equal(fromLocalInput(''), null);
  assert.equal(fromLocalInput('soon'), null);
});

const session = (id: string, state: SessionView['state'], start: string | null, created = '2026-01-01T00:00:00Z'): SessionView => ({
  id,
  title: id,
  instructor: { id: 'i', name: 'I' },
  state,
  live: state === 'live',
  scheduled_start: start,
  scheduled_end: null,
  max_webrtc_viewers: 50,
  record: false,
  guests_webrtc: false,
  created_at: created,
});

test('sessions group by state, newest first (by start, else creation)', () => {
  const g = grouped([
    session('old', 'scheduled', '2026-01-01T10:00:00Z'),
    session('new', 'scheduled', '2026-03-01T10:00:00Z'),
    session('unset', 'scheduled', null, '2026-02-01T00:00:00Z'),
    session('now', 'live', '2026-01-05T10:00:00Z'),
    session('done', 'ended', '2025-12-01T10:00:00Z'),
  ]);
  assert.deepEqual(g.scheduled.map((s) => s.id), ['new', 'unset', 'old']);
  assert.deepEqual(g.live.map((s) => s.id), ['now']);
  assert.deepEqual(g.ended.map((s) => s.id), ['done']);
});

test('an invite is usable until withdrawn, expired or used up', () => {
  const base: Invite = {
    id: 'a', code: 'c', role: 'student', url: 'u', expires_at: '2026-12-10T00:00:00Z',
    max_uses: null, uses: 3, revoked: false, created_at: '2026-12-01T00:00:00Z',
  };
  const now = Date.parse('2026-12-05T00:00:00Z');
  assert.equal(usable(base, now), true);
  assert.equal(usable({ ...base, revoked: true }, now), false);
  assert.equal(usable({ ...base, max_uses: 3 }, now), false);
  assert.equal(usable({ ...base, max_uses: 4 }, now), true);
  assert.equal(usable(base, Date.parse('2026-12-11T00:00:00Z')), false);
});

test('the new-class form says what is wrong in words', () => {
  const ok = { title: 'Algebra', start: '2026-12-08T10:00', end: '2026-12-08T11:00', course: '', cap: '' };
  assert.equal(problemWith(ok), null);
  assert.match(problemWith({ ...ok, title: '  ' }) ?? '', /title/);
  assert.match(problemWith({ ...ok, end: '2026-12-08T09:00' }) ?? '', /end after it starts/);
  assert.match(problemWith({ ...ok, cap: '-1' }) ?? '', /whole number/);
  assert.match(problemWith({ ...ok, cap: '2.5' }) ?? '', /whole number/);
  assert.equal(problemWith({ ...ok, cap: '0' }), null);
  assert.match(problemWith({ ...ok, course: 'x'.repeat(121) }) ?? '', /at most 120/);
});

test('a display name is 1 to 64 characters without control characters', () => {
  assert.match(nameProblem('   ') ?? '', /Enter your name/);
  assert.equal(nameProblem(' Ada Lovelace '), null);
  assert.equal(nameProblem('李'.repeat(64)), null);
  assert.match(nameProblem('x'.repeat(65)) ?? '', /at most 64/);
  assert.match(nameProblem('Ada\u0007') ?? '', /control characters/);
});

const rec = (id: string, at: string, state: RecordingView['state'] = 'ready', part = 1): RecordingView => ({
  id, session_id: 's', part, state, duration_seconds: 60, size_bytes: 1, created_at: at,
  stopped_at: null, ready_at: null, error: null, url: state === 'ready' ? `/r/${id}.mp4` : null,
});

test('recordings list newest first; the page opens the newest that plays', () => {
  const list = newestFirst([rec('a', '2026-12-01T10:00:00Z'), rec('c', '2026-12-03T10:00:00Z', 'processing'), rec('b', '2026-12-02T10:00:00Z')]);
  assert.deepEqual(list.map((r) => r.id), ['c', 'b', 'a']);
  assert.equal(pick(list, null)?.id, 'b');
  assert.equal(pick(list, 'a')?.id, 'a');
  assert.equal(pick(list, 'gone')?.id, 'b');
  assert.equal(pick([], null), null);
});

test('chat lines show once the video reaches the moment they were written', () => {
  const start = Date.parse('2026-12-01T10:00:00Z');
  const line = (id: string, afterS: number): ChatLine => ({
    id, sender_name: 'Ada', text: id, at: '', at_ms: start + afterS * 1000, reply_to: null,
  });
  const lines = [line('early', -3), line('one', 2), line('two', 6.5)];
  assert.deepEqual(linesUpTo(lines, start, 0).map((l) => l.id), ['early']);
  assert.deepEqual(linesUpTo(lines, start, 2).map((l) => l.id), ['early', 'one']);
  assert.deepEqual(linesUpTo(lines, start, 30).map((l) => l.id), ['early', 'one', 'two']);
});
