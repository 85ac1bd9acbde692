// Issue 17's acceptance: many publishers in one class, in one Chromium.
// Grace goes live from the studio (fake camera); Ada (classroom page) and
// Bob (aiortc, started by the Rust test once the studio called him: the
// `bob_called` line) go on stage at once while she teaches; Cleo, a third
// student, sees and hears all three (getStats per track: frames decoded
// grow, audio energy grows). The layout switcher. Grace shares her screen
// (Chromium's fake display capture): a second WHIP publish beside the
// camera, large on Cleo's page with the cameras in a column; refusals are
// said in words. Grace ends Bob's turn: his tile and track end on Cleo's page
// within 2 s. Ending the share (the button, or the browser's own "Stop
// sharing") deletes its WHIP resource. Screenshots at 1280 and phone width.
//   node stage3.mjs --base URL --session ID --instructor JWT --ada JWT --cleo JWT
import { assertAccessible, assertNoConsoleErrors, emit, eventually, flags, person, run, screenshot } from './lib.mjs';

const { base, session, instructor, ada: adaToken, cleo: cleoToken } = flags();
/** A line for the Rust test (stdout), and for whoever reads the test's log (stderr). */
const say = (line) => {
  emit(line);
  process.stderr.write(`stage3: ${JSON.stringify(line)}\n`);
};
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const ADA = 'On stage: Ada Lovelace';
const BOB = 'On stage: Bob Kahn';
const SCREEN = 'Grace Hopper’s screen';
/** Each publisher's picture size: Grace's and Ada's fake cameras, Bob's aiortc (tests/web_stage_media.rs). */
const CAMERAS = { Grace: { width: 480, height: 270 }, Ada: { width: 512, height: 288 }, Bob: { width: 320, height: 240 } };
/** The server's lighter encoding of a student's camera, which a loaded viewer may be stepped down to. */
const LIGHTER = 640;

/**
 * Each tile decodes its own publisher's picture (`sizes`: name → the widths
 * it may have), not another's.
 */
function assertSources(got, sizes) {
  const wrong = Object.entries(sizes).filter(([name, widths]) => !widths.includes(got[name]?.video?.width));
  if (wrong.length) {
    const seen = Object.fromEntries(Object.entries(got).map(([n, v]) => [n, `${v.video?.width}×${v.video?.height}`]));
    throw new Error(`tiles showing another publisher's video: ${wrong.map(([n, w]) => `${n} should be ${w.join(' or ')} px wide`).join('; ')} (decoded: ${JSON.stringify(seen)})`);
  }
}

/**
 * Before any page script: every RTCPeerConnection is kept in
 * `window.__classcastPeers` (the test reads their stats; the page does not
 * know), and the camera opens at `camera`: small, so four people's media
 * stay real time on two cores, and a size of each person's own, so a
 * viewer's tile is known to show whom it says.
 */
function instrument(camera) {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__classcastPeers) return;
  const peers = [];
  window.__classcastPeers = peers;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      peers.push(this);
    }
  };
  const devices = navigator.mediaDevices;
  if (!devices) return;
  const open = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (c) =>
    open(c?.video ? { ...c, video: { ...(typeof c.video === 'object' ? c.video : {}), ...camera } } : c);
  try {
    localStorage.setItem('classcast.studio.devices', JSON.stringify({ cameraId: '', micId: '', resolution: '360p' }));
  } catch {
    // about:blank
  }
}

/**
 * What each <video> on the page receives, per track, from the peer
 * connections' stats: frames decoded (video) and total audio energy (audio).
 * Keyed by the video's accessible name ('main' for the class video).
 */
const received = (page) =>
  page.evaluate(async () => {
    const byTrack = new Map();
    for (const pc of window.__classcastPeers ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp') byTrack.set(s.trackIdentifier, s);
      });
    }
    const out = {};
    for (const v of document.querySelectorAll('video')) {
      const name = v.closest('.video-box') ? 'main' : v.getAttribute('aria-label');
      const tracks = v.srcObject?.getTracks?.() ?? [];
      out[name] = {};
      for (const t of tracks) {
        const s = byTrack.get(t.id);
        out[name][t.kind] =
          t.kind === 'video'
            ? { frames: s?.framesDecoded ?? 0, width: s?.frameWidth ?? 0, height: s?.frameHeight ?? 0, state: t.readyState }
            : { energy: s?.totalAudioEnergy ?? 0, state: t.readyState };
      }
    }
    return out;
  });

/** Every named video's frames and every named voice's energy grow over a few seconds. */
async function allFlow(page, videos, voices, what) {
  return eventually(
    what,
    async () => {
      const a = await received(page);
      await new Promise((r) => setTimeout(r, 2500));
      const b = await received(page);
      const stalled = [
        ...videos.filter((n) => !((b[n]?.video?.frames ?? 0) > (a[n]?.video?.frames ?? 0) + 1)).map((n) => `${n} (video)`),
        ...voices.filter((n) => !((b[n]?.audio?.energy ?? 0) > (a[n]?.audio?.energy ?? 0))).map((n) => `${n} (audio)`),
      ];
      if (stalled.length) throw new Error(`not flowing: ${stalled.join(', ')} in ${JSON.stringify(b)}`);
      return b;
    },
    { timeoutMs: 40_000, everyMs: 500 },
  );
}

/** The DELETEs the studio sends to WHIP resources. */
function whipDeletes(page) {
  const deletes = [];
  page.on('request', (req) => {
    if (req.method() === 'DELETE' && new URL(req.url()).pathname.startsWith('/whip/')) deletes.push(req.url());
  });
  return deletes;
}

async function publishes() {
  const res = await fetch(`${base}/api/sessions/${session}`, { headers: { Authorization: `Bearer ${instructor}` } });
  if (!res.ok) throw new Error(`GET session answered ${res.status}`);
  return (await res.json()).publishes ?? [];
}

run(async (browser) => {
  const people = {};
  for (const name of ['Grace', 'Ada', 'Cleo']) {
    people[name] = await person(browser, name);
    await people[name].context.addInitScript(instrument, CAMERAS[name] ?? CAMERAS.Grace);
  }
  const { Grace: grace, Ada: ada, Cleo: cleo } = people;
  const studio = grace.page;
  const deletes = whipDeletes(studio);
  // The layouts the room announces to the studio.
  const announced = [];
  studio.on('websocket', (ws) =>
    ws.on('framereceived', (frame) => {
      try {
        const m = JSON.parse(String(frame.payload));
        if (m.type === 'layout') announced.push(m.layout);
        if (m.type === 'welcome') announced.push(`welcome:${m.room.layout}`);
      } catch {
        // not JSON
      }
    }),
  );

  // Grace goes live from the studio.
  await studio.goto(`${base}/studio/${session}#token=${instructor}`);
  await studio.getByRole('button', { name: 'Go live' }).click();
  await studio.locator('.app-header .state-live').waitFor({ timeout: 30_000 });
  say({ event: 'live' });

  // Ada and Cleo come into the class; Ada raises her hand (Bob's is up already).
  await ada.page.goto(`${base}/class/${session}#token=${adaToken}`);
  await cleo.page.goto(`${base}/class/${session}#token=${cleoToken}`);
  await ada.page.getByRole('button', { name: 'Raise hand' }).click();

  // Both on stage at once: Ada through her page, Bob from aiortc.
  await studio.getByRole('tab', { name: /^Hands/ }).click();
  await studio.getByRole('button', { name: 'Call on stage Ada Lovelace' }).click();
  await ada.page.getByRole('button', { name: 'Set up camera and microphone' }).click();
  await ada.page.getByRole('button', { name: 'Go on stage' }).click();
  await studio.getByRole('button', { name: 'Call on stage Bob Kahn' }).click();
  say({ event: 'bob_called' });
  await ada.page.getByText('You are on stage — everyone can see and hear you.').waitFor({ timeout: 20_000 });
  for (const name of ['Ada Lovelace', 'Bob Kahn']) {
    await studio.getByRole('region', { name: `On stage: ${name}` }).getByText('On stage', { exact: true }).waitFor({ timeout: 30_000 });
  }
  say({ event: 'two_on_stage' });

  // Cleo sees and hears the three of them.
  const three = await allFlow(cleo.page, ['main', ADA, BOB], ['main', ADA, BOB], 'Cleo receiving Grace, Ada and Bob');
  say({ event: 'cleo_receives_three', received: three });
  assertSources(three, { main: [CAMERAS.Grace.width], [ADA]: [CAMERAS.Ada.width, LIGHTER], [BOB]: [CAMERAS.Bob.width, LIGHTER] });
  await studio.evaluate(() => window.scrollTo(0, 0));

  // The layout: the instructor's choice reaches the room and comes back.
  const layouts = studio.getByRole('radiogroup', { name: 'Broadcast layout' });
  await eventually('the room’s layout shown (auto)', async () => layouts.getByRole('radio', { name: 'Auto' }).isChecked());
  await studio.getByText(/see you and the students on stage in a grid/).waitFor();
  await layouts.getByRole('radio', { name: 'Speaker' }).check();
  await eventually('the room announcing speaker', async () => announced.includes('speaker'), { timeoutMs: 5000 });
  await studio.getByText(/see you alone, full frame/).waitFor();
  if (!(await layouts.getByRole('radio', { name: 'Speaker' }).isChecked())) throw new Error('Speaker not kept');
  say({ event: 'layout_speaker', announced });
  await layouts.getByRole('radio', { name: 'Auto' }).check();
  await eventually('the room announcing auto', async () => announced.at(-1) === 'auto', { timeoutMs: 5000 });
  if (!(await layouts.getByRole('radio', { name: 'Auto' }).isChecked())) throw new Error('Auto not kept');

  await screenshot(cleo.page, 'classroom-stage-two');
  await cleo.page.setViewportSize(PHONE);
  await screenshot(cleo.page, 'classroom-stage-two');
  await cleo.page.setViewportSize(DESKTOP);

  // A refused share is said in words: the browser's, then the server's.
  await studio.evaluate(() => {
    navigator.mediaDevices.getDisplayMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  });
  await studio.getByRole('button', { name: 'Share screen' }).click();
  await studio.getByRole('alert').getByText(/^Screen sharing was not allowed/).waitFor();
  await studio.evaluate(() => delete navigator.mediaDevices.getDisplayMedia);
  const screenWhip = (url) => url.pathname.startsWith('/whip/') && url.searchParams.get('source') === 'screen';
  await studio.route(screenWhip, (route) =>
    route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify({ error: 'a screen is already shared in this class; stop it first' }) }),
  );
  await studio.getByRole('button', { name: 'Share screen' }).click();
  await studio.getByRole('alert').getByText(/A screen is already shared in this class/).waitFor({ timeout: 10_000 });
  await studio.getByRole('button', { name: 'Share screen' }).waitFor();
  await studio.unroute(screenWhip);
  say({ event: 'refusals_in_words' });

  // The screen share: a second publish, the camera still live.
  await studio.getByRole('button', { name: 'Share screen' }).click();
  await studio.getByRole('region', { name: 'Your shared screen' }).getByText('The class sees your screen').waitFor({ timeout: 20_000 });
  await studio.getByRole('button', { name: 'Stop sharing' }).waitFor();
  const kinds = await eventually('camera, screen and two students published at once', async () => {
    const list = await publishes();
    const k = list.map((p) => p.kind).sort();
    if (JSON.stringify(k) === JSON.stringify(['camera', 'screen', 'stage', 'stage']) && list.every((p) => p.ready)) return k;
    throw new Error(JSON.stringify(list.map((p) => [p.kind, p.name, p.ready])));
  });
  say({ event: 'screen_shared', kinds });
  await cleo.page.getByRole('region', { name: 'Shared screen' }).waitFor({ timeout: 15_000 });
  const four = await allFlow(cleo.page, ['main', SCREEN, ADA, BOB], ['main', ADA, BOB], 'Cleo receiving the screen beside the three');
  const sent = await studio.evaluate(async () => {
    for (const pc of window.__classcastPeers.filter((p) => p.connectionState !== 'closed')) {
      if (!pc.getSenders().some((s) => s.track?.getSettings().displaySurface)) continue;
      let out = null;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') out = { width: s.frameWidth, height: s.frameHeight, fps: s.framesPerSecond, limited: s.qualityLimitationReason };
      });
      return out;
    }
    return null;
  });
  say({ event: 'cleo_receives_four', received: four, screen_sent: sent });
  assertSources(four, { main: [CAMERAS.Grace.width], [SCREEN]: [sent.width], [ADA]: [CAMERAS.Ada.width, LIGHTER], [BOB]: [CAMERAS.Bob.width, LIGHTER] });

  // How it looks, where a teacher and a student look.
  await studio.evaluate(() => window.scrollTo(0, 0));
  await screenshot(studio, 'studio-stage-screen');
  await screenshot(cleo.page, 'classroom-screen');
  await assertAccessible(cleo.page, 'classroom (screen share and stage)');
  await assertAccessible(studio, 'studio (screen share and stage)');
  await cleo.page.setViewportSize(PHONE);
  await screenshot(cleo.page, 'classroom-screen');
  await cleo.page.setViewportSize(DESKTOP);
  await studio.setViewportSize(PHONE);
  await screenshot(studio, 'studio-stage-screen');
  await studio.setViewportSize(DESKTOP);

  // Grace ends Bob's turn: his tile and his track end on Cleo's page within 2 s.
  const bobPeer = await cleo.page.evaluate((label) => {
    const ids = new Set(document.querySelector(`video[aria-label="${label}"]`).srcObject.getTracks().map((t) => t.id));
    return window.__classcastPeers.findIndex((pc) => pc.getReceivers().some((r) => ids.has(r.track.id)));
  }, BOB);
  if (bobPeer < 0) throw new Error('no peer connection carries Bob');
  await studio.getByRole('button', { name: 'End turn of Bob Kahn' }).click();
  const demotedAt = Date.now();
  await cleo.page.locator(`video[aria-label="${BOB}"]`).waitFor({ state: 'detached', timeout: 2000 });
  const tileGoneMs = Date.now() - demotedAt;
  const ended = await cleo.page.evaluate((i) => {
    const pc = window.__classcastPeers[i];
    return { connection: pc.connectionState, tracks: pc.getReceivers().map((r) => r.track.readyState) };
  }, bobPeer);
  if (ended.connection !== 'closed' || ended.tracks.some((t) => t !== 'ended')) throw new Error(`Bob's track lives on: ${JSON.stringify(ended)}`);
  const trackEndedMs = Date.now() - demotedAt;
  if (trackEndedMs > 2000) throw new Error(`Bob's track ended ${trackEndedMs} ms after the demote`);
  await studio.getByRole('region', { name: BOB }).waitFor({ state: 'detached', timeout: 5000 });
  await allFlow(cleo.page, ['main', SCREEN, ADA], ['main', ADA], 'the others still flowing on Cleo’s page');
  say({ event: 'bob_demoted', tile_gone_ms: tileGoneMs, track_ended_ms: trackEndedMs });

  // Stop sharing: its WHIP resource is deleted, the camera stays live.
  const before = deletes.length;
  await studio.getByRole('button', { name: 'Stop sharing' }).click();
  await eventually('the share’s DELETE', async () => deletes.length > before);
  await cleo.page.getByRole('region', { name: 'Shared screen' }).waitFor({ state: 'detached', timeout: 5000 });
  await eventually('the screen publish gone, the camera live', async () => {
    const k = (await publishes()).map((p) => p.kind);
    return k.includes('camera') && !k.includes('screen');
  });
  say({ event: 'share_stopped' });

  // The browser's own "Stop sharing" (the track ends): the same.
  await studio.getByRole('button', { name: 'Share screen' }).click();
  await studio.getByRole('region', { name: 'Your shared screen' }).getByText('The class sees your screen').waitFor({ timeout: 20_000 });
  const again = deletes.length;
  await studio.evaluate(() => {
    const sender = window.__classcastPeers
      .filter((pc) => pc.connectionState !== 'closed')
      .flatMap((pc) => pc.getSenders())
      .find((s) => s.track?.kind === 'video' && s.track.getSettings().displaySurface);
    sender.track.dispatchEvent(new Event('ended'));
  });
  await studio.getByRole('button', { name: 'Share screen' }).waitFor();
  await eventually('the share’s DELETE after the browser ended it', async () => deletes.length > again);
  await eventually('the screen publish gone', async () => !(await publishes()).some((p) => p.kind === 'screen'));
  say({ event: 'share_ended_by_browser' });

  // A demote races the viewers' re-offers (409 until ready, 404 once ended);
  // the 409 refusal above was ours. Anything else is an error.
  const races = [/status of 409 \(Conflict\)/, /status of 404 \(Not Found\)/];
  for (const who of [grace, ada, cleo]) {
    assertNoConsoleErrors(who, { allow: races });
    const unexpected = who.failedRequests.filter((r) => !/^409 POST \/wh[ie]p\/|^404 (DELETE|POST) \/whep\//.test(r));
    if (unexpected.length) throw new Error(`${who.name}: failed requests ${unexpected.join(', ')}`);
  }
});
