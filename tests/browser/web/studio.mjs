// The studio's media side in headless Chromium with the fake camera: pick
// devices, Go live over WHIP (state Live, what is sent), the server sees the
// publish, Camera off reaches a student, screen share (a second publish) on
// and off, Stop,
// Record on and off; a student's and another instructor's token get a clear
// page; End class.
//   node studio.mjs --base URL --session ID --instructor JWT --student JWT
//                   --observer JWT --stranger JWT
import {
  assertAccessible,
  assertNoConsoleErrors,
  emit,
  eventually,
  flags,
  person,
  run,
  screenshot,
  TABLET,
  DESKTOP,
} from './lib.mjs';

const { base, session, instructor, student, observer, stranger } = flags();
const studioUrl = (token) => `${base}/studio/${session}#token=${token}`;

async function getSession() {
  const res = await fetch(`${base}/api/sessions/${session}`, { headers: { Authorization: `Bearer ${instructor}` } });
  if (!res.ok) throw new Error(`GET session answered ${res.status}`);
  return res.json();
}

/**
 * A second participant's view of the room, socket only (from a blank page,
 * outside any page's CSP): the participants as `welcome` and
 * `participant_updated` report them.
 */
async function roomObserver(browser, token) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const ws = `${base.replace(/^http/, 'ws')}/ws/sessions/${session}`;
  await page.evaluate(
    ({ ws, token }) => {
      window.participants = {};
      const sock = new WebSocket(ws, [`classcast.jwt.${token}`]);
      sock.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === 'welcome') for (const p of m.room.participants) window.participants[p.id] = p;
        if (m.type === 'participant_joined' || m.type === 'participant_updated') window.participants[m.participant.id] = m.participant;
      };
    },
    { ws, token },
  );
  return {
    instructorMedia: () =>
      page.evaluate(() => Object.values(window.participants).find((p) => p.role === 'instructor')?.media ?? null),
    close: () => ctx.close(),
  };
}

run(async (browser) => {
  const inst = await person(browser, 'instructor');
  const { page } = inst;
  let roomSockets = 0;
  page.on('websocket', (ws) => {
    if (ws.url().includes('/ws/sessions/')) roomSockets += 1;
  });

  await page.goto(studioUrl(instructor));
  await page.getByRole('region', { name: 'Your broadcast' }).waitFor();

  // Devices: the fake camera and microphone are listed once opened; pick them.
  const camera = page.getByLabel('Camera', { exact: true });
  await eventually('the fake camera listed', async () => (await camera.locator('option').count()) > 1);
  const cameraId = await camera.locator('option').nth(1).getAttribute('value');
  await camera.selectOption(cameraId);
  await page.getByLabel('Resolution').selectOption('720p');
  const mic = page.getByLabel('Microphone', { exact: true });
  await eventually('the fake microphone listed', async () => (await mic.locator('option').count()) > 1);
  await mic.selectOption(await mic.locator('option').nth(1).getAttribute('value'));
  await eventually('the level meter moving (the fake mic beeps)', async () =>
    Number(await page.getByRole('meter', { name: 'Microphone level' }).getAttribute('aria-valuenow')) > 0,
  );
  emit({ event: 'devices', camera: cameraId });

  // Go live: Live with the elapsed time, and what is sent.
  await page.getByRole('button', { name: 'Go live' }).click();
  await page.locator('.app-header .state-live').waitFor({ timeout: 30_000 });
  const sending = page.getByTestId('sending');
  const sent = await eventually(
    'resolution, bitrate and fps sent',
    async () => {
      const text = (await sending.textContent()) ?? '';
      const m = /(\d+)×(\d+) · ([\d,]+) kbps · (\d+) fps/.exec(text);
      return m && Number(m[1]) > 0 && Number(m[4]) > 0 ? { text, width: Number(m[1]), fps: Number(m[4]) } : null;
    },
    { timeoutMs: 15_000 },
  );
  emit({ event: 'live', sent: sent.text });
  const live = await eventually('the server sees the publish', async () => {
    const s = await getSession();
    return s.live && s.media ? s : null;
  });
  emit({ event: 'server_live', publisher: live.media.publisher_id });

  // A student in the class; Camera off reaches the class at once.
  const stu = await person(browser, 'student');
  await stu.page.goto(`${base}/class/${session}#token=${student}`);
  const watcher = await roomObserver(browser, observer);
  const wired = roomSockets > 0;
  if (wired) {
    // Joining, the studio told the class its camera is on (a participant's
    // media starts all off, so this proves the page sent it).
    await eventually('the class sees the camera on', async () => (await watcher.instructorMedia())?.camera === true);
  }
  const cameraOff = page.getByRole('button', { name: 'Camera off' });
  await cameraOff.click();
  const clickedAt = Date.now();
  await eventually('Camera off pressed', async () => (await cameraOff.getAttribute('aria-pressed')) === 'true');
  await page.getByText('Your camera is off').waitFor();
  if (wired) {
    // TODO(room panels): read it from the student's page instead, via the
    // Sidebar's participants list (the instructor's camera-off state).
    await eventually('the class sees the camera off', async () => (await watcher.instructorMedia())?.camera === false, {
      timeoutMs: 2000,
      everyMs: 50,
    });
    emit({ event: 'camera_off_seen', after_ms: Date.now() - clickedAt });
  } else {
    // The room connection is still the skeleton's placeholder (no socket).
    emit({ event: 'todo', check: 'camera off reaches the student', why: 'the studio opens no room socket yet' });
  }
  await page.getByRole('button', { name: 'Camera off' }).click();
  await watcher.close();

  // Screen share: a second publish beside the camera (which stays live), and off again.
  await page.getByRole('button', { name: 'Share screen' }).click();
  await page.getByRole('region', { name: 'Your shared screen' }).getByText('The class sees your screen').waitFor({ timeout: 20_000 });
  await eventually('the server has the screen beside the camera', async () => {
    const kinds = ((await getSession()).publishes ?? []).map((p) => p.kind);
    return kinds.includes('camera') && kinds.includes('screen');
  });
  await eventually('still live while sharing', async () => /\d+×\d+/.test((await sending.textContent()) ?? ''));
  await page.getByRole('button', { name: 'Stop sharing' }).click();
  await page.getByRole('button', { name: 'Share screen' }).waitFor();
  await eventually('the screen publish ends, the camera stays', async () => {
    const kinds = ((await getSession()).publishes ?? []).map((p) => p.kind);
    return kinds.includes('camera') && !kinds.includes('screen');
  });
  emit({ event: 'screen_share' });

  await assertAccessible(page, 'studio (live)');
  await screenshot(page, 'studio-live');
  await page.setViewportSize(TABLET);
  await screenshot(page, 'studio-live');
  await page.setViewportSize(DESKTOP);

  // Stop: not live, and the server agrees.
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.getByRole('button', { name: 'Go live' }).waitFor();
  await eventually('the server ends the publish', async () => !(await getSession()).live);
  emit({ event: 'stopped' });

  // Record on and off: the switch shows the server's value.
  const record = page.getByRole('button', { name: 'Record' });
  await record.click();
  await eventually('recording on', async () => (await record.getAttribute('aria-pressed')) === 'true' && (await getSession()).record);
  await page.locator('.app-header').getByText('Recording').waitFor();
  await record.click();
  await eventually('recording off', async () => (await record.getAttribute('aria-pressed')) === 'false' && !(await getSession()).record);
  emit({ event: 'record_switch' });

  // A student's token on the studio page: a clear page, no errors, no socket.
  const wrong = await person(browser, 'student on the studio');
  let wrongSockets = 0;
  wrong.page.on('websocket', () => (wrongSockets += 1));
  await wrong.page.goto(studioUrl(student));
  await wrong.page.getByRole('heading', { name: "The studio is for the class's teacher" }).waitFor();
  await assertAccessible(wrong.page, 'studio (student token)');
  if (wrongSockets) throw new Error('the studio opened a room socket for a student token');
  assertNoConsoleErrors(wrong);

  // Another instructor: not theirs (the refused GET is the only error logged).
  const other = await person(browser, 'another instructor');
  await other.page.goto(studioUrl(stranger));
  await other.page.getByRole('heading', { name: 'This class is not yours' }).waitFor();
  assertNoConsoleErrors(other, { allow: [/status of 403/] });
  emit({ event: 'refusals' });

  // End class, confirmed: the studio says so, and the server has it ended.
  await page.getByRole('button', { name: 'End class' }).click();
  await page.getByRole('button', { name: 'End class for everyone' }).click();
  await page.getByRole('heading', { name: 'This class has ended' }).waitFor();
  await eventually('the session ended', async () => (await getSession()).state === 'ended');
  assertNoConsoleErrors(inst);
  emit({ event: 'ended' });
});
