// Every page loads under the server's Content-Security-Policy without a
// console error and with its shell in place.
//   node smoke.mjs --base http://127.0.0.1:PORT --instructor <jwt>
import { assertNoConsoleErrors, emit, flags, person, run } from './lib.mjs';

const { base, instructor } = flags();

run(async (browser) => {
  const who = await person(browser, 'instructor');
  for (const path of ['/', '/join/nothing', '/studio/none', '/class/none', '/replay/none', '/library']) {
    const res = await who.page.goto(`${base}${path}#token=${instructor}`);
    if (!res?.ok()) throw new Error(`${path} answered ${res?.status()}`);
    const csp = res.headers()['content-security-policy'] ?? '';
    if (!csp.includes("script-src 'self'")) throw new Error(`${path}: no CSP (${csp})`);
    await who.page.locator('header a', { hasText: 'classcast' }).waitFor();
    emit({ event: 'page', path });
  }
  // The ids above do not exist: the API's 404s are expected (the pages say so in words).
  assertNoConsoleErrors(who, { allow: [/status of 404 \(Not Found\)/] });
});
