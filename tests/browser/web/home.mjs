// The instructor's home: sign in with a token, create a class with the form,
// invite links to copy, an ended class's attendance (table and CSV), Start
// class → studio; a student's token gets the "for instructors" page.
//   node home.mjs --base URL --instructor JWT --student JWT --ended TITLE
import { hasIssue15Api, REFUSED } from './backend.mjs';
import { DESKTOP, TABLET, assertAccessible, assertNoConsoleErrors, emit, flags, person, run, screenshot } from './lib.mjs';

const { base, instructor, student, ended } = flags();

run(async (browser) => {
  const api = await hasIssue15Api(base);
  if (!api) emit({ event: 'waiting_for_backend', what: 'invites, report.csv' });
  const me = await person(browser, 'instructor', { viewport: DESKTOP });
  const { page } = me;
  await me.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });

  // Signed out: the sign-in form says where a token comes from.
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Sign in with your instructor token' }).waitFor();
  await page.getByText('classcast token').waitFor();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Paste your instructor token first' }).waitFor();
  await assertAccessible(page, 'home (signed out)');
  await page.getByRole('textbox', { name: 'Instructor token' }).fill(instructor);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your classes', level: 1 }).waitFor();

  // New class: words for a missing title, then created and listed.
  await page.getByRole('button', { name: 'New class' }).click();
  await page.getByRole('button', { name: 'Create class' }).click();
  await page.getByRole('alert').filter({ hasText: 'Give the class a title' }).waitFor();
  await page.getByRole('textbox', { name: 'Title', exact: true }).fill('Algebra I');
  await page.getByRole('spinbutton', { name: 'Viewers over WebRTC, at most (optional)' }).fill('40');
  await page.getByRole('button', { name: 'Create class' }).click();
  await page.getByRole('status').filter({ hasText: '“Algebra I” is scheduled' }).waitFor();
  const card = page.getByRole('article', { name: 'Algebra I' });
  await card.waitFor();
  await page.getByRole('region', { name: 'Scheduled' }).getByRole('article', { name: 'Algebra I' }).waitFor();
  emit({ event: 'created' });

  // Invite: a student link and a guest link, each to copy.
  await card.getByRole('button', { name: 'Invite to Algebra I' }).click();
  if (api) {
    const studentLink = card.getByRole('textbox', { name: 'Student link' });
    await studentLink.waitFor();
    const url = await studentLink.inputValue();
    if (!/\/join\/[A-Za-z0-9_-]{16,}$/.test(url)) throw new Error(`student link ${url}`);
    const guest = await card.getByRole('textbox', { name: 'Guest link' }).inputValue();
    if (!guest.includes('/join/') || guest === url) throw new Error(`guest link ${guest}`);
    await card.getByRole('button', { name: 'Copy student link' }).click();
    await card.getByRole('button', { name: 'Copied student link' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== url) throw new Error(`copied ${copied}, not ${url}`);
    await card.getByText(/Expires .* · Used 0 times, no limit/).first().waitFor();
    emit({ event: 'invites', url });
  } else {
    await card.getByRole('alert').filter({ hasText: 'The invite links could not be made' }).waitFor();
  }
  await assertAccessible(page, 'home');
  await screenshot(page, 'home');

  // An ended class: its attendance as a table, and as a CSV file.
  const past = page.getByRole('region', { name: 'Ended' }).getByRole('article', { name: ended });
  await past.getByRole('button', { name: `Attendance of ${ended}` }).click();
  const table = past.getByRole('table');
  await table.getByRole('rowheader', { name: 'Bea Student' }).waitFor();
  await table.getByRole('columnheader', { name: 'Time present' }).waitFor();
  if (api) {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      past.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const name = download.suggestedFilename();
    if (!name.endsWith('attendance.csv')) throw new Error(`CSV named ${name}`);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const csv = readFileSync(path, 'utf8');
    if (!csv.includes('Bea Student')) throw new Error(`CSV without the student: ${csv.slice(0, 300)}`);
    emit({ event: 'csv', name });
  } else {
    await past.getByRole('button', { name: 'Download CSV' }).click();
    await past.getByRole('alert').filter({ hasText: 'The CSV file could not be made' }).waitFor();
  }
  await assertAccessible(page, 'home (attendance)');
  await screenshot(page, 'home-attendance');

  // Start class → the studio of that session.
  await card.getByRole('link', { name: 'Start class: Algebra I' }).click();
  await page.waitForURL(/\/studio\/[0-9a-f]{32}$/);
  emit({ event: 'studio', url: page.url() });
  assertNoConsoleErrors(me, { allow: api ? [] : REFUSED(404) });

  // 768 px wide, signed in by the link `make run` prints.
  const tablet = await person(browser, 'instructor (tablet)', { viewport: TABLET });
  await tablet.page.goto(`${base}/#token=${instructor}`);
  await tablet.page.getByRole('article', { name: 'Algebra I' }).waitFor();
  if (tablet.page.url().includes('token=')) throw new Error('the token stayed in the address');
  await screenshot(tablet.page, 'home');
  assertNoConsoleErrors(tablet);

  // A student's token: this page is not for them.
  const pupil = await person(browser, 'student');
  await pupil.page.goto(`${base}/#token=${student}`);
  await pupil.page.getByRole('heading', { name: 'This page is for instructors' }).waitFor();
  await pupil.page.getByRole('link', { name: 'Go to your class' }).waitFor();
  await assertAccessible(pupil.page, 'home (student)');
  assertNoConsoleErrors(pupil);
});
