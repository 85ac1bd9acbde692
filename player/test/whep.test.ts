import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { withToken } from '../src/lib/hls';
import { trickleFragment } from '../src/lib/ice';
import { backoffMs, hlsPointer, retryAfterMs, WHEP_TIMING } from '../src/lib/whep';

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

test('a 503 points to the HLS broadcast: the body\'s hls, else the Link alternate', () => {
  const header =
    '<stun:stun.example.net>; rel="ice-server", <https://cdn.example/hls/s/master.m3u8>; rel="alternate"; type="application/vnd.apple.mpegurl"';
  assert.equal(hlsPointer(null, header), 'https://cdn.example/hls/s/master.m3u8');
  assert.equal(hlsPointer({ hls: 'https://a/master.m3u8' }, header), 'https://a/master.m3u8');
  assert.equal(hlsPointer({ hls: '' }, header), 'https://cdn.example/hls/s/master.m3u8');
  assert.equal(hlsPointer({}, null), null);
});

test('the HLS address carries the token once', () => {
  assert.equal(withToken('/hls/s1/master.m3u8', 'a.b.c', 'http://h/'), 'http://h/hls/s1/master.m3u8?token=a.b.c');
  assert.equal(withToken('http://h/hls/s1/master.m3u8?token=x', 'y', 'http://h/'), 'http://h/hls/s1/master.m3u8?token=x');
  assert.equal(withToken('http://h/m.m3u8', null, 'http://h/'), 'http://h/m.m3u8');
});

test('late ICE candidates go as a trickle-ice-sdpfrag with the offer\'s credentials', () => {
  const sdp = 'v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretsecret\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n';
  const cand = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host' };
  assert.equal(
    trickleFragment(sdp, [cand, null]),
    'a=ice-ufrag:abcd\r\na=ice-pwd:secretsecret\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\na=end-of-candidates\r\n',
  );
  assert.equal(trickleFragment(sdp, [{ candidate: '' }]), null);
  assert.equal(trickleFragment('v=0\r\n', [cand]), null);
});
