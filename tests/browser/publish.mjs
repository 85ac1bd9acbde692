#!/usr/bin/env node
// Publishes Chromium's fake camera + microphone to classcast through player/publish.html.
//
//   node publish.mjs --page 'http://127.0.0.1:8080/player/publish.html#token=T&session=S' \
//                    --seconds 10 [--codec auto|h264|vp8] [--no-stop] [--screenshot out.png]
//
// stdout carries one JSON object per line:
//   {"event":"live","location":"...","ms_to_live":123}
//   {"event":"stats","video":{...},"audio":{...}}      once a second for --seconds
//   {"event":"stopped"}                                 after clicking Stop (not with --no-stop)
//   {"event":"error","message":"...","page_status":"..."}   then exit 1
//   {"event":"terminated","signal":"SIGTERM"}           on SIGTERM/SIGINT, then exit 0
// Page console errors go to stderr. Never runs longer than seconds + 60 s.
import { parseArgs } from 'node:util';
import { DriverRun, emit, sleep } from './lib.mjs';

const LIVE_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      page: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      codec: { type: 'string', default: 'auto' },
      'no-stop': { type: 'boolean', default: false },
      screenshot: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  emit({ event: 'error', message: e.message, page_status: null });
  process.exit(2);
}
if (opts.help) {
  process.stderr.write('usage: node publish.mjs --page URL [--seconds N] [--codec auto|h264|vp8] [--no-stop] [--screenshot FILE]\n');
  process.exit(0);
}
const seconds = Number(opts.seconds);
if (!opts.page || !Number.isFinite(seconds) || seconds < 0 || !['auto', 'h264', 'vp8'].includes(opts.codec)) {
  emit({ event: 'error', message: 'need --page URL, --seconds N >= 0, --codec auto|h264|vp8', page_status: null });
  process.exit(2);
}

const run = new DriverRun({ statusKey: 'page_status' });
run.armTimeout(seconds + 60);
let page = null;

const state = () => page.evaluate(() => window.classcast?.state ?? null);

async function main() {
  page = await run.open(opts.page, { viewport: { width: 1280, height: 800 } });
  await page.waitForFunction(() => window.classcast?.state === 'idle', null, { timeout: 10_000 });

  await page.selectOption('#codec', opts.codec);
  const t0 = Date.now();
  await page.click('#golive');
  await page.waitForFunction(() => ['live', 'error'].includes(window.classcast?.state), null, { timeout: LIVE_TIMEOUT_MS })
    .catch(() => { throw new Error(`not live after ${LIVE_TIMEOUT_MS / 1000} s`); });
  const live = await page.evaluate(() => ({ state: window.classcast.state, location: window.classcast.location }));
  if (live.state !== 'live') throw new Error('page reached state error');
  emit({ event: 'live', location: live.location, ms_to_live: Date.now() - t0 });

  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    if (await state() !== 'live') throw new Error(`page left state live (now ${await state()})`);
    const stats = await page.evaluate(() => window.classcast.stats());
    emit({ event: 'stats', ...stats });
  }

  if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });

  if (!opts['no-stop']) {
    await page.click('#stop');
    await page.waitForFunction(() => window.classcast?.state === 'stopped', null, { timeout: STOP_TIMEOUT_MS })
      .catch(() => { throw new Error(`not stopped after ${STOP_TIMEOUT_MS / 1000} s`); });
    emit({ event: 'stopped' });
  }
  await run.finish(0);
}

run.run(main);
