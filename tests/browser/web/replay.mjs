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

/** Waits for the recording's metadata; says why not (the video's error, the page's words). */
async function loaded(page) {
  try {
    await eventually('the recording loads', async () => (await videoState(page)).ready >= 1, { timeoutMs: 20_000 });
  } catch (e) {
    const why = await page
      .locator('video')
      .evaluate((v) => ({ src: v.currentSrc, error: v.error?.code, message: v.error?.message, network: v.networkState }))
      .catch(() => ({}));
    if (why.src) {
      const res = await page.request.get(why.src).catch((err) => ({ status: () => String(err), headers: () => ({}), body: async () => Buffer.alloc(0) }));
      const body = await res.body().catch(() => Buffer.alloc(0));
      why.fetched = { status: res.status(), type: res.headers()['content-type'], bytes: body.length, head: body.subarray(0, 32).toString('hex') };
      if (process.env.REPLAY_DUMP) (await import('node:fs')).writeFileSync(process.env.REPLAY_DUMP, body);
    }
    const words = await page.locator('main').innerText().catch(() => '');
    throw new Error(`${e.message}: ${JSON.stringify(why)}; page: ${words.slice(0, 400)}`);
  }
}

run(async (browser) => {
  const api = await hasIssue15Api(base);
  if (!api) emit({ event: 'waiting_for_backend', what: 'position, chat replay, library' });
  const me = await person(browser, 'instructor', { viewport: DESKTOP });
  const { page } = me;
  await page.goto(`${base}/replay/${session}#token=${instructor}`);
  await page.getByRole('heading', { name: 'Recordings' }).waitFor();
  await page.getByRole('button', { name: /Part|recording|Algebra/i }).first().waitFor();
  await loaded(page);

  // Play at 1.5×, pitch kept.
  await page.getByRole('button', { name: 'Play' }).click();
  await eventually('playback', async () => (await videoState(page)).t > 0.5, { timeoutMs: 15_000 });
  await page.getByRole('combobox', { name: 'Speed' }).selectOption('1.5');
  await eventually('1.5× with the pitch kept', async () => {
    const v = await videoState(page);
    return v.rate === 1.5 && v.pitch === true;
  });
  emit({ event: 'speed', rate: 1.5 });

  // The chat appears as the video reaches the moment each line was written.
  const chatPanel = page.getByRole('region', { name: 'Class chat' });
  const { d: duration } = await videoState(page);
  if (api && lines.length) {
    await page.getByRole('slider', { name: 'Seek' }).fill('0');
    await chatPanel.getByText('Messages appear here').waitFor();
    await page.getByRole('slider', { name: 'Seek' }).fill(String(Math.max(0, duration - 0.5)));
    for (const line of lines) await chatPanel.getByText(line).waitFor();
    emit({ event: 'chat', lines: lines.length });
  } else if (!api) {
    await chatPanel.getByText('The chat of this class cannot be shown here.').waitFor();
  }

  // Seek to 6 s, pause there: the position is kept on the server.
  const target = Math.min(6, Math.max(0, duration - 1.5));
  await page.getByRole('slider', { name: 'Seek' }).fill(String(target));
  await eventually('the seek', async () => Math.abs((await videoState(page)).t - target) < 1.5);
  await page.getByRole('button', { name: 'Pause' }).click();
  await eventually('paused', async () => (await videoState(page)).paused);
  const at = (await videoState(page)).t;
  await assertAccessible(page, 'replay');
  await screenshot(page, 'replay');
  if (api) {
    // Saves are spaced out: wait until the server holds the paused position.
    const auth = { Authorization: `Bearer ${instructor}` };
    const listed = await (await page.request.get(`${base}/api/sessions/${session}/recordings`, { headers: auth })).json();
    const recording = listed.recordings[0].id;
    await eventually('the position stored on the server', async () => {
      const res = await page.request.get(`${base}/api/recordings/${recording}/position`, { headers: auth });
      const { position_s: stored } = await res.json();
      return typeof stored === 'number' && Math.abs(stored - at) < 1;
    });
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
  await loaded(tablet.page);
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
