import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { applyCheckoutSession, processStripeEvent } from "~/lib/checkout.server";
import { onFulfill } from "~/lib/fulfillment.server";

import { db, schema } from "../support/db";
import { CHECKOUT_EVENT, sessionFor, storeCheckout, stripeEvent } from "../support/stripe-fixtures";

/**
 * The state machine enqueues `order.paid` in the transaction that first
 * records the payment: once however the news arrives, never for a payment
 * that rolled back or an order that is flagged. Runs on both databases.
 */

beforeEach(() => {
  vi.spyOn(console, "info").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});

const jobsOf = async (checkoutId: string) =>
  (
    await db
      .select()
      .from(schema.jobs)
      .where(eq(schema.jobs.key, `order.paid:${checkoutId}`))
  ).map((job) => ({
    kind: job.kind,
    state: job.state,
    payload: JSON.parse(job.payload) as unknown,
  }));

const deliver = (event: ReturnType<typeof stripeEvent>) =>
  processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });

describe("order.paid is enqueued by the state machine", () => {
  it("one paid checkout delivered 50 times at once (ten distinct events, each five times): one job", async () => {
    const checkout = await storeCheckout(db);
    const events = Array.from({ length: 10 }, () =>
      stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid")),
    );
    const results = await Promise.all(events.flatMap((event) => Array.from({ length: 5 }, () => deliver(event))));
    expect(results.filter((r) => r.fulfilled)).toHaveLength(1);
    expect(await jobsOf(checkout.id)).toEqual([
      { kind: "order.paid", state: "pending", payload: { checkoutId: checkout.id } },
    ]);
  });

  it("the success page and the webhook racing: one job", async () => {
    const checkout = await storeCheckout(db);
    const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
    await Promise.all([applyCheckoutSession(sessionFor(checkout, "paid")), deliver(event), deliver(event)]);
    expect(await jobsOf(checkout.id)).toHaveLength(1);
  });

  it("a payment whose transaction rolls back leaves no job; its redelivery leaves one", async () => {
    const checkout = await storeCheckout(db);
    const failOnce = onFulfill(() => {
      failOnce();
      throw new Error("grant table unavailable");
    });
    const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
    await expect(deliver(event)).rejects.toThrow("grant table unavailable");
    expect(await jobsOf(checkout.id)).toEqual([]);
    expect(await db.select().from(schema.stripeEvents).where(eq(schema.stripeEvents.id, event.id))).toEqual([]);

    expect(await deliver(event)).toMatchObject({ fulfilled: true });
    expect(await jobsOf(checkout.id)).toHaveLength(1);
  });

  it("no job for a flagged order (amount differs) nor for an unpaid completion", async () => {
    const flagged = await storeCheckout(db);
    await deliver(stripeEvent(CHECKOUT_EVENT.completed, sessionFor(flagged, "paid", { amount_subtotal: 1 })));
    const unpaid = await storeCheckout(db);
    await deliver(stripeEvent(CHECKOUT_EVENT.completed, sessionFor(unpaid, "unpaid")));
    expect(await jobsOf(flagged.id)).toEqual([]);
    expect(await jobsOf(unpaid.id)).toEqual([]);
  });
});
