// Issue 15's acceptance walk, the way people use it: the instructor signs in
// on the home page, creates a class, starts it, turns the lobby on and goes
// live with the fake camera; two students join through the studio's invite
// link with their names; the instructor admits one, then all. A student sees
// the instructor over WebRTC (frames decoded grow) and the camera-off state
// within 1 s of the click. A hand goes up, the instructor calls the student
// on stage and keeps teaching; the student goes on stage beside the
// instructor: the studio shows the student's video, and the other student
// sees it as a tile beside the instructor's, without reloading.
//   node class.mjs --base URL --instructor JWT
import { assertAccessible, assertNoConsoleErrors, emit, eventually, flags, person, run, screenshot } from './lib.mjs';

const { base, instructor } = flags();
const TITLE = 'Photosynthesis';

const framesDecoded = (page, selector) =>
  page.locator(selector).first().evaluate((v) => v.getVideoPlaybackQuality().totalVideoFrames);

async function framesGrow(page, selector, what) {
  const first = await eventually(`${what}: first frames`, async () => (await framesDecoded(page, selector)) > 0, { timeoutMs: 20_000 });
  const before = await framesDecoded(page, selector);
  await eventually(`${what}: frames keep coming`, async () => (await framesDecoded(page, selector)) > before + 10, { timeoutMs: 10_000 });
  return first;
}

run(async (browser) => {
  // Home: sign in, create the class, start it.
  const teacher = await person(browser, 'instructor');
  const studio = teacher.page;
  await studio.goto(`${base}/#token=${instructor}`);
  await studio.getByRole('heading', { name: 'Your classes', level: 1 }).waitFor();
  await studio.getByRole('button', { name: 'New class' }).click();
  await studio.getByRole('textbox', { name: 'Title', exact: true }).fill(TITLE);
  await studio.getByRole('button', { name: 'Create class' }).click();
  const card = studio.getByRole('article', { name: TITLE });
  await card.getByRole('link', { name: /Start class/ }).or(card.getByRole('button', { name: /Start class/ })).first().click();
  await studio.waitForURL(/\/studio\//);
  const session = new URL(studio.url()).pathname.split('/').pop();
  emit({ event: 'created', session });

  // The lobby on, then live.
  await studio.getByRole('tab', { name: /^People/ }).click();
  await studio.getByRole('switch', { name: /Lobby/ }).check();
  await studio.getByText('Lobby on').waitFor();
  await studio.getByRole('button', { name: 'Go live' }).click();
  await studio.locator('.app-header .state-live').waitFor({ timeout: 30_000 });
  emit({ event: 'live' });

  // The student link, from the studio.
  await studio.getByText('Invite students and guests').click();
  const link = await studio.getByRole('textbox', { name: 'Student link' }).inputValue();
  if (!link.includes('/join/')) throw new Error(`student link ${link}`);

  // Two students join with their names and wait in the lobby.
  const students = [];
  for (const name of ['Ada Lovelace', 'Alan Turing']) {
    const who = await person(browser, name);
    await who.page.goto(link);
    await who.page.getByRole('textbox', { name: 'Your name' }).fill(name);
    await who.page.getByRole('button', { name: 'Join class' }).click();
    await who.page.getByRole('heading', { name: /^Waiting for .* to let you in$/ }).waitFor();
    students.push(who);
  }
  const [ada, alan] = students;
  await studio.getByRole('button', { name: 'Admit Ada Lovelace' }).click();
  await ada.page.getByRole('tab', { name: /^Chat/ }).waitFor();
  if (!(await alan.page.getByRole('heading', { name: /^Waiting for/ }).isVisible())) throw new Error('Alan left the lobby with Ada');
  await studio.getByRole('button', { name: /^Admit all/ }).click();
  await alan.page.getByRole('tab', { name: /^Chat/ }).waitFor();
  emit({ event: 'admitted' });

  // Ada sees the instructor live over WebRTC.
  await framesGrow(ada.page, '.video-box video', 'the instructor on Ada’s page');
  await ada.page.getByRole('status', { name: 'How you watch' }).getByText('Live').waitFor();
  emit({ event: 'watching', tier: await ada.page.evaluate(() => window.classcast?.tier) });

  // Camera off: the students see it within a second.
  await studio.getByRole('button', { name: 'Camera off' }).click();
  const clicked = Date.now();
  await eventually('Ada sees the camera off', async () => ada.page.getByText('Camera is off').isVisible(), { timeoutMs: 1000, everyMs: 25 });
  emit({ event: 'camera_off_seen', after_ms: Date.now() - clicked });
  await screenshot(ada.page, 'classroom-camera-off');
  await studio.getByRole('button', { name: 'Camera off' }).click();
  await eventually('Ada sees the camera on again', async () => !(await ada.page.getByText('Camera is off').isVisible()));

  // A hand, then the stage: called on, Ada publishes while the instructor stays live.
  await ada.page.getByRole('button', { name: 'Raise hand' }).click();
  await ada.page.getByText('Your hand is up: you are next.').waitFor();
  await studio.getByRole('tab', { name: /^Hands/ }).click();
  await studio.getByRole('button', { name: 'Call on stage Ada Lovelace' }).click();
  await ada.page.getByRole('heading', { name: 'You’re invited to speak' }).waitFor();
  await ada.page.getByRole('button', { name: 'Set up camera and microphone' }).click();
  await ada.page.getByRole('heading', { name: 'Check your camera and microphone' }).waitFor();
  await ada.page.getByRole('button', { name: 'Go on stage' }).click();
  await ada.page.getByText('You are on stage — everyone can see and hear you.').waitFor({ timeout: 20_000 });
  const onStage = studio.getByRole('region', { name: 'On stage: Ada Lovelace' });
  await onStage.waitFor({ timeout: 15_000 });
  await framesGrow(studio, '.on-stage-video', 'Ada on the studio');
  emit({ event: 'student_on_stage_seen' });
  // Alan sees Ada in a tile of her own, and the instructor still.
  await alan.page.getByRole('region', { name: 'Also live in this class' }).waitFor({ timeout: 15_000 });
  await framesGrow(alan.page, 'video[aria-label="On stage: Ada Lovelace"]', 'Ada’s tile on Alan’s page');
  await framesGrow(alan.page, '.video-box video', 'the instructor on Alan’s page beside Ada');
  await screenshot(alan.page, 'classroom-stage-tile');
  await assertAccessible(studio, 'studio (student on stage)');
  await studio.evaluate(() => window.scrollTo(0, 0));
  await screenshot(studio, 'studio-on-stage');

  // The instructor ends the turn; Ada's publish ends, her page says so.
  await studio.getByRole('tab', { name: /^Hands/ }).click();
  await studio.getByRole('button', { name: 'Demote Ada Lovelace' }).click();
  await ada.page.getByText('Your instructor ended your turn on stage.').waitFor();
  await onStage.waitFor({ state: 'detached' });
  await alan.page.getByRole('region', { name: 'Also live in this class' }).waitFor({ state: 'detached', timeout: 5_000 });
  emit({ event: 'demoted' });

  // Hand-overs race by nature: an offer a moment before the new publish is
  // ready gets 409 and is retried; leaving a viewer the server already
  // ended (the publish stopped) gets 404. Anything else is an error.
  const races = [/status of 409 \(Conflict\)/, /status of 404 \(Not Found\)/];
  for (const who of [teacher, ada, alan]) {
    assertNoConsoleErrors(who, { allow: races });
    const unexpected = who.failedRequests.filter((r) => !/^409 POST \/whep\/|^409 POST \/whip\/|^404 DELETE \/whep\//.test(r));
    if (unexpected.length) throw new Error(`${who.name}: failed requests ${unexpected.join(', ')}`);
  }
  emit({ event: 'done' });
});
