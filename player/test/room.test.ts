// The room reducer against the fixtures the Rust room tests write
// (tests/fixtures/room/*.json: what one participant receives, in order, and
// the state it must lead to), plus its edge cases.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Participant, ServerMessage } from '../src/room/protocol';
import { closeState, isFinalClose, reduce } from '../src/room/reducer';
import { initialRoomState, type RoomState } from '../src/room/state';
import { backoffMs, parseServerMessage, socketUrl } from '../src/room/connection';

// Bundled into player/dist-test/: the repository root is two levels up.
const fixtures = join(fileURLToPath(new URL('.', import.meta.url)), '../../tests/fixtures/room');

interface Fixture {
  description: string;
  participant: string;
  now_ms: number;
  messages: ServerMessage[];
  close: { code: number; reason: string } | null;
  expected: Partial<RoomState>;
}

function replay(messages: ServerMessage[], nowMs = 0, from: RoomState = initialRoomState): RoomState {
  return messages.reduce((state, msg) => reduce(state, msg, nowMs), from);
}

const files = readdirSync(fixtures).filter((f) => f.endsWith('.json'));

test('there are room fixtures to replay', () => {
  assert.ok(files.length >= 5, `only ${files.length} fixtures in ${fixtures}`);
});

for (const file of files) {
  test(`fixture ${file}`, () => {
    const f = JSON.parse(readFileSync(join(fixtures, file), 'utf8')) as Fixture;
    let state = replay(f.messages, f.now_ms);
    if (f.close) state = closeState(state, f.close.code, f.close.reason);
    const keys = Object.keys(f.expected) as (keyof RoomState)[];
    assert.ok(keys.length > 0, `${file} expects nothing`);
    for (const key of keys) assert.deepEqual(state[key], f.expected[key], `${file}: ${key}`);
    if (state.you) assert.equal(state.you.id, f.participant);
  });
}

const person = (id: string, extra: Partial<Participant> = {}): Participant => ({
  id,
  name: `Name ${id}`,
  role: 'student',
  media: { mic: false, camera: false, screen: false },
  quality: null,
  hand_raised: false,
  on_stage: false,
  chat_muted: false,
  ...extra,
});

const welcome = (you: Participant, others: Participant[] = []): ServerMessage => ({
  type: 'welcome',
  you,
  room: { participants: [you, ...others], hands: [], polls: [], chat: [], spotlight: null, lobby_enabled: false, live: true },
});

const chat = (id: string, from = 't'): ServerMessage => ({
  type: 'chat',
  message: { id, sender_id: from, sender_name: from, text: 'hi', at: '2025-03-04T10:15:00.000Z', reply_to: null, mentions: [], reactions: {} },
});

test('a second welcome replaces the room but keeps our own counters', () => {
  const a = replay([
    welcome(person('s1'), [person('t', { role: 'instructor' })]),
    chat('m1'),
    { type: 'hands', hands: [{ participant_id: 's1', name: 'Name s1', raised_at: '2025-03-04T10:15:00.000Z' }] },
    { type: 'mute_requested' },
    { type: 'called_on' },
    { type: 'poll_results', results: { poll_id: 'p1', counts: [1, 0], percentages: [100, 0], respondents: 1 } },
  ]);
  assert.equal(a.chat.length, 1);
  const b = reduce(a, welcome(person('s1')), 0);
  assert.deepEqual(b.participants.map((p) => p.id), ['s1']);
  assert.deepEqual(b.chat, []);
  assert.deepEqual(b.hands, []);
  assert.deepEqual(b.results, {});
  assert.equal(b.muteRequests, 1);
  assert.equal(b.calledOn?.seq, 1);
  assert.deepEqual(b.standing, { kind: 'in' });
});

test('the broadcast going live and stopping reaches the state', () => {
  assert.equal(initialRoomState.live, null);
  const s = replay([welcome(person('s1')), { type: 'live', live: false }]);
  assert.equal(s.live, false);
  assert.equal(reduce(s, { type: 'live', live: true }, 0).live, true);
});

test('messages naming unknown ids change nothing', () => {
  const a = replay([welcome(person('s1')), chat('m1')]);
  assert.equal(reduce(a, { type: 'chat_deleted', message_id: 'nope' }, 0).chat.length, 1);
  assert.equal(reduce(a, { type: 'reactions', message_id: 'nope', reactions: { '👍': ['s1'] } }, 0), a);
  assert.equal(reduce(a, { type: 'participant_updated', participant: person('ghost') }, 0).participants.length, 1);
  assert.equal(reduce(a, { type: 'participant_left', participant_id: 'ghost' }, 0).participants.length, 1);
  // A type this client does not know (a newer server).
  assert.equal(reduce(a, { type: 'future_thing' } as unknown as ServerMessage, 0), a);
});

test('results that come before their poll are kept for it', () => {
  const a = replay([
    welcome(person('t', { role: 'instructor' })),
    { type: 'poll_results', results: { poll_id: 'p1', counts: [1, 1], percentages: [50, 50], respondents: 2 } },
  ]);
  assert.equal(a.results.p1?.respondents, 2);
  const poll = { id: 'p1', question: 'Q?', options: ['a', 'b'], multiple: false, share_results: false, closes_at: null, closed: false };
  const b = reduce(a, { type: 'poll_opened', poll }, 0);
  assert.equal(b.polls.length, 1);
  assert.equal(b.results.p1?.respondents, 2);
  // A poll closed that we never saw opened is added, closed.
  const c = reduce(b, { type: 'poll_closed', poll: { ...poll, id: 'p2', closed: true }, results: { poll_id: 'p2', counts: [0, 0], percentages: [0, 0], respondents: 0 } }, 0);
  assert.deepEqual(c.polls.map((p) => [p.id, p.closed]), [['p1', false], ['p2', true]]);
});

test('participant updates reach `you`; leaving takes the hand and the spotlight', () => {
  const a = replay([
    welcome(person('s1'), [person('s2')]),
    { type: 'spotlight', participant_id: 's2' },
    { type: 'hands', hands: [{ participant_id: 's2', name: 'Name s2', raised_at: '2025-03-04T10:15:00.000Z' }] },
    { type: 'participant_updated', participant: person('s1', { on_stage: true }) },
  ]);
  assert.equal(a.you?.on_stage, true);
  assert.equal(a.participants.find((p) => p.id === 's1')?.on_stage, true);
  const b = reduce(a, { type: 'participant_left', participant_id: 's2' }, 0);
  assert.equal(b.spotlight, null);
  assert.deepEqual(b.hands, []);
});

test('errors and alerts are stamped with the time they came', () => {
  const a = reduce(initialRoomState, { type: 'error', code: 'muted', message: 'Muted.' }, 42);
  assert.deepEqual(a.lastError, { code: 'muted', message: 'Muted.', atMs: 42 });
  const b = reduce(a, { type: 'alert', kind: 'quiet', message: 'Quiet.' }, 43);
  assert.deepEqual(b.alert, { kind: 'quiet', message: 'Quiet.', atMs: 43 });
});

test('close codes: final ones set the standing, the others reconnect', () => {
  assert.deepEqual(closeState(initialRoomState, 4001, '').standing, { kind: 'replaced' });
  assert.deepEqual(closeState(initialRoomState, 4003, 'Off topic').standing, { kind: 'kicked', reason: 'Off topic' });
  assert.deepEqual(closeState(initialRoomState, 4004, 'No').standing, { kind: 'denied', reason: 'No' });
  assert.deepEqual(closeState(initialRoomState, 4401, 'expired').standing, { kind: 'unauthorized', reason: 'expired' });
  // The kicked message's reason wins over the close's (cut to 123 bytes).
  const kicked = reduce(initialRoomState, { type: 'kicked', reason: 'The full reason' }, 0);
  assert.deepEqual(closeState(kicked, 4003, 'The full').standing, { kind: 'kicked', reason: 'The full reason' });
  for (const code of [1000, 1001, 1006, 1011, 4008, 4400]) {
    assert.equal(isFinalClose(code), false, String(code));
    assert.equal(closeState(initialRoomState, code, ''), initialRoomState);
  }
});

test('backoff grows from 0.5 s to 10 s, jittered', () => {
  assert.equal(backoffMs(0, () => 1), 500);
  assert.equal(backoffMs(0, () => 0), 250);
  assert.equal(backoffMs(3, () => 1), 4000);
  assert.equal(backoffMs(10, () => 1), 10_000);
  assert.equal(backoffMs(50, () => 0), 5000);
});

test('the socket URL follows the page protocol; bad frames are dropped', () => {
  assert.equal(socketUrl('s 1', { protocol: 'https:', host: 'x.test' }), 'wss://x.test/ws/sessions/s%201');
  assert.equal(socketUrl('s1', { protocol: 'http:', host: 'x.test:8080' }), 'ws://x.test:8080/ws/sessions/s1');
  assert.equal(parseServerMessage('nope'), null);
  assert.equal(parseServerMessage('[1]'), null);
  assert.equal(parseServerMessage(new ArrayBuffer(2)), null);
  assert.deepEqual(parseServerMessage('{"type":"waiting"}'), { type: 'waiting' });
});
