// Shared helpers for the web app's browser tests: one Chromium per test file,
// one context per person (instructor, each student), console errors caught,
// an accessibility scan (axe-core from npm) and screenshots for the README.
//
// A scenario prints JSON lines ({"event": ...}) and exits 0 on success; the
// Rust test that starts it (tests/web_*_media.rs) reads them, as for the other
// drivers in tests/browser.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, emit } from '../lib.mjs';

export { emit, sleep } from '../lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Where screenshots go: docs/screenshots/ unless SCREENSHOTS_DIR says. */
export const SCREENSHOTS = process.env.SCREENSHOTS_DIR || join(repo, 'docs/screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const TABLET = { width: 768, height: 1024 };

/** `--name value` pairs from the command line. */
export function flags() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

/**
 * A browser for the whole file. `run(main)` launches it, runs `main(browser)`,
 * closes it, and exits: 0, or 1 with an `error` line. Page console errors
 * collected by `person` fail the run unless the scenario expects them.
 */
export function run(main, { timeoutS = 240 } = {}) {
  let browser = null;
  const timer = setTimeout(() => fail(new Error(`global timeout after ${timeoutS} s`)), timeoutS * 1000);
  const fail = async (e) => {
    emit({ event: 'error', message: String(e?.stack || e) });
    await browser?.close().catch(() => {});
    process.exit(1);
  };
  (async () => {
    browser = await launchChromium();
    await main(browser);
    clearTimeout(timer);
    await browser.close().catch(() => {});
    emit({ event: 'done' });
    process.exit(0);
  })().catch(fail);
}

/**
 * One person: a context of their own (storage, permissions) and a page.
 * `consoleErrors` collects what the page wrote to console.error or threw.
 */
export async function person(browser, name, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  // Which request a "Failed to load resource" was (the console does not say).
  const failedRequests = [];
  page.on('response', (res) => {
    if (res.status() >= 400) failedRequests.push(`${res.status()} ${res.request().method()} ${new URL(res.url()).pathname}`);
  });
  return { name, context, page, consoleErrors, failedRequests };
}

/** Fails when the page logged errors (CSP refusals show up here too). */
export function assertNoConsoleErrors(who, { allow = [] } = {}) {
  const errors = who.consoleErrors.filter((e) => !allow.some((re) => re.test(e)));
  if (errors.length) {
    const requests = who.failedRequests.length ? ` (failed requests: ${who.failedRequests.join(', ')})` : '';
    throw new Error(`${who.name}'s page logged errors: ${errors.join(' | ')}${requests}`);
  }
}

/**
 * axe-core over the page as it is; fails on serious or critical violations.
 * Injected with evaluate (DevTools), which the page's CSP does not govern.
 */
export async function assertAccessible(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  emit({ event: 'axe', page: label, violations: result.length, serious: bad.length });
  if (bad.length) throw new Error(`${label}: accessibility violations ${JSON.stringify(bad)}`);
}

/** A screenshot named `{name}-{width}.png` for the README. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const { width } = page.viewportSize();
  const path = join(SCREENSHOTS, `${name}-${width}.png`);
  await page.screenshot({ path });
  emit({ event: 'screenshot', path });
}

/** Polls `fn` in node until it returns truthy; its last value otherwise throws. */
export async function eventually(what, fn, { timeoutMs = 10_000, everyMs = 200 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${last?.message ?? JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
