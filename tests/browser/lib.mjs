// Shared helpers for the browser tests: Debian's chromium driven by playwright-core.
// playwright-core never downloads a browser; CHROMIUM overrides the binary path.
import { chromium } from 'playwright-core';

// No background traffic: the machine has no network beyond loopback.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * Launches headless chromium.
 * @param {{ args?: string[], secureOrigins?: string[] }} [opts]
 *   args: extra command-line flags;
 *   secureOrigins: plain-http origins to treat as secure (getUserMedia needs a
 *   secure context; loopback origins already are one).
 */
export async function launchChromium(opts = {}) {
  const args = [...CHROMIUM_ARGS, ...(opts.args ?? [])];
  if (opts.secureOrigins?.length) {
    args.push(`--unsafely-treat-insecure-origin-as-secure=${opts.secureOrigins.join(',')}`);
  }
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args,
  });
}

/** True when the URL's host is a loopback address (already a secure context). */
export function isLoopback(url) {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One JSON object per line on stdout: the drivers' whole interface. */
export const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

/**
 * One driver run: owns the browser and the page, ends the process exactly once
 * (on success, failure, global timeout or SIGTERM/SIGINT), and reports a failure
 * as one `error` line carrying the page's `#status` text under `statusKey`.
 */
export class DriverRun {
  constructor({ statusKey = 'status', closeTimeoutMs = 5_000 } = {}) {
    this.statusKey = statusKey;
    this.closeTimeoutMs = closeTimeoutMs;
    this.browser = null;
    this.page = null;
    this.finishing = false;
    this.timer = null;
    for (const sig of ['SIGTERM', 'SIGINT']) {
      process.on(sig, () => this.finish(0, { event: 'terminated', signal: sig }));
    }
  }

  /** (Re)arms the limit on the whole run. */
  armTimeout(seconds) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fail(`global timeout after ${seconds} s`), seconds * 1000);
  }

  /** Launches chromium and loads `url`, forwarding page errors to stderr. */
  async open(url, { viewport, timeoutMs = 15_000 } = {}) {
    const origin = new URL(url).origin;
    this.browser = await launchChromium({ secureOrigins: isLoopback(url) ? [] : [origin] });
    const context = await this.browser.newContext({ viewport });
    const page = await context.newPage();
    this.page = page;
    page.on('console', (msg) => {
      if (msg.type() === 'error') process.stderr.write(`[page console.error] ${msg.text()}\n`);
    });
    page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
    const resp = await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
    if (resp && !resp.ok()) throw new Error(`loading the page answered HTTP ${resp.status()}`);
    return page;
  }

  async closeBrowser() {
    if (!this.browser) return;
    const b = this.browser;
    this.browser = null;
    // Playwright kills the browser process when node exits, so a stuck close is bounded.
    await Promise.race([b.close().catch(() => {}), sleep(this.closeTimeoutMs)]);
  }

  async pageStatus() {
    if (!this.page) return null;
    try {
      return await Promise.race([
        this.page.locator('#status').textContent({ timeout: 2000 }),
        sleep(2500).then(() => null),
      ]);
    } catch {
      return null;
    }
  }

  async finish(code, line) {
    if (this.finishing) return;
    this.finishing = true;
    clearTimeout(this.timer);
    if (line) emit(line);
    await this.closeBrowser();
    process.exit(code);
  }

  async fail(message) {
    if (this.finishing) return;
    const status = await this.pageStatus();
    const lastError = this.page
      ? await this.page.evaluate(() => window.classcast?.lastError ?? null).catch(() => null)
      : null;
    const text = lastError && !message.includes(lastError) ? `${message}: ${lastError}` : message;
    await this.finish(1, { event: 'error', message: text, [this.statusKey]: status });
  }

  /** Runs `main`; anything it throws becomes the error line. */
  run(main) {
    main().catch((e) => this.fail((e?.message || String(e)).split('\n')[0]));
  }
}
