import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, headless, with the flags DEVELOPERS.md gives (nothing is downloaded). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Where tests leave screenshots for people to look at. */
export const ARTIFACTS = 'test-artifacts';
