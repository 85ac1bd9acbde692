import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { initialMode, paramReader, tokenRole } from '../src/pages/watch/params';

const jwt = (claims: object) =>
  `h.${Buffer.from(JSON.stringify(claims)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}.sig`;

test('the watch page reads the fragment first, then the query', () => {
  const get = paramReader('?session=q&token=t', '#session=%20h%20&mode=HLS');
  assert.equal(get('session'), 'h');
  assert.equal(get('token'), 't');
  assert.equal(get('mode'), 'HLS');
  assert.equal(get('missing'), '');
});

test('students and instructors start on WebRTC, everyone else on HLS, unless mode= says', () => {
  assert.equal(tokenRole(jwt({ sub: 'ada', role: 'student' })), 'student');
  assert.equal(tokenRole('not a token'), null);
  assert.equal(tokenRole(jwt({ sub: 'x' })), null);
  assert.equal(initialMode('', jwt({ role: 'student' })), 'webrtc');
  assert.equal(initialMode('', jwt({ role: 'instructor' })), 'webrtc');
  assert.equal(initialMode('', jwt({ role: 'guest' })), 'hls');
  assert.equal(initialMode('', ''), 'hls');
  assert.equal(initialMode('Audio', jwt({ role: 'guest' })), 'audio');
  assert.equal(initialMode('HLS', jwt({ role: 'student' })), 'hls');
  assert.equal(initialMode('bogus', jwt({ role: 'student' })), 'webrtc');
});
