import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { getCheckout, processStripeEvent } from "~/lib/checkout.server";
import { db, schema, snapshot } from "../support/db";
import { sessionFor, storeCheckout, stripeEvent, type StoredCheckout } from "../support/stripe-fixtures";

/**
 * Refunds, disputes and renewals recorded through the webhook's path
 * (processStripeEvent), on whichever database the suite runs: each lifecycle
 * in order, shuffled and duplicated ends in the same row, and asks for its
 * job (by key) once.
 */

beforeEach(() => {
  vi.spyOn(console, "warn").mockImplementation(() => {});
  vi.spyOn(console, "info").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

const deliver = (type: string, object: object, created: number) => {
  const event = stripeEvent(type, object, { created });
  return processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
};

async function paidOrder(slug = "ceramic-pour-over") {
  const checkout = await storeCheckout(db, { slug });
  await deliver("checkout.session.completed", sessionFor(checkout, "paid"), 100);
  return checkout;
}

const intentOf = (checkout: StoredCheckout) => `pi_${checkout.id.slice(8, 30)}`;
const chargeObject = (checkout: StoredCheckout, amountRefunded: number) => ({
  id: `ch_${checkout.id.slice(8, 30)}`,
  object: "charge",
  amount: checkout.amountTotal,
  amount_refunded: amountRefunded,
  payment_intent: intentOf(checkout),
});
const disputeObject = (checkout: StoredCheckout, id: string, status: Stripe.Dispute.Status) => ({
  id,
  object: "dispute",
  status,
  charge: `ch_${checkout.id.slice(8, 30)}`,
  payment_intent: intentOf(checkout),
});

/** Delivers each event in `order`, each twice, and collects the job keys asked for. */
async function deliverAll(events: Array<[string, object, number]>) {
  const keys = new Set<string>();
  for (const [type, object, created] of events) {
    for (let i = 0; i < 2; i++) {
      const result = await deliver(type, object, created);
      for (const job of result.jobs) keys.add(job.key);
    }
  }
  // Each job asked for is in the jobs table, once (its key is unique), enqueued with its news.
  const stored = (await db.select({ key: schema.jobs.key, state: schema.jobs.state }).from(schema.jobs)).filter((j) =>
    keys.has(j.key),
  );
  expect(stored.map((j) => j.key).sort()).toEqual([...keys].sort());
  expect(stored.every((j) => j.state === "pending")).toBe(true);
  return [...keys].sort();
}

const shuffles = <T>(items: T[]): T[][] => [items, [...items].reverse()];

describe("refunds", () => {
  for (const [name, order] of shuffles([1200, 6400]).map((o, i) => [i ? "shuffled" : "in order", o] as const)) {
    it(`a partial then a full refund, ${name} and duplicated: refunded in full, revoked once`, async () => {
      const checkout = await paidOrder();
      const total = checkout.amountTotal!;
      const amounts = order.map((a) => Math.min(a, total));
      const keys = await deliverAll(amounts.map((a, i) => ["charge.refunded", chargeObject(checkout, a), 200 + i]));
      const row = await getCheckout(checkout.id);
      expect(row).toMatchObject({ paymentStatus: "paid", amountRefunded: total });
      expect(keys).toEqual([`order.revoked:${checkout.id}:refund`]);
    });
  }

  it("a partial refund alone: the amount so far, still paid, nothing revoked", async () => {
    const checkout = await paidOrder();
    const keys = await deliverAll([["charge.refunded", chargeObject(checkout, 1), 200]]);
    expect(await getCheckout(checkout.id)).toMatchObject({ paymentStatus: "paid", amountRefunded: 1 });
    expect(keys).toEqual([]);
  });

  it("a charge the shop does not know: the event is stored, nothing else changes", async () => {
    await paidOrder();
    const before = await snapshot();
    const event = stripeEvent(
      "charge.refunded",
      { id: "ch_unknown", object: "charge", amount_refunded: 500, payment_intent: "pi_unknown" },
      { created: 300 },
    );
    const result = await processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
    expect(result).toMatchObject({ duplicate: false, checkoutId: null, changed: false, jobs: [] });
    const after = await snapshot();
    expect(after.checkout_sessions).toEqual(before.checkout_sessions);
    expect((after.stripe_events ?? []).length).toBe((before.stripe_events ?? []).length + 1);
  });
});

describe("disputes", () => {
  for (const outcome of ["won", "lost"] as const) {
    for (const [name, reverse] of [
      ["in order", false],
      ["shuffled", true],
    ] as const) {
      it(`a dispute ${outcome}, ${name} and duplicated: ${outcome} is final, its job once`, async () => {
        const checkout = await paidOrder();
        const dp = `dp_${outcome}_${checkout.id.slice(8, 20)}`;
        const events: Array<[string, object, number]> = [
          ["charge.dispute.created", disputeObject(checkout, dp, "needs_response"), 200],
          ["charge.dispute.funds_withdrawn", disputeObject(checkout, dp, "needs_response"), 201],
          ["charge.dispute.closed", disputeObject(checkout, dp, outcome), 300],
        ];
        if (outcome === "won")
          events.push(["charge.dispute.funds_reinstated", disputeObject(checkout, dp, "won"), 301]);
        const keys = await deliverAll(reverse ? [...events].reverse() : events);
        expect(await getCheckout(checkout.id)).toMatchObject({ paymentStatus: "paid", disputeStatus: outcome });
        expect(keys).toEqual(
          outcome === "lost"
            ? [`order.revoked:${checkout.id}:dispute:${dp}`]
            : [`order.reinstated:${checkout.id}:${dp}`],
        );
      });
    }
  }
});

describe("renewals", () => {
  const invoiceObject = (subscription: string, id: string, status: "paid" | "open", reason: string) => ({
    id,
    object: "invoice",
    status,
    billing_reason: reason,
    parent: { type: "subscription_details", subscription_details: { subscription } },
  });

  for (const [name, reverse] of [
    ["in order", false],
    ["shuffled", true],
  ] as const) {
    it(`a renewal that fails then succeeds, ${name} and duplicated: paid, renewed once, the first invoice no renewal`, async () => {
      const checkout = await paidOrder("coffee-club");
      const sub = `sub_${checkout.id.slice(8, 30)}`;
      const events: Array<[string, object, number]> = [
        [
          "invoice.paid",
          invoiceObject(sub, `in_first_${checkout.id.slice(8, 20)}`, "paid", "subscription_create"),
          100,
        ],
        [
          "invoice.payment_failed",
          invoiceObject(sub, `in_2_${checkout.id.slice(8, 20)}`, "open", "subscription_cycle"),
          200,
        ],
        ["invoice.paid", invoiceObject(sub, `in_2_${checkout.id.slice(8, 20)}`, "paid", "subscription_cycle"), 300],
      ];
      const keys = await deliverAll(reverse ? [...events].reverse() : events);
      expect(await getCheckout(checkout.id)).toMatchObject({ invoiceStatus: "paid", invoiceEventAt: 300 });
      expect(keys).toEqual([`subscription.renewed:in_2_${checkout.id.slice(8, 20)}`]);
    });
  }

  it("a renewal that fails: the order says payment failed", async () => {
    const checkout = await paidOrder("coffee-club");
    const sub = `sub_${checkout.id.slice(8, 30)}`;
    await deliverAll([
      ["invoice.payment_failed", invoiceObject(sub, "in_failed_x", "open", "subscription_cycle"), 200],
    ]);
    expect(await getCheckout(checkout.id)).toMatchObject({ invoiceStatus: "payment_failed" });
  });
});
