import { describe, expect, it } from "vitest";

import { landOnSuccessPage, openOrders, orderRows, payWith, PRODUCT, pressBuy, see, SUCCESS } from "./support/pages";
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * A shopper pays, the shop refunds part of it (through the emulator, which
 * sends Stripe's charge.refunded to the webhook), and /orders says how much
 * came back. Once with JavaScript off and once on.
 */

const shop = shopPerFile();

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
});
