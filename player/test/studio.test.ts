import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { levelOf, mediaErrorWords } from '../src/lib/devices';
import { backoffMs, codecOrder, isTransient, refusalWords } from '../src/lib/whip';
import { sentWords } from '../src/pages/studio/Panels';
import { elapsed } from '../src/pages/studio/Stage';

test('reconnect backoff doubles from 1 s up to 15 s, with jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 20].map((a) => backoffMs(a, mid)), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.equal(backoffMs(0, () => 0), 800);
  assert.equal(backoffMs(0, () => 1), 1200);
});

test('busy or unreachable servers are retried; refusals are not, except our own old publish while reconnecting', () => {
  for (const s of [0, 429, 500, 503]) assert.equal(isTransient(s, false), true, String(s));
  for (const s of [400, 401, 403, 404, 409, 415, 422]) assert.equal(isTransient(s, false), false, String(s));
  assert.equal(isTransient(409, true), true);
  assert.equal(isTransient(403, true), false);
});

test('a refused publish is said in plain words', () => {
  assert.match(refusalWords(409, 'session abc already has a live publisher; DELETE its WHIP resource first'), /already live from somewhere else/);
  assert.equal(refusalWords(409, 'the session has ended'), 'This class has ended.');
  assert.equal(refusalWords(403, 'this WHIP resource is not yours'), 'this WHIP resource is not yours');
  assert.match(refusalWords(401, 'token expired'), /sign-in/);
  assert.match(refusalWords(422, ''), /refused/);
});

test('the chosen video codec goes first, H.264 packetization-mode 1 baseline first, then RTX/RED/ULPFEC', () => {
  const c = (mimeType: string, sdpFmtpLine?: string): RTCRtpCodec => ({ mimeType, clockRate: 90000, sdpFmtpLine });
  const caps = [
    c('video/VP8'),
    c('video/rtx'),
    c('video/H264', 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f'),
    c('video/H264', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f'),
    c('video/H264', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f'),
    c('video/red'),
    c('video/AV1'),
  ];
  const h264 = codecOrder(caps, 'h264');
  assert.deepEqual(h264?.map((x) => x.sdpFmtpLine ?? x.mimeType), [
    'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
    'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
    'video/rtx',
    'video/red',
  ]);
  assert.deepEqual(codecOrder(caps, 'vp8')?.map((x) => x.mimeType), ['video/VP8', 'video/rtx', 'video/red']);
  assert.equal(codecOrder(caps, 'vp9'), null);
  assert.equal(codecOrder([], 'h264'), null);
});

test('the level meter reads silence as 0 and full scale as 1', () => {
  assert.equal(levelOf(new Float32Array(128)), 0);
  assert.equal(levelOf(new Float32Array(128).fill(1)), 1);
  const quiet = levelOf(new Float32Array(128).fill(0.01)); // -40 dBFS
  assert.ok(Math.abs(quiet - 1 / 3) < 0.01, String(quiet));
});

test('device errors are words a teacher can act on', () => {
  const err = (name: string) => new DOMException('x', name);
  assert.match(mediaErrorWords(err('NotAllowedError'), 'both'), /not allowed to use your camera and microphone.*Allow/);
  assert.match(mediaErrorWords(err('NotFoundError'), 'camera'), /audio only/);
  assert.match(mediaErrorWords(err('NotReadableError'), 'camera'), /in use by another program/);
});

test('what is sent and for how long, as shown', () => {
  assert.equal(sentWords({ width: 1280, height: 720, bitrateKbps: 2450, fps: 29.8 }), '1280×720 · 2,450 kbps · 30 fps');
  assert.equal(sentWords(null), 'Measuring…');
  assert.equal(elapsed(0, 65_000), '1:05');
  assert.equal(elapsed(0, 3_725_000), '1:02:05');
});
