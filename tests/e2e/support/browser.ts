import { existsSync } from "node:fs";

import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/**
 * Debian's Chromium driven by playwright-core (`npx playwright install`
 * cannot download here, and CI installs Chromium from Debian). One browser per
 * test file, one fresh context (a new shopper: no cookies) per test.
 */

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium was not found at ${CHROMIUM_PATH}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH. ` +
        "`npm test` skips the browser tests on such a machine; `vitest --project e2e` does not.",
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export type Shopper = {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions and console errors the pages reported (none expected). */
  problems: string[];
};

/** A new shopper: a fresh context (no cookies) with JavaScript on or off, and one page. */
export async function newShopper(browser: Browser, { javaScript }: { javaScript: boolean }): Promise<Shopper> {
  const context = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1000, height: 800 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  context.on("weberror", (error) => problems.push(`uncaught: ${error.error().message}`));
  context.on("console", (message) => {
    // A document answered with 404 on purpose logs "Failed to load resource"; the tests check the status themselves.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      problems.push(`console.error on ${message.page()?.url() ?? "?"}: ${message.text()}`);
    }
  });
  return { context, page, problems };
}
