import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { applyCheckoutSession, getCheckout, processStripeEvent } from "~/lib/checkout.server";
import { db, schema } from "../support/db";
import { onFulfill, type FulfillmentHook } from "~/lib/fulfillment.server";

import {
  CHECKOUT_EVENT,
  nowSeconds,
  sessionFor,
  storeCheckout,
  stripeEvent,
  subscriptionObject,
  type StoredCheckout,
} from "../support/stripe-fixtures";

/**
 * The one state machine, called as the webhook calls it (processStripeEvent)
 * and as the success page and reconcile command call it (applyCheckoutSession,
 * with a session just retrieved from Stripe), in the orders the news can come.
 */

const fulfilled = new Map<string, number>();
let unhook: () => void;
let warnings: string[];

const count: FulfillmentHook = (_tx, checkout) =>
  void fulfilled.set(checkout.id, (fulfilled.get(checkout.id) ?? 0) + 1);

beforeEach(async () => {
  fulfilled.clear();
  unhook = onFulfill(count);
  warnings = [];
  vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warnings.push(args.join(" ")));
  vi.spyOn(console, "info").mockImplementation(() => {});
});
afterEach(async () => unhook());

const row = async (id: string) => (await getCheckout(id))!;
const eventRow = async (id: string) =>
  (await db.select().from(schema.stripeEvents).where(eq(schema.stripeEvents.id, id)))[0];
const shopper = async (id: string) => (await db.select().from(schema.shoppers).where(eq(schema.shoppers.id, id)))[0]!;

function webhook(type: string, object: object, created?: number) {
  const event = stripeEvent(type, object, created === undefined ? {} : { created });
  return { event, result: processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" }) };
}

const completed = (checkout: StoredCheckout, state: "paid" | "unpaid" | "no_payment_required" = "paid") =>
  webhook(CHECKOUT_EVENT.completed, sessionFor(checkout, state)).result;

describe("the success page and the webhook, interleaved", () => {
  it("completed by webhook, then retrieved by the success page: one fulfillment", async () => {
    const checkout = await storeCheckout(db);
    expect(await completed(checkout)).toMatchObject({
      duplicate: false,
      checkoutId: checkout.id,
      changed: true,
      fulfilled: true,
      flag: null,
    });
    expect(await applyCheckoutSession(sessionFor(checkout, "paid"))).toEqual({
      duplicate: false,
      checkoutId: checkout.id,
      changed: false,
      fulfilled: false,
      flag: null,
      jobs: [],
    });
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect((await row(checkout.id)).fulfilledAt).toEqual(expect.any(Number));
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("retrieved paid before any webhook, then the webhook: one fulfillment, by the success page", async () => {
    const checkout = await storeCheckout(db);
    expect(await applyCheckoutSession(sessionFor(checkout, "paid"))).toMatchObject({ fulfilled: true, changed: true });
    const fulfilledAt = (await row(checkout.id)).fulfilledAt;
    expect(await completed(checkout)).toMatchObject({ duplicate: false, fulfilled: false, changed: false });
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid", fulfilledAt });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("retrieved while still open changes nothing", async () => {
    const checkout = await storeCheckout(db);
    expect(await applyCheckoutSession(sessionFor(checkout, "open"))).toMatchObject({
      changed: false,
      fulfilled: false,
    });
    expect(await row(checkout.id)).toMatchObject({ status: "open", paymentStatus: "unpaid", fulfilledAt: null });
  });

  it("a delayed payment: retrieved complete and unpaid, then async success, then retrieved paid: one fulfillment", async () => {
    const checkout = await storeCheckout(db);
    expect(await applyCheckoutSession(sessionFor(checkout, "unpaid"))).toMatchObject({
      changed: true,
      fulfilled: false,
    });
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "unpaid", fulfilledAt: null });
    expect(await webhook(CHECKOUT_EVENT.asyncSucceeded, sessionFor(checkout, "paid")).result).toMatchObject({
      fulfilled: true,
    });
    expect(await applyCheckoutSession(sessionFor(checkout, "paid"))).toMatchObject({
      changed: false,
      fulfilled: false,
    });
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("async success before completed (and before the shopper's return): complete, paid, one fulfillment", async () => {
    const checkout = await storeCheckout(db);
    await webhook(CHECKOUT_EVENT.asyncSucceeded, sessionFor(checkout, "paid")).result;
    await completed(checkout, "unpaid");
    await applyCheckoutSession(sessionFor(checkout, "unpaid"));
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("async failure, then the success page retrieves complete/unpaid: stays failed, never fulfilled", async () => {
    const checkout = await storeCheckout(db);
    await completed(checkout, "unpaid");
    await webhook(CHECKOUT_EVENT.asyncFailed, sessionFor(checkout, "unpaid")).result;
    await applyCheckoutSession(sessionFor(checkout, "unpaid"));
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "failed", fulfilledAt: null });
    expect(fulfilled.has(checkout.id)).toBe(false);
  });

  it("expired retrieved or delivered after paid: stays complete and paid", async () => {
    const checkout = await storeCheckout(db);
    await completed(checkout);
    await applyCheckoutSession(sessionFor(checkout, "expired"));
    await webhook(CHECKOUT_EVENT.expired, sessionFor(checkout, "expired")).result;
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("completed after expired (a stale event) does not reopen or pay an expired checkout", async () => {
    const checkout = await storeCheckout(db);
    await webhook(CHECKOUT_EVENT.expired, sessionFor(checkout, "expired")).result;
    await completed(checkout);
    await applyCheckoutSession(sessionFor(checkout, "paid"));
    expect(await row(checkout.id)).toMatchObject({ status: "expired", paymentStatus: "unpaid", fulfilledAt: null });
    expect(fulfilled.has(checkout.id)).toBe(false);
  });

  it("a session the shop did not create: nothing stored for it, whoever asks", async () => {
    const before = (await db.select().from(schema.checkoutSessions)).length;
    const foreign = sessionFor(await storeCheckout(db), "paid", {
      id: "cs_test_paymentlink000001",
      payment_link: "plink_123",
    });
    expect(await applyCheckoutSession(foreign)).toEqual({
      duplicate: false,
      checkoutId: null,
      changed: false,
      fulfilled: false,
      flag: null,
      jobs: [],
    });
    expect(await db.select().from(schema.checkoutSessions)).toHaveLength(before + 1);
    expect(await getCheckout("cs_test_paymentlink000001")).toBeUndefined();
  });

  it("a hook that throws rolls the success page's apply back; the next call fulfills once", async () => {
    const checkout = await storeCheckout(db);
    // The failing hook runs first, as a shop's would before the test's counter.
    unhook();
    const failOnce = onFulfill(() => {
      failOnce();
      throw new Error("mail outbox unavailable");
    });
    unhook = onFulfill(count);
    await expect(applyCheckoutSession(sessionFor(checkout, "paid"))).rejects.toThrow("mail outbox unavailable");
    expect(await row(checkout.id)).toMatchObject({
      status: "open",
      paymentStatus: "unpaid",
      fulfilledAt: null,
      stripeCustomerId: null,
    });
    expect(await applyCheckoutSession(sessionFor(checkout, "paid"))).toMatchObject({ fulfilled: true });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });
});

describe("events", () => {
  it("an odd shape in a signed event (an object where an id belongs, a string amount) is stored and flagged, never thrown", async () => {
    const checkout = await storeCheckout(db);
    const odd = {
      ...sessionFor(checkout, "paid"),
      customer: { unexpected: true },
      payment_intent: 42,
      amount_total: "2500",
    } as unknown as Stripe.Checkout.Session;
    const { event, result } = webhook(CHECKOUT_EVENT.completed, odd);
    expect(await result).toMatchObject({ duplicate: false, fulfilled: false, flag: "amount_missing" });
    expect(await eventRow(event.id)).toMatchObject({ type: CHECKOUT_EVENT.completed });
    expect(await row(checkout.id)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      flag: "amount_missing",
      stripeCustomerId: null,
      paymentIntentId: null,
      fulfilledAt: null,
    });
    expect(fulfilled.get(checkout.id)).toBeUndefined();
  });

  it("records each event once, with its raw payload; a repeat is a duplicate and changes nothing", async () => {
    const checkout = await storeCheckout(db);
    const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
    const payload = JSON.stringify(event, null, 2);
    expect(await processStripeEvent(event, { payload })).toMatchObject({ duplicate: false, fulfilled: true });
    expect(await processStripeEvent(event, { payload })).toEqual({
      duplicate: true,
      checkoutId: null,
      changed: false,
      fulfilled: false,
      flag: null,
      jobs: [],
    });
    expect(await eventRow(event.id)).toMatchObject({
      type: "checkout.session.completed",
      created: event.created,
      livemode: false,
      payload,
      source: "webhook",
    });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it.each(["invoice.paid", "charge.refunded", "constructor", "__proto__", "toString"])(
    "records an event of type %s and changes nothing",
    async (type) => {
      const checkout = await storeCheckout(db);
      const { event, result } = webhook(type, sessionFor(checkout, "paid"));
      expect(await result).toMatchObject({ duplicate: false, changed: false, fulfilled: false });
      expect(await eventRow(event.id)).toMatchObject({ type });
      expect(await row(checkout.id)).toMatchObject({ status: "open", paymentStatus: "unpaid", fulfilledAt: null });
    },
  );

  it("a checkout that needs no payment is fulfilled when it completes", async () => {
    const checkout = await storeCheckout(db, { amountTotal: 0 });
    await completed(checkout, "no_payment_required");
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "no_payment_required" });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("nothing undoes paid: a late async failure leaves it paid", async () => {
    const checkout = await storeCheckout(db);
    await completed(checkout, "unpaid");
    await webhook(CHECKOUT_EVENT.asyncSucceeded, sessionFor(checkout, "paid")).result;
    await webhook(CHECKOUT_EVENT.asyncFailed, sessionFor(checkout, "unpaid")).result;
    expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });
});

describe("what the shop did not ask for is recorded, not fulfilled", () => {
  it.each([
    ["subtotal", { amount_subtotal: 1 }, "amount_mismatch"],
    ["currency", { currency: "jpy" }, "currency_mismatch"],
    ["livemode", { livemode: true }, "livemode_mismatch"],
    ["mode", { mode: "subscription" }, "mode_mismatch"],
    ["shopper", { client_reference_id: "someone-else" }, "shopper_mismatch"],
  ] as const)("a completed session whose %s differs", async (_what, overrides, flag) => {
    const checkout = await storeCheckout(db);
    const { event, result } = webhook(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid", overrides));
    expect(await result).toMatchObject({ checkoutId: checkout.id, fulfilled: false, flag });
    expect(await eventRow(event.id)).toBeDefined();
    expect(await row(checkout.id)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      flag,
      fulfilledAt: null,
    });
    expect(warnings).toContainEqual(
      expect.stringContaining(`${flag} session=${checkout.id} shopper=${checkout.shopperId}`),
    );
    // The flag stays: a later, matching event does not fulfill it either.
    await webhook(CHECKOUT_EVENT.asyncSucceeded, sessionFor(checkout, "paid")).result;
    expect((await row(checkout.id)).fulfilledAt).toBeNull();
    expect((await shopper(checkout.shopperId)).stripeCustomerId).toBeNull();
    expect(fulfilled.has(checkout.id)).toBe(false);
  });

  it("a promotion code, tax and shipping change the total, not the subtotal: stored, not flagged, fulfilled once", async () => {
    const checkout = await storeCheckout(db, { quantity: 2 });
    const subtotal = checkout.amountSubtotal!;
    const discount = subtotal / 10;
    const tax = Math.round((subtotal - discount) * 0.08);
    const session = sessionFor(checkout, "paid", {
      amount_total: subtotal - discount + tax + 500,
      total_details: { amount_discount: discount, amount_shipping: 500, amount_tax: tax },
    });
    expect(await webhook(CHECKOUT_EVENT.completed, session).result).toMatchObject({ fulfilled: true, flag: null });
    expect(await row(checkout.id)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      flag: null,
      amountSubtotal: subtotal,
      amountDiscount: discount,
      amountTax: tax,
      amountShipping: 500,
      amountTotal: subtotal - discount + tax + 500,
    });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("a subtotal other than the shop's is flagged even when the total matches what the shop asked", async () => {
    const checkout = await storeCheckout(db);
    const session = sessionFor(checkout, "paid", {
      amount_subtotal: checkout.amountSubtotal! - 100,
      amount_total: checkout.amountSubtotal!,
    });
    expect(await webhook(CHECKOUT_EVENT.completed, session).result).toMatchObject({
      fulfilled: false,
      flag: "amount_mismatch",
    });
    // What the shop asked for stays beside what Stripe charged.
    expect(await row(checkout.id)).toMatchObject({
      flag: "amount_mismatch",
      amountSubtotal: checkout.amountSubtotal,
      amountTotal: checkout.amountSubtotal,
      fulfilledAt: null,
    });
  });

  it("a payment link's session: event recorded, no checkout, a warning with its ids", async () => {
    const session = sessionFor(await storeCheckout(db), "paid", {
      id: "cs_test_fromapaymentlink01",
      payment_link: "plink_1Abc",
      client_reference_id: null,
    });
    const { event, result } = webhook(CHECKOUT_EVENT.completed, session);
    expect(await result).toMatchObject({ checkoutId: null, fulfilled: false });
    expect(await eventRow(event.id)).toBeDefined();
    expect(await getCheckout(session.id)).toBeUndefined();
    expect(warnings).toContainEqual(
      expect.stringMatching(/session=cs_test_fromapaymentlink01 .*payment_link=plink_1Abc/),
    );
  });
});

describe("the shopper's Stripe customer", () => {
  it("is stored on first completion and not replaced by a later one", async () => {
    const first = await storeCheckout(db);
    await completed(first);
    const customer = `cus_${first.shopperId.slice(0, 14)}`;
    expect((await shopper(first.shopperId)).stripeCustomerId).toBe(customer);
    expect((await row(first.id)).stripeCustomerId).toBe(customer);

    const second = await storeCheckout(db, { shopperId: first.shopperId, slug: "gift-card" });
    await webhook(CHECKOUT_EVENT.completed, sessionFor(second, "paid", { customer: "cus_anotherone" })).result;
    expect((await shopper(first.shopperId)).stripeCustomerId).toBe(customer);
  });

  it("is not given to a second shopper when Stripe reports one already taken", async () => {
    const first = await storeCheckout(db);
    await completed(first);
    const other = await storeCheckout(db);
    await webhook(
      CHECKOUT_EVENT.completed,
      sessionFor(other, "paid", { customer: `cus_${first.shopperId.slice(0, 14)}` }),
    ).result;
    expect((await shopper(other.shopperId)).stripeCustomerId).toBeNull();
    expect(fulfilled.get(other.id)).toBe(1);
  });

  it("goes to one shopper when orders of several shoppers complete at once with the same customer", async () => {
    const orders = await Promise.all(Array.from({ length: 8 }, () => storeCheckout(db)));
    const customer = `cus_race${orders[0]!.shopperId.slice(0, 10)}`;
    const results = await Promise.all(
      orders.map((order) => webhook(CHECKOUT_EVENT.completed, sessionFor(order, "paid", { customer })).result),
    );
    // Every order is paid and fulfilled once; the customer has one owner among them.
    expect(results.map((r) => r.fulfilled)).toEqual(orders.map(() => true));
    for (const order of orders) expect(fulfilled.get(order.id)).toBe(1);
    const owners = await db.select().from(schema.shoppers).where(eq(schema.shoppers.stripeCustomerId, customer));
    expect(owners).toHaveLength(1);
    expect(orders.map((o) => o.shopperId)).toContain(owners[0]!.id);
  });
});

describe("subscriptions", () => {
  const subscriptionOf = (checkout: StoredCheckout) => `sub_${checkout.id.slice(8, 30)}`;
  const subscriptionEvent = (
    checkout: StoredCheckout,
    type: "customer.subscription.updated" | "customer.subscription.deleted",
    status: Stripe.Subscription.Status,
    created: number,
  ) => webhook(type, subscriptionObject({ id: subscriptionOf(checkout), status }), created).result;

  it("completion activates it; updates keep its status; older news is ignored; deleted is final", async () => {
    const checkout = await storeCheckout(db, { slug: "coffee-club" });
    await completed(checkout);
    expect(await row(checkout.id)).toMatchObject({
      mode: "subscription",
      status: "complete",
      paymentStatus: "paid",
      stripeSubscriptionId: subscriptionOf(checkout),
      subscriptionStatus: "active",
    });
    expect(fulfilled.get(checkout.id)).toBe(1);

    const t = nowSeconds();
    await subscriptionEvent(checkout, "customer.subscription.updated", "past_due", t + 10);
    expect((await row(checkout.id)).subscriptionStatus).toBe("past_due");
    await subscriptionEvent(checkout, "customer.subscription.updated", "active", t + 5); // older: ignored
    expect((await row(checkout.id)).subscriptionStatus).toBe("past_due");
    await subscriptionEvent(checkout, "customer.subscription.deleted", "canceled", t + 20);
    await subscriptionEvent(checkout, "customer.subscription.updated", "active", t + 30);
    expect(await row(checkout.id)).toMatchObject({ subscriptionStatus: "canceled", paymentStatus: "paid" });
    expect(fulfilled.get(checkout.id)).toBe(1);
  });

  it("subscription news that lands before the completion is applied when the completion links it", async () => {
    const canceled = await storeCheckout(db, { slug: "coffee-club" });
    const updated = await storeCheckout(db, { slug: "coffee-club" });
    const t = nowSeconds();
    await subscriptionEvent(canceled, "customer.subscription.updated", "active", t - 5);
    await subscriptionEvent(canceled, "customer.subscription.deleted", "canceled", t);
    await subscriptionEvent(updated, "customer.subscription.updated", "past_due", t);
    await completed(canceled);
    await completed(updated);
    expect(await row(canceled.id)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      subscriptionStatus: "canceled",
    });
    expect(await row(updated.id)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      subscriptionStatus: "past_due",
    });
  });

  it("news about a subscription no checkout knows is recorded and changes nothing", async () => {
    const { event, result } = webhook(
      "customer.subscription.updated",
      subscriptionObject({ id: "sub_unknown", status: "active" }),
    );
    expect(await result).toMatchObject({ checkoutId: null, changed: false });
    expect(await eventRow(event.id)).toBeDefined();
  });
});
