import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";

import { landOnSuccessPage, openOrders, orderRows, payWith, PRODUCT, pressBuy, see, SUCCESS } from "./support/pages";
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * A shopper pays, the shop refunds part of it (through the emulator, which
 * sends Stripe's charge.refunded to the webhook), and /orders says how much
 * came back; a pending refund is said pending until it settles. Once with
 * JavaScript off and once on.
 */

const shop = shopPerFile();

/** The webhook lands on its own time: the shopper reloads /orders until a cell says `text` (at most 10 s). */
async function reloadUntil(page: Page, text: string, what: string) {
  const cell = orderRows(page).getByRole("cell", { name: text, exact: true });
  for (let i = 0; i < 50 && (await cell.count()) === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await page.reload();
  }
  await see(cell, what);
}

describe.each([false, true])("a partial refund in Chromium, JavaScript enabled: %s", (javaScript) => {
  const shopper = shopperPerTest(shop, { javaScript });

  it("pay, refund $12.00 of it: /orders says Refunded $12.00 of $64.00", async () => {
    const { page } = shopper;
    await page.goto(`${shop.url}/products/${PRODUCT.slug}`);
    const sessionId = await pressBuy(page, shop);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");

    await shop.stripe.refund(sessionId, { amount: 1200 });
    await openOrders(page, shop);
    const refunded = orderRows(page).getByRole("cell", { name: `Refunded $12.00 of ${PRODUCT.total}`, exact: true });
    // The webhook lands on its own time: the shopper reloads the page until it says so (at most 10 s).
    for (let i = 0; i < 50 && (await refunded.count()) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await page.reload();
    }
    await see(refunded, "the refunded amount on /orders");
    expect(await orderRows(page).count()).toBe(1);
  });

  it("pay, refund $12.00 pending, then settled: /orders says Refund pending, then Refunded", async () => {
    const { page } = shopper;
    await page.goto(`${shop.url}/products/${PRODUCT.slug}`);
    const sessionId = await pressBuy(page, shop);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");

    const refund = await shop.stripe.refund(sessionId, { amount: 1200, pending: true });
    await openOrders(page, shop);
    await reloadUntil(page, `Refund pending: $12.00 of ${PRODUCT.total}`, "the pending refund on /orders");
    await shop.stripe.settleRefund(refund.id);
    await reloadUntil(page, `Refunded $12.00 of ${PRODUCT.total}`, "the settled refund on /orders");
  });
});
