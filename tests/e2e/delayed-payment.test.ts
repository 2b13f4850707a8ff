import type { Page } from "playwright-core";
import { describe, it, type ExpectStatic } from "vitest";

import { newShopper } from "./support/browser";
import { buy, landOnSuccessPage, payWith, screenshot, see, SUCCESS, visibleNow } from "./support/pages";
import { shopPerFile } from "./support/scaffold";

/**
 * A delayed payment method (a bank debit): Checkout completes at once but the
 * money arrives later. The success page says so and refreshes itself, with
 * JavaScript off too, until Stripe (the emulator) reports the outcome. The
 * test never reloads the page: it waits for the page to change by itself.
 *
 * These tests mostly wait for the page's own refresh, and touch only their
 * own checkout (no emulator switches), so they run at the same time, each in
 * its own browser context.
 */

// Long enough for a few self-refreshes; the wait ends as soon as the text changes.
const REFRESH_WAIT_MS = 40_000;

const shop = shopPerFile();

type Context = { expect: ExpectStatic; onTestFailed: (fn: () => void) => void };

/**
 * As a new shopper: buys, pays by bank transfer and sees the page say it is
 * processing, then does `then`; closes the browser context and checks its
 * console. A failing test prints the processes' last lines.
 */
async function afterBankTransfer(
  javaScript: boolean,
  { expect, onTestFailed }: Context,
  then: (paying: { page: Page; sessionId: string; url: string }) => Promise<void>,
) {
  onTestFailed(() => console.log(shop.tail()));
  const { page, context, problems } = await newShopper(shop.browser, { javaScript });
  try {
    const sessionId = await buy(page, shop);
    await payWith(page, "delayed");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.processing(page), "that the payment is processing");
    expect(await visibleNow(SUCCESS.paid(page))).toBe(false);
    await then({ page, sessionId, url: page.url() });
  } finally {
    await context.close();
  }
  expect(problems, "errors in the browser console").toEqual([]);
}

describe.concurrent("a delayed payment in Chromium", () => {
  describe.each([false, true])("JavaScript enabled: %s", (javaScript) => {
    it("the success page says processing and refreshes itself until the bank's payment succeeds", (test) =>
      afterBankTransfer(javaScript, test, async ({ page, sessionId, url }) => {
        const { expect } = test;
        await screenshot(page, "delayed-payment-succeeds", "1-processing", javaScript);
        expect(shop.fulfillments(sessionId)).toBe(0);

        await shop.stripe.asyncSucceed(sessionId);
        await see(SUCCESS.paid(page), "that the order is paid, without a reload by the test", REFRESH_WAIT_MS);
        expect(page.url()).toBe(url);
        expect(await visibleNow(SUCCESS.processing(page))).toBe(false);
        await screenshot(page, "delayed-payment-succeeds", "2-paid", javaScript);
        await expect.poll(() => shop.fulfillments(sessionId)).toBe(1);
      }));

    it("the success page says processing and refreshes itself until the bank's payment fails", (test) =>
      afterBankTransfer(javaScript, test, async ({ page, sessionId, url }) => {
        const { expect } = test;
        await screenshot(page, "delayed-payment-fails", "1-processing", javaScript);

        await shop.stripe.asyncFail(sessionId);
        await see(SUCCESS.failed(page), "that the payment failed, without a reload by the test", REFRESH_WAIT_MS);
        expect(page.url()).toBe(url);
        expect(await visibleNow(SUCCESS.paid(page))).toBe(false);
        await screenshot(page, "delayed-payment-fails", "2-failed", javaScript);
        expect(shop.fulfillments(sessionId)).toBe(0);
        expect(shop.stored(sessionId).checkout).toMatchObject({ payment_status: "failed", fulfilled_at: null });
      }));
  });
});
