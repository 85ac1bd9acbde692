import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { claimsOf } from '../src/lib/auth';
import { wordsFor } from '../src/lib/api';

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: object) => `${b64url({ alg: 'HS256' })}.${b64url(claims)}.sig`;

test('claims are read from a JWT, names in any script', () => {
  const c = claimsOf(jwt({ sub: 'u1', name: 'Zoë 李', role: 'student', session: 's1', exp: 2e9 }), 1e9);
  assert.deepEqual(c, { sub: 'u1', name: 'Zoë 李', role: 'student', session: 's1', exp: 2e9 });
});

test('an expired or malformed token has no claims', () => {
  assert.equal(claimsOf(jwt({ sub: 'u', role: 'student', exp: 10 }), 20), null);
  assert.equal(claimsOf('not-a-jwt'), null);
  assert.equal(claimsOf('a.%%%.c'), null);
});

test('statuses without words get words', () => {
  assert.match(wordsFor(410), /expired/);
  assert.match(wordsFor(0), /cannot be reached/);
  assert.match(wordsFor(502), /server had a problem/);
});
