import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, expect } from "vitest";

import { launchBrowser, newShopper, type Shopper } from "./browser";
import { startShop, type Shop } from "./shop";

/**
 * The lifecycle every browser test file shares. The objects returned are
 * filled in by the hooks, so a test file holds them from its top level:
 *
 *   const shop = shopPerFile();                                  // one browser and one shop per file
 *   const shopper = shopperPerTest(shop, { javaScript: true });  // a new shopper per test
 */

export type BrowserShop = Shop & { browser: Browser };

/** Starts Chromium and the shop (built app and emulator) before the file's tests, stops both after them. */
export function shopPerFile(options: { env?: Record<string, string> } = {}): BrowserShop {
  const shop = {} as BrowserShop;
  beforeAll(async () => {
    const [browser, started] = await Promise.allSettled([launchBrowser(), startShop(options)]);
    if (browser.status === "fulfilled") shop.browser = browser.value;
    if (started.status === "fulfilled") Object.assign(shop, started.value);
    if (browser.status === "rejected") throw browser.reason;
    if (started.status === "rejected") throw started.reason;
  });
  afterAll(async () => {
    await shop.browser?.close();
    await shop.stop?.();
  });
  return shop;
}

/**
 * Before each test: the emulator forgets the last test's checkouts, a new
 * shopper (fresh context, no cookies) opens a page, and a failing test prints
 * the processes' last lines. After it: the context closes and the browser
 * console must have had no errors.
 */
export function shopperPerTest(shop: BrowserShop, { javaScript }: { javaScript: boolean }): Shopper {
  const shopper = {} as Shopper;
  beforeEach(async ({ onTestFailed }) => {
    await shop.reset();
    Object.assign(shopper, await newShopper(shop.browser, { javaScript }));
    onTestFailed(() => console.log(shop.tail()));
  });
  afterEach(async () => {
    await shopper.context.close();
    expect(shopper.problems, "errors in the browser console").toEqual([]);
  });
  return shopper;
}
