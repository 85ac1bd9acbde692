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
