// Invite links: an unknown code gets "not valid"; a valid one asks for a
// name (in words when missing) and lands on the class with a token of its
// own; withdrawn and used-up links get a clear page saying what to do.
//   node join.mjs --base URL [--valid CODE --session ID --revoked CODE --usedup CODE]
import { hasIssue15Api, REFUSED } from './backend.mjs';
import { DESKTOP, TABLET, assertAccessible, assertNoConsoleErrors, emit, flags, person, run, screenshot } from './lib.mjs';

const { base, valid, session, revoked, usedup, expired } = flags();

run(async (browser) => {
  const api = await hasIssue15Api(base);
  if (!api) emit({ event: 'waiting_for_backend', what: 'GET /api/invites/{code}, redeem' });
  if (api && !(valid && session && revoked && usedup)) throw new Error('the server has invites: pass the codes');

  // A code nobody made.
  const stranger = await person(browser, 'stranger');
  await stranger.page.goto(`${base}/join/not-a-real-code`);
  await stranger.page.getByRole('heading', { name: 'This invite link is not valid' }).waitFor();
  await stranger.page.getByText('ask your instructor for a new link').waitFor();
  await assertAccessible(stranger.page, 'join (not valid)');
  if (!api) await screenshot(stranger.page, 'join');
  assertNoConsoleErrors(stranger, { allow: REFUSED(404) });
  if (!api) return;

  // A good link: the class, a name, and in.
  for (const viewport of [TABLET, DESKTOP]) {
    const ada = await person(browser, `ada ${viewport.width}`, { viewport });
    const { page } = ada;
    await page.goto(`${base}/join/${valid}`);
    await page.getByRole('heading', { name: 'Join Algebra I' }).waitFor();
    await page.getByText('by Alice Instructor').waitFor();
    await page.getByText('You are invited as a student').waitFor();
    await page.getByRole('button', { name: 'Join class' }).click();
    await page.getByRole('alert').filter({ hasText: 'Enter your name' }).waitFor();
    await assertAccessible(page, 'join');
    await page.getByRole('textbox', { name: 'Your name' }).fill('Ada Lovelace');
    await screenshot(page, 'join');
    await page.getByRole('button', { name: 'Join class' }).click();
    await page.waitForURL(`${base}/class/${session}`);
    const kept = await page.evaluate((id) => localStorage.getItem(`classcast.session.${id}`), session);
    const claims = JSON.parse(Buffer.from(kept.split('.')[1], 'base64url').toString());
    if (claims.name !== 'Ada Lovelace' || claims.role !== 'student' || claims.session !== session) {
      throw new Error(`token claims ${JSON.stringify(claims)}`);
    }
    emit({ event: 'joined', width: viewport.width, sub: claims.sub });
    assertNoConsoleErrors(ada);
  }

  // Links that no longer work: the server's words, and what to do next.
  const late = await person(browser, 'late');
  for (const [code, words] of [
    [revoked, 'This invite link was withdrawn by the instructor'],
    [usedup, 'This invite link has been used as many times as it allows'],
    [expired, 'This invite link has expired'],
  ]) {
    await late.page.goto(`${base}/join/${code}`);
    await late.page.getByRole('heading', { name: words }).waitFor();
    await late.page.getByText('Ask your instructor for a new link.').waitFor();
    await assertAccessible(late.page, `join (${words})`);
    emit({ event: 'refused', words });
  }
  await screenshot(late.page, 'join-used-up');
  assertNoConsoleErrors(late, { allow: REFUSED(410) });
});
