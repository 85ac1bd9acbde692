// The panels' pure helpers: mentions, suggestions, words.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { initials, mentionQuery, mentionSuggestions, percent, qualityWords, splitMentions } from '../src/panels/format';
import { linkWords } from '../src/panels/Banners';
import type { Participant } from '../src/room/protocol';

const p = (id: string, name: string): Participant => ({
  id,
  name,
  role: 'student',
  media: { mic: false, camera: false, screen: false },
  quality: null,
  hand_raised: false,
  on_stage: false,
  chat_muted: false,
});

test('mentions are split out, longest name first, case-insensitively', () => {
  const names = new Map([
    ['a', 'Ada'],
    ['al', 'Ada Lovelace'],
  ]);
  assert.deepEqual(splitMentions('hi @ada lovelace and @Ada!', ['a', 'al'], names), [
    { text: 'hi ' },
    { text: '@ada lovelace', mention: 'al' },
    { text: ' and ' },
    { text: '@Ada', mention: 'a' },
    { text: '!' },
  ]);
  assert.deepEqual(splitMentions('mail x@Ada', [], names), [{ text: 'mail x@Ada' }]);
  assert.deepEqual(splitMentions('@Bob', ['gone'], names), [{ text: '@Bob' }]);
});

test('the @query before the caret, not inside an e-mail address', () => {
  assert.deepEqual(mentionQuery('hello @Ad', 9), { start: 6, query: 'Ad' });
  assert.deepEqual(mentionQuery('@', 1), { start: 0, query: '' });
  assert.equal(mentionQuery('me@school', 9), null);
  assert.equal(mentionQuery('no mention', 10), null);
});

test('suggestions: names starting with the query first, never yourself', () => {
  const people = [p('1', 'Ada Lovelace'), p('2', 'Grace Hopper'), p('3', 'Adam'), p('me', 'Ada Me')];
  assert.deepEqual(mentionSuggestions('ad', people, 'me').map((x) => x.id), ['1', '3']);
  assert.deepEqual(mentionSuggestions('hop', people, 'me').map((x) => x.id), ['2']);
});

test('words for quality, percentages, initials and the link', () => {
  assert.equal(qualityWords('red'), 'Poor connection');
  assert.equal(qualityWords(null), 'No media connection');
  assert.equal(percent(49.6), '50%');
  assert.equal(initials('Ada  Lovelace King'), 'AK');
  assert.equal(initials('  '), '?');
  assert.match(linkWords('reconnecting', { kind: 'in' })?.text ?? '', /Reconnecting/);
  assert.match(linkWords('closed', { kind: 'kicked', reason: 'Off topic' })?.text ?? '', /removed.*Off topic/);
  assert.match(linkWords('closed', { kind: 'replaced' })?.text ?? '', /another tab/);
  assert.equal(linkWords('open', { kind: 'in' }), null);
});
