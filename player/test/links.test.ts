import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { hasRel, iceServersFrom, parseLinks } from '../src/lib/links';

test('a combined Link header splits into its links and their parameters', () => {
  const header =
    '<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; REL=ice-server; username="u"; credential="p\\"w, x"; credential-type="password",</other>;rel="next alternate" ;title=plain ';
  assert.deepEqual(parseLinks(header), [
    { url: 'stun:stun.example.net', attrs: { rel: 'ice-server' } },
    {
      url: 'turn:turn.example.net?transport=udp',
      attrs: { rel: 'ice-server', username: 'u', credential: 'p"w, x', 'credential-type': 'password' },
    },
    { url: '/other', attrs: { rel: 'next alternate', title: 'plain' } },
  ]);
  const other = parseLinks(header)[2];
  assert.ok(other && hasRel(other, 'alternate') && hasRel(other, 'NEXT') && !hasRel(other, 'ice-server'));
  assert.deepEqual(parseLinks(null), []);
  assert.deepEqual(parseLinks(''), []);
  assert.deepEqual(parseLinks('no link here'), []);
});

test('ICE servers come from the rel="ice-server" links, with their credentials', () => {
  const header =
    '<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password", <turn:t2.example.net>; rel="ice-server"; username="v", </other>; rel="next"';
  assert.deepEqual(iceServersFrom(header), [
    { urls: 'stun:stun.example.net' },
    { urls: 'turn:turn.example.net?transport=udp', username: 'u', credential: 'p' },
    { urls: 'turn:t2.example.net', username: 'v', credential: '' },
  ]);
  assert.deepEqual(iceServersFrom(null), []);
  assert.deepEqual(iceServersFrom('</other>; rel="next"'), []);
});
