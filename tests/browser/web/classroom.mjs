// The classroom page with a live publish (tests/web_classroom_media.rs):
// student 1 watches live over WebRTC (frames decoded grow), switches to
// audio only and back; student 2, past the cap of one WebRTC seat, watches
// the broadcast (hls.js) and picks a rung; a student of another class gets
// a clear page; a recorded class asks for consent once. When the
// instructor's publish drops and comes back, the live page follows by itself.
//   node classroom.mjs --base URL --session ID --recorded ID --student1 JWT --student2 JWT --other JWT
import {
  DESKTOP,
  TABLET,
  assertAccessible,
  assertNoConsoleErrors,
  emit,
  eventually,
  flags,
  person,
  run,
  screenshot,
} from './lib.mjs';

const { base, session, recorded, student1, student2, other } = flags();
const classUrl = (id, token) => `${base}/class/${id}#token=${token}`;

/** What a person sees of how they watch: "Live …" or "Broadcast …". */
const tierText = (page) => page.getByRole('status', { name: 'How you watch' }).innerText();
const stats = (page) => page.evaluate(() => window.classcast.stats());
const video = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('.video-box video');
    return { currentTime: v.currentTime, height: v.videoHeight, paused: v.paused };
  });

/** Frames decoded over WebRTC grow by `by` within the limit. */
async function framesGrow(page, by, what) {
  const start = (await stats(page))?.framesDecoded ?? 0;
  return eventually(what, async () => {
    const s = await stats(page);
    return s && s.framesDecoded >= start + by ? s : null;
  }, { timeoutMs: 20_000 });
}

// What browsers log for the refusals these pages expect and handle in words.
const refused = (...codes) => [new RegExp(`status of (${codes.join('|')})`)];

run(async (browser) => {
  // ---- Student 1: live over WebRTC ----------------------------------------
  const ada = await person(browser, 'student 1');
  await ada.page.goto(classUrl(session, student1));
  await eventually('the Live badge', async () => /^Live/.test(await tierText(ada.page)), { timeoutMs: 20_000 });
  const first = await framesGrow(ada.page, 30, 'decoded frames over WebRTC');
  emit({ event: 'live', framesDecoded: first.framesDecoded, height: first.frameHeight });
  await eventually('the picture on screen', async () => (await video(ada.page)).height > 0);

  // ---- Student 2: past the cap, the broadcast -----------------------------
  const grace = await person(browser, 'student 2');
  await grace.page.goto(classUrl(session, student2));
  await eventually('the Broadcast badge', async () => /^Broadcast/.test(await tierText(grace.page)), {
    timeoutMs: 20_000,
  });
  await grace.page.getByText('Class full — watching the broadcast').waitFor();
  const t0 = await eventually('the broadcast playing', async () => {
    const v = await video(grace.page);
    return v.currentTime > 0.5 && !v.paused ? v : null;
  }, { timeoutMs: 30_000 });
  await eventually('the broadcast advancing', async () => (await video(grace.page)).currentTime > t0.currentTime + 2, {
    timeoutMs: 20_000,
  });
  // The quality menu offers the ladder's rungs; picking one plays it.
  const quality = grace.page.getByLabel('Quality');
  const options = await quality.locator('option').allInnerTexts();
  if (!options.some((o) => o === '240p') || !options.some((o) => o.startsWith('Auto'))) {
    throw new Error(`quality menu: ${JSON.stringify(options)}`);
  }
  await quality.selectOption({ label: '240p' });
  await eventually('the 240p rung on screen', async () => (await video(grace.page)).height === 240, {
    timeoutMs: 20_000,
  });
  emit({ event: 'broadcast', options });
  await assertAccessible(grace.page, 'classroom (broadcast)');
  assertNoConsoleErrors(grace, { allow: refused(503) });
  await grace.context.close();

  // ---- Student 1: audio only and back -------------------------------------
  const audioOnly = ada.page.getByRole('button', { name: 'Audio only' });
  await audioOnly.click();
  await ada.page.getByText('Listening to').waitFor();
  if ((await audioOnly.getAttribute('aria-pressed')) !== 'true') throw new Error('Audio only is not shown as on');
  await eventually('sound without pictures', async () => {
    const s = await stats(ada.page);
    return s && s.audioBytes > 20_000 && s.framesDecoded === 0;
  }, { timeoutMs: 20_000 });
  await audioOnly.click();
  await framesGrow(ada.page, 30, 'pictures again after audio only');
  await eventually('the Live badge again', async () => /^Live/.test(await tierText(ada.page)));
  emit({ event: 'audio-only' });

  await assertAccessible(ada.page, 'classroom (live)');
  await ada.page.mouse.move(0, 0); // no hover left on the last button clicked
  await screenshot(ada.page, 'classroom');
  await ada.page.setViewportSize(TABLET);
  await eventually('the picture at 768 px', async () => (await video(ada.page)).height > 0);
  await screenshot(ada.page, 'classroom');
  await ada.page.setViewportSize(DESKTOP);

  // ---- The instructor's publish drops and comes back: the page re-offers --
  emit({ event: 'publisher-restart-ready' });
  await ada.page.getByText('The instructor’s video has stopped').waitFor({ timeout: 30_000 });
  emit({ event: 'saw-stopped' });
  await eventually('Live again after the publisher came back', async () => /^Live/.test(await tierText(ada.page)), {
    timeoutMs: 40_000,
  });
  await framesGrow(ada.page, 30, 'pictures again after the publisher came back');
  emit({ event: 'recovered' });
  // Re-offers while nobody published were refused with 409 (and said so in
  // words); the DELETE of the resource the server had already closed is a 404.
  assertNoConsoleErrors(ada, { allow: refused(404, 409) });

  // ---- A student of another class ----------------------------------------
  const alan = await person(browser, 'other student');
  await alan.page.goto(classUrl(session, other));
  await alan.page.getByRole('heading', { name: 'This link is for another class' }).waitFor();
  if ((await alan.page.locator('video').count()) !== 0) throw new Error('a refused student still has a video');
  await assertAccessible(alan.page, 'classroom (another class)');

  // ---- Their own class records: consent, asked once ----------------------
  await alan.page.goto(classUrl(recorded, other));
  await alan.page.getByRole('heading', { name: 'This class is recorded' }).waitFor();
  await alan.page.getByText('The class has not started yet — we’ll connect when it does').waitFor();
  await assertAccessible(alan.page, 'classroom (consent)');
  await alan.page.getByRole('button', { name: 'I agree' }).click();
  await alan.page.getByRole('heading', { name: 'This class is recorded' }).waitFor({ state: 'detached' });
  await alan.page.reload();
  await alan.page.getByRole('status', { name: 'How you watch' }).waitFor();
  if (await alan.page.getByRole('heading', { name: 'This class is recorded' }).count()) {
    throw new Error('consent asked again after an answer');
  }
  emit({ event: 'consent' });
  assertNoConsoleErrors(alan, { allow: refused(403, 409) });
  await alan.context.close();
  await ada.context.close();
});
