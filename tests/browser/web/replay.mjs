// Replay of a recorded class: the list, the player (1.5× with the pitch
// kept, seek), the chat beside the video at the times it was written, and
// Resume where this user left off after a reload.
//   node replay.mjs --base URL --instructor JWT --session ID --chat "line one|line two" [--course NAME]
import { hasIssue15Api, REFUSED } from './backend.mjs';
import { DESKTOP, TABLET, assertAccessible, assertNoConsoleErrors, emit, eventually, flags, person, run, screenshot } from './lib.mjs';

const { base, instructor, session, chat, course } = flags();
const lines = (chat ?? '').split('|').filter(Boolean);

const videoState = (page) =>
  page.locator('video').evaluate((v) => ({
    t: v.currentTime,
    d: v.duration,
    rate: v.playbackRate,
    pitch: v.preservesPitch,
    paused: v.paused,
    ready: v.readyState,
  }));

run(async (browser) => {
  const api = await hasIssue15Api(base);
  if (!api) emit({ event: 'waiting_for_backend', what: 'position, chat replay, library' });
  const me = await person(browser, 'instructor', { viewport: DESKTOP });
  const { page } = me;
  await page.goto(`${base}/replay/${session}#token=${instructor}`);
  await page.getByRole('heading', { name: 'Recordings' }).waitFor();
  await page.getByRole('button', { name: /Part|recording|Algebra/i }).first().waitFor();
  await eventually('the recording loads', async () => (await videoState(page)).ready >= 1, { timeoutMs: 20_000 });

  // Play at 1.5×, pitch kept.
  await page.getByRole('button', { name: 'Play' }).click();
  await eventually('playback', async () => (await videoState(page)).t > 0.5, { timeoutMs: 15_000 });
  await page.getByLabel('Speed').selectOption('1.5');
  await eventually('1.5× with the pitch kept', async () => {
    const v = await videoState(page);
    return v.rate === 1.5 && v.pitch === true;
  });
  emit({ event: 'speed', rate: 1.5 });

  // The chat appears as the video reaches the moment each line was written.
  const chatPanel = page.getByRole('region', { name: 'Class chat' });
  const { d: duration } = await videoState(page);
  if (api && lines.length) {
    await page.getByLabel('Seek').fill('0');
    await chatPanel.getByText('Messages appear here').waitFor();
    await page.getByLabel('Seek').fill(String(Math.max(0, duration - 0.5)));
    for (const line of lines) await chatPanel.getByText(line).waitFor();
    emit({ event: 'chat', lines: lines.length });
  } else if (!api) {
    await chatPanel.getByText('The chat of this class cannot be shown here.').waitFor();
  }

  // Seek to 6 s, pause there: the position is kept on the server.
  const target = Math.min(6, Math.max(0, duration - 1.5));
  const saved = api
    ? page.waitForResponse((r) => r.url().includes('/position') && r.request().method() === 'PUT' && r.status() === 204)
    : null;
  await page.getByLabel('Seek').fill(String(target));
  await eventually('the seek', async () => Math.abs((await videoState(page)).t - target) < 1.5);
  await page.getByRole('button', { name: 'Pause' }).click();
  await eventually('paused', async () => (await videoState(page)).paused);
  const at = (await videoState(page)).t;
  await assertAccessible(page, 'replay');
  await screenshot(page, 'replay');
  if (saved) {
    await saved;
    // The pause's own save comes after the seek's: let it land (PUT 204).
    await page.waitForResponse((r) => r.url().includes('/position') && r.request().method() === 'PUT').catch(() => {});
    await page.reload();
    await page.getByText(/Resumed at 0:0\d, where you left off/).waitFor();
    await eventually('resumed within 2 s', async () => {
      const v = await videoState(page);
      return v.ready >= 1 && Math.abs(v.t - at) <= 2;
    });
    emit({ event: 'resumed', at, now: (await videoState(page)).t });
  }
  assertNoConsoleErrors(me, { allow: api ? [] : REFUSED(404) });

  // 768 px wide: one column, chat under the video.
  const tablet = await person(browser, 'instructor (tablet)', { viewport: TABLET });
  await tablet.page.goto(`${base}/replay/${session}#token=${instructor}`);
  await eventually('the recording loads (tablet)', async () => (await videoState(tablet.page)).ready >= 1, { timeoutMs: 20_000 });
  await assertAccessible(tablet.page, 'replay (768)');
  await screenshot(tablet.page, 'replay');
  assertNoConsoleErrors(tablet, { allow: api ? [] : REFUSED(404) });

  // The course's library lists the same recording.
  if (api && course) {
    await page.goto(`${base}/library?course=${encodeURIComponent(course)}`);
    await page.getByRole('heading', { name: `Recordings of ${course}` }).waitFor();
    await page.getByRole('button', { name: /Algebra I/ }).first().waitFor();
    await assertAccessible(page, 'library');
    emit({ event: 'library', course });
  }
});
