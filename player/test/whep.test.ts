import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { withToken } from '../src/lib/hls';
import { backoffMs, hlsPointer, iceServersFrom, parseLinks, retryAfterMs, WHEP_TIMING } from '../src/lib/whep';

test('Retry-After in seconds or as a date, with a default and a cap', () => {
  assert.equal(retryAfterMs('5'), 5000);
  assert.equal(retryAfterMs(null), WHEP_TIMING.retryAfterDefaultS * 1000);
  assert.equal(retryAfterMs('0'), WHEP_TIMING.retryAfterDefaultS * 1000);
  assert.equal(retryAfterMs('garbage'), WHEP_TIMING.retryAfterDefaultS * 1000);
  assert.equal(retryAfterMs('3600'), WHEP_TIMING.retryAfterMaxS * 1000);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000);
});

test('backoff grows, is capped, and jitters around its base', () => {
  assert.equal(backoffMs(0, 0.5), WHEP_TIMING.backoffMinMs);
  assert.equal(backoffMs(2, 0.5), WHEP_TIMING.backoffMinMs * 4);
  assert.equal(backoffMs(50, 0.5), WHEP_TIMING.backoffMaxMs);
  assert.ok(backoffMs(1, 0) < backoffMs(1, 1));
});

test('Link headers: ICE servers with credentials, the HLS alternate', () => {
  const header =
    '<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p\\"w"; credential-type="password", <https://cdn.example/hls/s/master.m3u8>; rel="alternate"; type="application/vnd.apple.mpegurl"';
  assert.equal(parseLinks(header).length, 3);
  assert.deepEqual(iceServersFrom(header), [
    { urls: 'stun:stun.example.net' },
    { urls: 'turn:turn.example.net?transport=udp', username: 'u', credential: 'p"w' },
  ]);
  assert.equal(hlsPointer(null, header), 'https://cdn.example/hls/s/master.m3u8');
  assert.equal(hlsPointer({ hls: 'https://a/master.m3u8' }, header), 'https://a/master.m3u8');
  assert.equal(hlsPointer({}, null), null);
  assert.deepEqual(iceServersFrom(null), []);
});

test('the HLS address carries the token once', () => {
  assert.equal(withToken('/hls/s1/master.m3u8', 'a.b.c', 'http://h/'), 'http://h/hls/s1/master.m3u8?token=a.b.c');
  assert.equal(withToken('http://h/hls/s1/master.m3u8?token=x', 'y', 'http://h/'), 'http://h/hls/s1/master.m3u8?token=x');
  assert.equal(withToken('http://h/m.m3u8', null, 'http://h/'), 'http://h/m.m3u8');
});
