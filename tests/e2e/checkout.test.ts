import { describe, expect, it } from "vitest";

import { newShopper, type Shopper } from "./support/browser";
import {
  buy,
  documentLoads,
  landOnSuccessPage,
  NOT_FOUND,
  openOrders,
  orderRows,
  payWith,
  pressBuy,
  PRODUCT,
  screenshot,
  see,
  SUCCESS,
} from "./support/pages";
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * A shopper in Chromium against the built app (`npm start`) and the Stripe
 * emulator: pays by card, goes back from the hosted page, has a card
 * declined, and cannot see someone else's order. Once with JavaScript off
 * (plain HTML forms and links) and once on (Remix's client navigation).
 */

const shop = shopPerFile();

describe.each([false, true])("checkout in Chromium, JavaScript enabled: %s", (javaScript) => {
  const shopper = shopperPerTest(shop, { javaScript });

  it("buy, pay by card, land on the success page that says paid; the order is on /orders", async () => {
    const { page } = shopper;
    const documents = documentLoads(page);
    await page.goto(`${shop.url}/`);
    await see(page.getByRole("status").filter({ hasText: "Payments are simulated" }), "the simulated-payments banner");
    await screenshot(page, "pay-by-card", "0-catalog", javaScript);
    await page.getByRole("link", { name: PRODUCT.name }).click();
    await page.waitForURL(`${shop.url}/products/${PRODUCT.slug}`);
    await see(page.getByRole("heading", { level: 1, name: PRODUCT.name }), "the product page");
    await screenshot(page, "pay-by-card", "1-product-page", javaScript);
    // With JavaScript on, Remix moves between the shop's pages without loading a new document.
    expect(documents.includes(`${shop.url}/products/${PRODUCT.slug}`)).toBe(!javaScript);

    const sessionId = await pressBuy(page, shop);
    await screenshot(page, "pay-by-card", "2-hosted-page", javaScript);

    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");
    await see(page.getByText(PRODUCT.name), "the product bought");
    await screenshot(page, "pay-by-card", "3-success-paid", javaScript);

    await openOrders(page, shop);
    const order = orderRows(page);
    await see(order, "the order in the list");
    expect(await order.count()).toBe(1);
    // Date, product, quantity, amount, state, (no subscription to manage).
    expect(await order.getByRole("cell").allInnerTexts()).toEqual([
      expect.any(String),
      PRODUCT.name,
      String(PRODUCT.quantity),
      PRODUCT.total,
      "Paid",
      "",
    ]);
    await screenshot(page, "pay-by-card", "4-orders", javaScript);
  });

  it("buy, go back from the hosted page: the product page says nothing was charged", async () => {
    const { page } = shopper;
    await buy(page, shop);
    await page.locator("#back").click();

    await page.waitForURL(`${shop.url}/products/${PRODUCT.slug}?canceled=1`);
    await see(page.getByRole("status").filter({ hasText: "Nothing was charged." }), "that nothing was charged");
    await see(page.getByRole("button", { name: "Buy" }), "the Buy button, to try again");
    await screenshot(page, "back-from-checkout", "product-page-canceled", javaScript);
  });

  it("card declined: the hosted page shows Stripe's message; then paid", async () => {
    const { page } = shopper;
    const sessionId = await buy(page, shop);

    await payWith(page, "declined");
    await see(page.getByRole("alert").filter({ hasText: "Your card was declined." }), "Stripe's decline message");
    expect(page.url()).toBe(`${shop.emulator.url}/c/pay/${sessionId}`);
    await screenshot(page, "card-declined", "1-declined", javaScript);

    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");
    await screenshot(page, "card-declined", "2-then-paid", javaScript);
  });

  it("a second browser opening the first one's success URL sees the 404 page", async () => {
    const { page } = shopper;
    const sessionId = await buy(page, shop);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");

    const stranger = await newShopper(shop.browser, { javaScript });
    try {
      const response = await stranger.page.goto(page.url());
      expect(response?.status()).toBe(404);
      await see(NOT_FOUND(stranger.page), "the 404 page");
      expect(await stranger.page.getByText(PRODUCT.name).count()).toBe(0);
      expect(await visibleNowAny(stranger)).toBe(false);
      await screenshot(stranger.page, "someone-elses-success-url", "404", javaScript);
      expect(stranger.problems, "errors in the second browser's console").toEqual([]);
    } finally {
      await stranger.context.close();
    }
  });
});

/** Whether the stranger's page shows any payment state at all. */
async function visibleNowAny({ page }: Shopper) {
  for (const state of [SUCCESS.paid, SUCCESS.processing, SUCCESS.failed]) {
    if ((await state(page).count()) > 0) return true;
  }
  return false;
}
