#!/usr/bin/env node
// Watches a classcast session through player/watch.html (hls.js) and checks that it plays,
// optionally switching to every quality level in turn.
//
//   node watch.mjs --page 'http://127.0.0.1:8080/player/watch.html#token=T&session=S' \
//                  [--seconds N] [--switch-levels] [--screenshot out.png]
//
// stdout carries one JSON object per line:
//   {"event":"playing","levels":[{"index":0,"width":640,"height":360,"bitrate":1020800},...],"currentTime":t}
//   {"event":"switched","level":n,"height":h,"advanced":s,"videoHeight":vh}
//        with --switch-levels, once per level, highest index (best quality) first; advanced:
//        media seconds played since hls.currentLevel became n; videoHeight: the picture's height then
//   {"event":"done","currentTime":t,"droppedErrors":["networkError/...",...]}
//        droppedErrors: the fatal hls.js errors the page saw (and recovered from)
//   {"event":"error","message":"...","status":"<#status text>"}   then exit 1
//   {"event":"terminated","signal":"SIGTERM"}                      on SIGTERM/SIGINT, then exit 0
// Without --switch-levels it plays for --seconds (default 10) after "playing".
// Page console errors go to stderr. Never runs longer than its phases' limits + 60 s.
import { parseArgs } from 'node:util';
import { DriverRun, emit, sleep } from './lib.mjs';

const LOAD_TIMEOUT_MS = 15_000;
const PLAYING_TIMEOUT_MS = 30_000;   // until playing and currentTime advanced > 1 s
const SWITCH_TIMEOUT_MS = 20_000;    // per level
const SWITCH_ADVANCE_S = 1.5;
const PICTURE_GRACE_MS = 3_000;     // extra wait for <video>.videoHeight to match (reported only)
const POLL_MS = 250;
const SLACK_S = 60;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      page: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      'switch-levels': { type: 'boolean', default: false },
      screenshot: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  emit({ event: 'error', message: e.message, status: null });
  process.exit(2);
}
if (opts.help) {
  process.stderr.write('usage: node watch.mjs --page URL [--seconds N] [--switch-levels] [--screenshot FILE]\n');
  process.exit(0);
}
const seconds = Number(opts.seconds);
if (!opts.page || !Number.isFinite(seconds) || seconds < 0) {
  emit({ event: 'error', message: 'need --page URL (watch.html#token=..&session=..) and --seconds N >= 0', status: null });
  process.exit(2);
}

const run = new DriverRun({ statusKey: 'status' });
// The limit grows once the number of levels is known (--switch-levels).
const startupSeconds = (LOAD_TIMEOUT_MS + PLAYING_TIMEOUT_MS) / 1000;
run.armTimeout(startupSeconds + (opts['switch-levels'] ? 0 : seconds) + SLACK_S);
let page = null;

const round = (x) => Math.round(x * 1000) / 1000;

/** One look at the player: state, clock, level. */
function sample() {
  return page.evaluate(() => {
    const cc = window.classcast;
    if (!cc) return null;
    const v = cc.video;
    return {
      state: cc.state,
      currentTime: v.currentTime,
      paused: v.paused,
      level: cc.hls ? cc.hls.currentLevel : null,
      videoHeight: v.videoHeight,
    };
  });
}

const droppedErrors = () => page.evaluate(() => [...(window.classcast?.errors ?? [])]);

function checkNotFailed(s) {
  if (s?.state === 'error') throw new Error('page reached state error');
}

async function waitPlaying() {
  const deadline = Date.now() + PLAYING_TIMEOUT_MS;
  let base = null;
  for (;;) {
    const s = await sample();
    checkNotFailed(s);
    if (s?.state === 'playing' && !s.paused) {
      if (base === null) base = s.currentTime;
      else if (s.currentTime - base > 1) return s;
    }
    if (Date.now() > deadline) {
      throw new Error(`not playing after ${PLAYING_TIMEOUT_MS / 1000} s (state ${s?.state}, currentTime ${round(s?.currentTime ?? 0)})`);
    }
    await sleep(POLL_MS);
  }
}

// Passes once hls.currentLevel reads n and playback went on SWITCH_ADVANCE_S from there.
// hls.js reports the switch as soon as the new level's fragment is appended, while Chromium
// shows its pictures only from the next keyframe, so the <video>'s own size can lag by up to
// a segment: it is waited for PICTURE_GRACE_MS more and reported, never required (a rung's
// RESOLUTION attribute may legitimately differ from its coded size).
async function switchTo(level) {
  await page.evaluate((n) => { window.classcast.hls.currentLevel = n; }, level.index);
  const deadline = Date.now() + SWITCH_TIMEOUT_MS;
  let base = null; // currentTime when hls.currentLevel first reads n (LEVEL_SWITCHED)
  let passedAt = null;
  for (;;) {
    const s = await sample();
    checkNotFailed(s);
    if (s.level === level.index) {
      if (base === null) base = s.currentTime;
      else if (passedAt === null && s.currentTime - base > SWITCH_ADVANCE_S) passedAt = Date.now();
      if (passedAt !== null && (s.videoHeight === level.height || Date.now() - passedAt > PICTURE_GRACE_MS)) {
        emit({ event: 'switched', level: level.index, height: level.height, advanced: round(s.currentTime - base), videoHeight: s.videoHeight });
        return;
      }
    }
    if (Date.now() > deadline) {
      const how = base === null ? `hls.currentLevel is still ${s.level}` : `played only ${round(s.currentTime - base)} s since the switch`;
      throw new Error(`level ${level.index} (${level.height}p): ${how} after ${SWITCH_TIMEOUT_MS / 1000} s`);
    }
    await sleep(POLL_MS);
  }
}

async function main() {
  page = await run.open(opts.page, { viewport: { width: 1280, height: 900 }, timeoutMs: LOAD_TIMEOUT_MS });
  await page.waitForFunction(() => !!window.classcast, null, { timeout: 5_000 })
    .catch(() => { throw new Error('the page did not set window.classcast'); });

  const playing = await waitPlaying();
  const levels = await page.evaluate(() => window.classcast.levels());
  emit({ event: 'playing', levels, currentTime: round(playing.currentTime) });

  if (opts['switch-levels']) {
    if (!levels.length) throw new Error('no levels to switch between (native HLS?)');
    run.armTimeout(levels.length * ((SWITCH_TIMEOUT_MS + PICTURE_GRACE_MS) / 1000) + SLACK_S);
    for (const level of [...levels].sort((a, b) => b.index - a.index)) await switchTo(level);
  } else {
    const t0 = playing.currentTime;
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      checkNotFailed(await sample());
    }
    const advanced = (await sample()).currentTime - t0;
    if (seconds >= 2 && advanced < 1) throw new Error(`playback stalled: currentTime advanced ${round(advanced)} s in ${seconds} s`);
  }

  if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
  const end = await sample();
  checkNotFailed(end);
  await run.finish(0, { event: 'done', currentTime: round(end.currentTime), droppedErrors: await droppedErrors() });
}

run.run(main);
