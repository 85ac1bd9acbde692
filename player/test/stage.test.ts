// Many publishers in one class (issue 17), the page side: the broadcast's
// layout in the room state, what `auto` comes to and how the studio says it,
// which publishes the classroom shows as tiles, and the screen share's own
// WHIP publish and its refusals in words.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { screenErrorWords } from '../src/lib/devices';
import { refusalWords } from '../src/lib/whip';
import { tilesFor } from '../src/pages/classroom/PublishTiles';
import { screenWhipUrl } from '../src/pages/studio/broadcast';
import { screenWords } from '../src/pages/studio/Stage';
import { layoutHint, shownLayout } from '../src/room/layout';
import type { Participant, Publish, ServerMessage } from '../src/room/protocol';
import { isLayout, reduce } from '../src/room/reducer';
import { initialRoomState } from '../src/room/state';

const me: Participant = {
  id: 't',
  name: 'Grace',
  role: 'instructor',
  media: { mic: true, camera: true, screen: false },
  quality: null,
  hand_raised: false,
  on_stage: false,
  chat_muted: false,
};

const welcome = (layout?: string): ServerMessage => ({
  type: 'welcome',
  you: me,
  room: {
    participants: [me],
    hands: [],
    polls: [],
    chat: [],
    spotlight: null,
    lobby_enabled: false,
    live: true,
    publishes: [],
    ...(layout === undefined ? {} : { layout: layout as 'auto' }),
  },
});

const pub = (id: string, kind: Publish['kind'], participant: string, extra: Partial<Publish> = {}): Publish => ({
  id,
  kind,
  participant_id: participant,
  name: participant,
  main: false,
  ready: true,
  started_at: '2026-12-06T09:00:00Z',
  ...extra,
});

test('the layout comes with the welcome (auto when an older server says nothing) and with layout messages', () => {
  assert.equal(initialRoomState.layout, 'auto');
  assert.equal(reduce(initialRoomState, welcome(), 0).layout, 'auto');
  const a = reduce(initialRoomState, welcome('stage'), 0);
  assert.equal(a.layout, 'stage');
  const b = reduce(a, { type: 'layout', layout: 'screen' }, 0);
  assert.equal(b.layout, 'screen');
  // Every welcome is the whole room: its layout wins over what we had.
  assert.equal(reduce(b, welcome('speaker'), 0).layout, 'speaker');
  assert.equal(reduce(b, welcome(), 0).layout, 'auto');
});

test('a layout this client does not know changes nothing', () => {
  const a = reduce(initialRoomState, welcome('speaker'), 0);
  assert.equal(reduce(a, { type: 'layout', layout: 'mosaic' } as unknown as ServerMessage, 0), a);
  assert.equal(reduce(initialRoomState, welcome('mosaic'), 0).layout, 'auto');
  assert.equal(isLayout('auto'), true);
  assert.equal(isLayout('Auto'), false);
  assert.equal(isLayout(undefined), false);
});

test('auto shows the screen while sharing, else the stage while someone is on it, else the speaker', () => {
  const camera = pub('c', 'camera', 't', { main: true });
  const screen = pub('s', 'screen', 't');
  const ada = pub('a', 'stage', 'ada');
  assert.equal(shownLayout('auto', []), 'speaker');
  assert.equal(shownLayout('auto', [camera]), 'speaker');
  assert.equal(shownLayout('auto', [camera, ada]), 'stage');
  assert.equal(shownLayout('auto', [camera, ada, screen]), 'screen');
  // A chosen layout is kept whatever is live.
  assert.equal(shownLayout('speaker', [camera, ada, screen]), 'speaker');
  assert.equal(shownLayout('stage', [camera]), 'stage');
});

test('the studio says what the HLS viewers and the recording see', () => {
  const camera = pub('c', 'camera', 't', { main: true });
  const hint = (l: Parameters<typeof layoutHint>[0], p: Publish[]) => layoutHint(l, p);
  assert.match(hint('speaker', [camera]), /^HLS viewers and the recording see you alone/);
  assert.match(hint('auto', [camera, pub('a', 'stage', 'ada')]), /you and the student on stage in a grid/);
  assert.match(hint('auto', [camera, pub('a', 'stage', 'ada'), pub('b', 'stage', 'bob')]), /students on stage/);
  assert.match(hint('auto', [camera]), /Auto follows the class/);
  assert.doesNotMatch(hint('screen', [camera]), /Auto follows/);
  assert.match(hint('screen', [camera, pub('s', 'screen', 't')]), /shared screen large, your camera in a corner/);
  assert.match(hint('screen', [camera]), /not sharing your screen/);
  assert.match(hint('stage', [camera]), /nobody is on stage yet/);
});

test('the classroom shows every other ready publish as a tile, the screen share apart', () => {
  const camera = pub('c', 'camera', 't', { main: true });
  const screen = pub('s', 'screen', 't');
  const ada = pub('a', 'stage', 'ada');
  const bob = pub('b', 'stage', 'bob', { ready: false });
  const cleo = pub('x', 'stage', 'cleo');
  assert.deepEqual(tilesFor([camera], 'u'), { screen: null, others: [] });
  const seen = tilesFor([camera, ada, screen, bob, cleo], 'u');
  assert.equal(seen.screen?.id, 's');
  assert.deepEqual(seen.others.map((p) => p.id), ['a', 'x']);
  // Ada does not watch herself back.
  assert.deepEqual(tilesFor([camera, ada, cleo], 'ada').others.map((p) => p.id), ['x']);
  // A student on stage who is the main broadcast (no camera live) is the large video.
  assert.deepEqual(tilesFor([pub('a', 'stage', 'ada', { main: true }), cleo], 'u').others.map((p) => p.id), ['x']);
});

test('the screen share is a second WHIP publish on the same endpoint, source=screen', () => {
  assert.equal(screenWhipUrl('http://127.0.0.1:8080/whip/s%201'), 'http://127.0.0.1:8080/whip/s%201?source=screen');
  assert.equal(screenWhipUrl('https://x.test/whip/s?a=1&source=camera'), 'https://x.test/whip/s?a=1&source=screen');
});

test('a refused screen share is said in words', () => {
  assert.match(screenErrorWords(new DOMException('Permission denied', 'NotAllowedError')), /^Screen sharing was not allowed/);
  assert.match(screenErrorWords(new DOMException('busy', 'NotReadableError')), /could not be captured/);
  assert.match(screenErrorWords(new TypeError('no getDisplayMedia')), /cannot share a screen/);
  assert.match(screenErrorWords(null), /could not be shared/);
  assert.match(refusalWords(409, 'a screen is already shared in this class; stop it first'), /already shared in this class/);
  assert.match(refusalWords(409, 'you already publish your screen in this class; DELETE that WHIP resource first'), /Stop that share first/);
  assert.match(refusalWords(409, "the class's camera is already live; DELETE its WHIP resource first"), /already live from somewhere else/);
  assert.match(refusalWords(409, 'the stage is full: 4 students publish at once at most'), /stage is full/);
  assert.equal(refusalWords(403, 'only the instructor shares a screen in this class'), 'only the instructor shares a screen in this class');
  for (const words of [refusalWords(409, 'a screen is already shared in this class; stop it first'), refusalWords(409, "the class's camera is already live; DELETE its WHIP resource first")]) {
    assert.doesNotMatch(words, /DELETE|WHIP/);
  }
});

test('the screen tile says whether the class sees it', () => {
  assert.deepEqual(screenWords(false, 'idle', false), { text: 'Not live: the class sees it when you go live', live: false });
  assert.deepEqual(screenWords(true, 'connecting', false), { text: 'Sharing…', live: false });
  // Connected, but not yet flowing to the class (the room has not listed it ready).
  assert.deepEqual(screenWords(true, 'live', false), { text: 'Sharing…', live: false });
  assert.deepEqual(screenWords(true, 'live', true), { text: 'The class sees your screen', live: true });
  assert.equal(screenWords(true, 'reconnecting', true).text, 'Reconnecting…');
});
