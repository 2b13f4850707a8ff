import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";

import {
  buy,
  landOnSuccessPage,
  openOrders,
  orderRows,
  payWith,
  screenshot,
  see,
  SUCCESS,
  visibleNow,
} from "./support/pages";
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * The shopper is back before Stripe's webhook, or the webhook never comes:
 * the success page asks Stripe itself, so it is right on the first load, and
 * the late (or re-sent) webhook changes nothing: one fulfillment.
 */

const shop = shopPerFile();

describe.each([false, true])("late and missing webhooks in Chromium, JavaScript enabled: %s", (javaScript) => {
  const shopper = shopperPerTest(shop, { javaScript });

  /** Waits until the app has answered this event's delivery with 200 (it answers after committing). */
  async function answered(eventId: string) {
    await expect
      .poll(async () => (await shop.stripe.deliveries()).some((d) => d.eventId === eventId && d.status === 200), {
        timeout: 10_000,
      })
      .toBe(true);
  }

  async function completedEventOf(sessionId: string) {
    const events = await shop.eventsFor(sessionId);
    const completed = events.filter((e) => e.type === "checkout.session.completed");
    expect(completed).toHaveLength(1);
    return completed[0]!.id;
  }

  /** After the late event: the reloaded success page still says paid, and /orders lists the order once, paid. */
  async function stillPaidOnReloadAndOrders(page: Page, scenario: string, state: string) {
    await page.reload();
    await see(SUCCESS.paid(page), "that the order is still paid");
    await openOrders(page, shop);
    const orders = orderRows(page);
    await see(orders, "the order in the list");
    expect(await orders.count()).toBe(1);
    expect(await orders.getByRole("cell", { name: "Paid", exact: true }).count()).toBe(1);
    await screenshot(page, scenario, state, javaScript);
  }

  it("webhook delayed: the success page says paid on the first load; the late webhook changes nothing", async () => {
    await shop.stripe.delivery({ mode: "hold" });
    const { page } = shopper;
    const sessionId = await buy(page, shop);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);

    // Right on the first load: no refresh has happened yet, and no webhook has arrived.
    expect(await visibleNow(SUCCESS.paid(page))).toBe(true);
    expect(await shop.stripe.deliveries()).toEqual([]);
    await screenshot(page, "webhook-delayed", "1-paid-before-webhook", javaScript);
    expect(shop.fulfillments(sessionId)).toBe(1);
    const before = shop.stored(sessionId).checkout;
    expect(before).toMatchObject({ status: "complete", payment_status: "paid" });

    const eventId = await completedEventOf(sessionId);
    await shop.stripe.release();
    await answered(eventId);

    // The webhook was recorded, and changed nothing: one fulfillment, same time.
    expect(shop.stored(sessionId).eventIds).toContain(eventId);
    expect(shop.stored(sessionId).checkout).toEqual(before);
    expect(shop.fulfillments(sessionId)).toBe(1);

    await stillPaidOnReloadAndOrders(page, "webhook-delayed", "2-orders-after-webhook");
  });

  it("webhook dropped: the success page still ends paid; the later redelivery changes nothing", async () => {
    await shop.stripe.delivery({ mode: "drop" });
    const { page } = shopper;
    const sessionId = await buy(page, shop);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);

    await see(SUCCESS.paid(page), "that the order is paid, from the success page's own check");
    await screenshot(page, "webhook-dropped", "1-paid-without-webhook", javaScript);
    expect(await shop.stripe.deliveries()).toEqual([]);
    expect(shop.fulfillments(sessionId)).toBe(1);
    const before = shop.stored(sessionId);
    expect(before.checkout).toMatchObject({ status: "complete", payment_status: "paid" });

    // The Dashboard's "Resend", long after.
    const eventId = await completedEventOf(sessionId);
    expect(before.eventIds).not.toContain(eventId);
    await shop.stripe.redeliver(eventId);
    await answered(eventId);
    expect((await shop.stripe.deliveries()).map((d) => [d.eventId, d.status])).toEqual([[eventId, 200]]);

    const after = shop.stored(sessionId);
    expect(after.eventIds).toContain(eventId);
    expect(after.checkout).toEqual(before.checkout);
    expect(shop.fulfillments(sessionId)).toBe(1);

    await stillPaidOnReloadAndOrders(page, "webhook-dropped", "2-orders-after-redelivery");
  });
});
