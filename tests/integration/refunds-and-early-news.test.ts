import { eq, inArray } from "drizzle-orm";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { getCheckout, processStripeEvent } from "~/lib/checkout.server";
import { configuredJobDatabase } from "~/lib/jobs/start.server";
import { moneyAfterPaymentHandlers } from "~/lib/jobs/money-after-payment.server";
import { createWorker } from "~/lib/jobs/worker.server";
import { formatMoney } from "~/lib/money";
import { stateInWords } from "~/lib/orders.server";
import { db, schema, snapshot } from "../support/db";
import { sessionFor, storeCheckout, stripeEvent, type StoredCheckout } from "../support/stripe-fixtures";

/**
 * refund.created, refund.updated and refund.failed beside charge.refunded,
 * through the webhook's path on whichever database the suite runs: every
 * order and every duplicate ends in the same order row and refunds rows. Then
 * news that comes before the completion that links its order (by payment
 * intent or subscription) is applied when the completion comes, and the jobs
 * the money news enqueues run to done, once per cause, with their default
 * handlers.
 */

beforeEach(() => {
  vi.spyOn(console, "warn").mockImplementation(() => {});
  vi.spyOn(console, "info").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

const send = (event: Stripe.Event) => processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
const deliver = (type: string, object: object, created: number) => send(stripeEvent(type, object, { created }));

type Delivery = [type: string, object: object, created: number];

/**
 * Each of `events` as an event delivered twice (the second a duplicate), then
 * as a second event with the same news (Stripe sends e.g. refund.updated and
 * refund.failed with one object), unless `again` is false; returns the job
 * keys asked for.
 */
async function deliverTwice(events: Delivery[], { again = true } = {}) {
  const keys = new Set<string>();
  for (const [type, object, created] of again ? [...events, ...events] : events) {
    const event = stripeEvent(type, object, { created });
    for (let i = 0; i < 2; i++) {
      const result = await send(event);
      expect(result.duplicate).toBe(i === 1);
      for (const job of result.jobs) keys.add(job.key);
    }
  }
  return [...keys].sort();
}

const short = (checkout: StoredCheckout) => checkout.id.slice(8, 30);
const intentOf = (checkout: StoredCheckout) => `pi_${short(checkout)}`;
const chargeOf = (checkout: StoredCheckout) => `ch_${short(checkout)}`;
const charge = (checkout: StoredCheckout, amountRefunded: number) => ({
  id: chargeOf(checkout),
  object: "charge",
  amount: checkout.amountTotal,
  amount_refunded: amountRefunded,
  payment_intent: intentOf(checkout),
});
const refund = (checkout: StoredCheckout, id: string, amount: number, status: Stripe.Refund["status"]) => ({
  id,
  object: "refund",
  amount,
  currency: checkout.currency,
  status,
  created: 150,
  charge: chargeOf(checkout),
  payment_intent: intentOf(checkout),
});
const dispute = (checkout: StoredCheckout, id: string, status: Stripe.Dispute.Status) => ({
  id,
  object: "dispute",
  status,
  charge: chargeOf(checkout),
  payment_intent: intentOf(checkout),
});
const invoice = (subscription: string, id: string, reason: string) => ({
  id,
  object: "invoice",
  status: "paid",
  billing_reason: reason,
  parent: { type: "subscription_details", subscription_details: { subscription } },
});

const refundsOf = async (checkoutId: string) =>
  (
    await db
      .select({ id: schema.refunds.id, amount: schema.refunds.amount, status: schema.refunds.status })
      .from(schema.refunds)
      .where(eq(schema.refunds.checkoutSessionId, checkoutId))
  ).sort((a, b) => a.id.localeCompare(b.id));

const jobsWith = async (keys: string[]) =>
  keys.length === 0
    ? []
    : (await db.select().from(schema.jobs).where(inArray(schema.jobs.key, keys))).sort((a, b) =>
        a.key.localeCompare(b.key),
      );

async function paidOrder(slug = "ceramic-pour-over") {
  const checkout = await storeCheckout(db, { slug });
  await deliver("checkout.session.completed", sessionFor(checkout, "paid"), 100);
  return checkout;
}

const orders = <T>(items: T[]): Array<[string, T[]]> => [
  ["in order", items],
  ["reversed", [...items].reverse()],
  ["shuffled", [items[1]!, ...items.slice(3), items[0]!, items[2]!].filter(Boolean)],
];

describe("refund.* beside charge.refunded", () => {
  for (const [name, events] of orders<(c: StoredCheckout) => Delivery>([
    (c) => ["refund.created", refund(c, `re_a_${short(c)}`, 1200, "succeeded"), 200],
    (c) => ["charge.refunded", charge(c, 1200), 200],
    (c) => ["refund.created", refund(c, `re_b_${short(c)}`, c.amountTotal! - 1200, "succeeded"), 300],
    (c) => ["charge.refunded", charge(c, c.amountTotal!), 300],
  ])) {
    it(`a partial then a full refund, ${name} and duplicated: refunded in full, both refunds kept, revoked once`, async () => {
      const checkout = await paidOrder();
      const keys = await deliverTwice(events.map((e) => e(checkout)));
      const row = await getCheckout(checkout.id);
      expect(row).toMatchObject({
        paymentStatus: "paid",
        amountRefunded: checkout.amountTotal,
        amountRefundPending: 0,
      });
      expect(stateInWords(row!)).toBe("Refunded");
      expect(await refundsOf(checkout.id)).toEqual([
        { id: `re_a_${short(checkout)}`, amount: 1200, status: "succeeded" },
        { id: `re_b_${short(checkout)}`, amount: checkout.amountTotal! - 1200, status: "succeeded" },
      ]);
      expect(keys).toEqual([`order.revoked:${checkout.id}:refund`]);
      expect((await jobsWith(keys)).map((j) => j.key)).toEqual(keys);
    });
  }

  for (const [name, events] of orders<(c: StoredCheckout) => Delivery>([
    (c) => ["refund.created", refund(c, `re_f_${short(c)}`, 1200, "pending"), 200],
    (c) => ["charge.refunded", charge(c, 1200), 200],
    (c) => ["refund.updated", refund(c, `re_f_${short(c)}`, 1200, "failed"), 400],
    (c) => ["refund.failed", refund(c, `re_f_${short(c)}`, 1200, "failed"), 400],
  ])) {
    it(`a pending refund that fails, ${name} and duplicated: its amount is given back, nothing revoked`, async () => {
      const checkout = await paidOrder();
      const keys = await deliverTwice(events.map((e) => e(checkout)));
      const row = await getCheckout(checkout.id);
      expect(row).toMatchObject({ paymentStatus: "paid", amountRefunded: 0, amountRefundPending: 0 });
      expect(stateInWords(row!)).toBe("Paid");
      expect(await refundsOf(checkout.id)).toEqual([{ id: `re_f_${short(checkout)}`, amount: 1200, status: "failed" }]);
      expect(keys).toEqual([]);
    });
  }

  it("a pending refund: the shopper reads Refund pending until it succeeds", async () => {
    const checkout = await paidOrder();
    const id = `re_p_${short(checkout)}`;
    await deliverTwice([
      ["refund.created", refund(checkout, id, 1200, "pending"), 200],
      ["charge.refunded", charge(checkout, 1200), 200],
    ]);
    const pending = await getCheckout(checkout.id);
    expect(pending).toMatchObject({ amountRefunded: 1200, amountRefundPending: 1200 });
    expect(stateInWords(pending!)).toBe(`Refund pending: $12.00 of ${formatMoney(checkout.amountTotal!, "usd")}`);
    await deliverTwice([["refund.updated", refund(checkout, id, 1200, "succeeded"), 500]]);
    const done = await getCheckout(checkout.id);
    expect(done).toMatchObject({ amountRefunded: 1200, amountRefundPending: 0 });
    expect(stateInWords(done!)).toBe(`Refunded $12.00 of ${formatMoney(checkout.amountTotal!, "usd")}`);
  });

  it("a refund of a charge the shop does not know: the event is stored, nothing else changes", async () => {
    await paidOrder();
    const before = await snapshot();
    const result = await deliver(
      "refund.created",
      { id: "re_unknown", object: "refund", amount: 500, status: "succeeded", charge: "ch_x", payment_intent: "pi_x" },
      300,
    );
    expect(result).toMatchObject({ duplicate: false, checkoutId: null, changed: false, jobs: [] });
    const after = await snapshot();
    expect(after.checkout_sessions).toEqual(before.checkout_sessions);
    expect(after.refunds).toEqual(before.refunds);
    expect((after.stripe_events ?? []).length).toBe((before.stripe_events ?? []).length + 1);
  });
});

describe("news that comes before its order is linked", () => {
  const early = (c: StoredCheckout): Delivery[] => [
    ["refund.created", refund(c, `re_e_${short(c)}`, 1200, "succeeded"), 200],
    ["charge.refunded", charge(c, 1200), 200],
    ["charge.dispute.created", dispute(c, `dp_e_${short(c)}`, "needs_response"), 210],
    ["charge.dispute.closed", dispute(c, `dp_e_${short(c)}`, "lost"), 220],
  ];

  for (const [name, at] of [
    ["all before the completion", 0],
    ["half before, half after", 2],
  ] as const) {
    it(`a payment's refund and lost dispute, ${name}, duplicated: applied once the completion links the payment intent`, async () => {
      const checkout = await storeCheckout(db);
      const events = early(checkout);
      const completion: Delivery = ["checkout.session.completed", sessionFor(checkout, "paid"), 100];
      const shuffled = [...events.slice(at).reverse(), completion, ...events.slice(0, at)];
      // No second copy after the completion: what is applied must come from what was stored.
      const keys = await deliverTwice(shuffled, { again: false });
      const row = await getCheckout(checkout.id);
      expect(row).toMatchObject({
        paymentStatus: "paid",
        paymentIntentId: intentOf(checkout),
        stripeChargeId: chargeOf(checkout),
        amountRefunded: 1200,
        disputeStatus: "lost",
      });
      expect(await refundsOf(checkout.id)).toEqual([
        { id: `re_e_${short(checkout)}`, amount: 1200, status: "succeeded" },
      ]);
      // The replay asked for the revocation in the completion's transaction: in the jobs table, once.
      const revoked = `order.revoked:${checkout.id}:dispute:dp_e_${short(checkout)}`;
      expect((await jobsWith([revoked, ...keys])).map((j) => j.key)).toEqual([revoked]);
    });
  }

  it("news and the completion at the same moment, for 12 orders at once: every order ends with all its news", async () => {
    const checkouts = await Promise.all(Array.from({ length: 12 }, () => storeCheckout(db)));
    await Promise.all(
      checkouts.flatMap((c) =>
        [...early(c), ["checkout.session.completed", sessionFor(c, "paid"), 100] as Delivery].map(
          ([type, object, created]) => deliver(type, object, created),
        ),
      ),
    );
    for (const c of checkouts) {
      expect(await getCheckout(c.id)).toMatchObject({
        paymentStatus: "paid",
        amountRefunded: 1200,
        disputeStatus: "lost",
      });
      expect(await refundsOf(c.id)).toEqual([{ id: `re_e_${short(c)}`, amount: 1200, status: "succeeded" }]);
      expect(await jobsWith([`order.revoked:${c.id}:dispute:dp_e_${short(c)}`])).toHaveLength(1);
    }
  });

  it("a renewal and the completion of its subscription at the same moment, for 12 orders at once: every one renewed", async () => {
    const checkouts = await Promise.all(Array.from({ length: 12 }, () => storeCheckout(db, { slug: "coffee-club" })));
    await Promise.all(
      checkouts.flatMap((c) => [
        deliver("invoice.paid", invoice(`sub_${short(c)}`, `in_c_${short(c)}`, "subscription_cycle"), 300),
        deliver("checkout.session.completed", sessionFor(c, "paid"), 100),
      ]),
    );
    for (const c of checkouts) {
      expect(await getCheckout(c.id)).toMatchObject({ invoiceStatus: "paid", invoiceEventAt: 300 });
      expect(await jobsWith([`subscription.renewed:in_c_${short(c)}`])).toHaveLength(1);
    }
  });

  it("a renewal paid before the completion links the subscription: recorded, renewed once", async () => {
    const checkout = await storeCheckout(db, { slug: "coffee-club" });
    const sub = `sub_${short(checkout)}`;
    const renewal = `in_r_${short(checkout)}`;
    await deliverTwice(
      [
        ["invoice.paid", invoice(sub, renewal, "subscription_cycle"), 300],
        ["invoice.paid", invoice(sub, `in_first_${short(checkout)}`, "subscription_create"), 100],
      ],
      { again: false },
    );
    expect(await getCheckout(checkout.id)).toMatchObject({ invoiceStatus: null });
    await deliverTwice([["checkout.session.completed", sessionFor(checkout, "paid"), 100]]);
    expect(await getCheckout(checkout.id)).toMatchObject({ invoiceStatus: "paid", invoiceEventAt: 300 });
    const jobs = await jobsWith([
      `subscription.renewed:${renewal}`,
      `subscription.renewed:in_first_${short(checkout)}`,
    ]);
    expect(jobs.map((j) => j.key)).toEqual([`subscription.renewed:${renewal}`]);
  });
});

describe("the jobs the money news enqueues", () => {
  it("order.revoked, order.reinstated and subscription.renewed each end done, once per cause", async () => {
    const refunded = await paidOrder();
    const lost = await paidOrder();
    const won = await paidOrder();
    const renewed = await paidOrder("coffee-club");
    const sub = `sub_${short(renewed)}`;
    const events: Delivery[] = [
      ["refund.created", refund(refunded, `re_j_${short(refunded)}`, refunded.amountTotal!, "succeeded"), 200],
      ["charge.refunded", charge(refunded, refunded.amountTotal!), 200],
      ["charge.dispute.closed", dispute(lost, `dp_l_${short(lost)}`, "lost"), 200],
      ["charge.dispute.closed", dispute(won, `dp_w_${short(won)}`, "won"), 200],
      ["invoice.paid", invoice(sub, `in_j_${short(renewed)}`, "subscription_cycle"), 200],
    ];
    const keys = await deliverTwice(events);
    const expected = [
      `order.reinstated:${won.id}:dp_w_${short(won)}`,
      `order.revoked:${lost.id}:dispute:dp_l_${short(lost)}`,
      `order.revoked:${refunded.id}:refund`,
      `subscription.renewed:in_j_${short(renewed)}`,
    ].sort();
    expect(keys).toEqual(expected);

    const lines: string[] = [];
    const { store } = configuredJobDatabase();
    const worker = createWorker({
      store,
      handlers: moneyAfterPaymentHandlers({}, { info: (line: string) => void lines.push(line) }),
      log: { info: () => {}, warn: () => {}, error: () => {} },
    });
    while ((await worker.runOnce()) > 0) {}

    const jobs = await jobsWith(expected);
    expect(jobs.map((j) => [j.key, j.state, j.attempts])).toEqual(expected.map((key) => [key, "done", 1]));
    // Each default handler said what it did not take back or grant, once per cause, with ids only
    // (other tests' jobs in this database may have run too: only this test's orders are looked at).
    const ids = [refunded, lost, won, renewed].map((c) => c.id);
    const ours = (prefix: string) =>
      lines.filter((l) => l.startsWith(prefix) && ids.some((id) => l.includes(`session=${id} `))).sort();
    expect(ours("order.revoked:")).toEqual(
      [
        `order.revoked: nothing granted to take back session=${lost.id} cause=dispute dispute=dp_l_${short(lost)}`,
        `order.revoked: nothing granted to take back session=${refunded.id} cause=refund dispute=-`,
      ].sort(),
    );
    expect(ours("order.reinstated:")).toEqual([
      `order.reinstated: nothing granted to give back session=${won.id} dispute=dp_w_${short(won)}`,
    ]);
    expect(ours("subscription.renewed:")).toEqual([
      `subscription.renewed: nothing granted to extend session=${renewed.id} subscription=${sub} invoice=in_j_${short(renewed)}`,
    ]);

    // The same news once more, later: nothing new to run.
    await deliverTwice(events);
    expect((await jobsWith(expected)).every((j) => j.state === "done")).toBe(true);
    expect(await worker.runOnce()).toBe(0);
    await worker.stop();
  });
});
