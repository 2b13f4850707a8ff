import { describe, expect, it } from "vitest";

import { landOnSuccessPage, openOrders, orderRows, payWith, PRODUCT, see, SUCCESS } from "./support/pages";
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * Buy now with Checkout's options on: the shopper enters the emulator's
 * promotion code, a shipping address and the express rate on the hosted page,
 * pays, and the success page and /orders show Stripe's subtotal, discount,
 * shipping, tax and total. Once with JavaScript off and once on.
 */

const shop = shopPerFile({
  env: {
    CHECKOUT_PROMOTION_CODES: "on",
    CHECKOUT_AUTOMATIC_TAX: "on",
    CHECKOUT_SHIPPING_COUNTRIES: "US,CA",
    CHECKOUT_SHIPPING_RATES: "shr_emulator_standard,shr_emulator_express",
  },
});

// 2 × $32.00, WELCOME10 (10% off), 8% tax on $57.60, express shipping $15.00.
const TOTALS = { Subtotal: "$64.00", Discount: "-$6.40", Shipping: "$15.00", Tax: "$4.61", Total: "$77.21" };

describe.each([false, true])(
  "Buy now with a promotion code and a shipping rate, JavaScript enabled: %s",
  (javaScript) => {
    const shopper = shopperPerTest(shop, { javaScript });

    it("the hosted page takes the code and the rate; the success page and /orders show the totals", async () => {
      const { page } = shopper;
      await page.goto(`${shop.url}/products/${PRODUCT.slug}`);
      await page.getByLabel("Quantity").fill(String(PRODUCT.quantity));
      await page.getByRole("button", { name: "Buy" }).click();
      await page.waitForURL(/\/c\/pay\/cs_test_/);
      const sessionId = page.url().split("/").pop()!;
      // Standard shipping is preselected: $64.00 + $5.00 + 8% tax on $64.00.
      await see(page.getByText("Total: $74.12"), "the hosted page's total with standard shipping and tax");

      await page.getByLabel(/Promotion code/).fill("WELCOME10");
      await page.getByLabel(/Express shipping/).check();
      await page.getByRole("button", { name: "Apply" }).click();
      await see(page.getByText(`Total: ${TOTALS.Total}`), "the hosted page's total with the code and express shipping");

      await page.getByLabel("Name").fill("Ada Lovelace");
      await page.getByLabel("Address", { exact: true }).fill("12 Analytical Row");
      await page.getByLabel("City").fill("Toronto");
      await page.getByLabel("Postal code", { exact: true }).fill("M5V 2T6");
      await page.getByLabel("Country").selectOption("CA");
      await payWith(page, "card");
      await landOnSuccessPage(page, shop, sessionId);
      await see(SUCCESS.paid(page), "that the order is paid");

      const totals = page.locator(".order-totals");
      for (const [label, amount] of Object.entries(TOTALS)) {
        await see(
          totals.locator("div").filter({ hasText: label }).getByText(amount, { exact: true }),
          `${label} ${amount}`,
        );
      }

      await openOrders(page, shop);
      const row = orderRows(page);
      expect(await row.count()).toBe(1);
      for (const [label, amount] of Object.entries(TOTALS)) {
        await see(
          row.locator(".order-totals div").filter({ hasText: label }).getByText(amount, { exact: true }),
          `${label} on /orders`,
        );
      }
    });
  },
);
