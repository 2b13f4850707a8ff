import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { launchBrowser, newShopper, type Shopper } from "./support/browser";
import { buy, landOnSuccessPage, payWith, screenshot, see, SUCCESS, visibleNow } from "./support/pages";
import { startShop, type Shop } from "./support/shop";

/**
 * A delayed payment method (a bank debit): Checkout completes at once but the
 * money arrives later. The success page says so and refreshes itself, with
 * JavaScript off too, until Stripe (the emulator) reports the outcome. The
 * test never reloads the page: it waits for the page to change by itself.
 */

// Long enough for a few self-refreshes; the wait ends as soon as the text changes.
const REFRESH_WAIT_MS = 30_000;

let browser: Browser;
let shop: Shop;

beforeAll(async () => {
  [browser, shop] = await Promise.all([launchBrowser(), startShop()]);
});

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
});

describe.each([false, true])("a delayed payment in Chromium, JavaScript enabled: %s", (javaScript) => {
  let shopper: Shopper;

  beforeEach(async ({ onTestFailed }) => {
    await shop.reset();
    shopper = await newShopper(browser, { javaScript });
    onTestFailed(() => console.log(shop.tail()));
  });

  afterEach(async () => {
    await shopper.context.close();
    expect(shopper.problems, "errors in the browser console").toEqual([]);
  });

  async function payByBankTransfer() {
    const { page } = shopper;
    const sessionId = await buy(page, shop);
    await payWith(page, "delayed");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.processing(page), "that the payment is processing");
    expect(await visibleNow(SUCCESS.paid(page))).toBe(false);
    return { page, sessionId, url: page.url() };
  }

  it("the success page says processing and refreshes itself until the bank's payment succeeds", async () => {
    const { page, sessionId, url } = await payByBankTransfer();
    await screenshot(page, "delayed-payment-succeeds", "1-processing", javaScript);
    expect(shop.fulfillments(sessionId)).toBe(0);

    await shop.stripe.asyncSucceed(sessionId);
    await see(SUCCESS.paid(page), "that the order is paid, without a reload by the test", REFRESH_WAIT_MS);
    expect(page.url()).toBe(url);
    expect(await visibleNow(SUCCESS.processing(page))).toBe(false);
    await screenshot(page, "delayed-payment-succeeds", "2-paid", javaScript);
    await expect.poll(() => shop.fulfillments(sessionId)).toBe(1);
  });

  it("the success page says processing and refreshes itself until the bank's payment fails", async () => {
    const { page, sessionId, url } = await payByBankTransfer();
    await screenshot(page, "delayed-payment-fails", "1-processing", javaScript);

    await shop.stripe.asyncFail(sessionId);
    await see(SUCCESS.failed(page), "that the payment failed, without a reload by the test", REFRESH_WAIT_MS);
    expect(page.url()).toBe(url);
    expect(await visibleNow(SUCCESS.paid(page))).toBe(false);
    await screenshot(page, "delayed-payment-fails", "2-failed", javaScript);
    expect(shop.fulfillments(sessionId)).toBe(0);
    expect(shop.stored(sessionId).checkout).toMatchObject({ payment_status: "failed", fulfilled_at: null });
  });
});
