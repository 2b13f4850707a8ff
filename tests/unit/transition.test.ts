import type Stripe from "stripe";
import { describe, expect, it } from "vitest";

import type { CheckoutSession } from "../../db/schema/types";
import { newsOf } from "~/lib/orders/news";
import { applyDecision, type News, sessionFacts, transition } from "~/lib/orders/transition";

/**
 * The pure transition on its own: every order in which Stripe can deliver
 * the events of one session (each permutation, and each with every event
 * delivered twice) ends in the same state, fulfills at most once, and never
 * undoes paid. A small model of the store applies the decisions the way both
 * stores do (subscription news waits for the completion that links it).
 */

const SHOPPER = "shopper_aaaaaaaaaaaaaaaa";
const context = { livemode: false };

function stored(mode: "payment" | "subscription"): CheckoutSession {
  return {
    id: "cs_test_one",
    shopperId: SHOPPER,
    productId: 1,
    quantity: 1,
    mode,
    status: "open",
    paymentStatus: "unpaid",
    amountSubtotal: 2500,
    amountDiscount: null,
    amountTax: null,
    amountShipping: null,
    amountTotal: 2500,
    currency: "usd",
    url: "https://checkout.stripe.com/c/pay/cs_test_one",
    stripeChargeId: null,
    amountRefunded: 0,
    amountRefundPending: 0,
    chargeAmountRefunded: 0,
    disputeStatus: null,
    invoiceStatus: null,
    invoiceEventAt: null,
    formToken: "token",
    customerEmail: null,
    stripeCustomerId: null,
    stripeSubscriptionId: null,
    subscriptionStatus: null,
    subscriptionEventAt: null,
    paymentIntentId: null,
    expiresAt: null,
    cartId: null,
    cartVersion: null,
    flag: null,
    fulfilledAt: null,
    createdAt: 1,
    updatedAt: 1,
  };
}

type Ev = { name: string; type: string; object: object; created: number };

const session = (mode: "payment" | "subscription", status: string, paymentStatus: string) => ({
  object: "checkout.session",
  id: "cs_test_one",
  mode,
  status,
  payment_status: paymentStatus,
  livemode: false,
  client_reference_id: SHOPPER,
  amount_subtotal: 2500,
  amount_total: 2500,
  currency: "usd",
  customer: status === "complete" ? "cus_one" : null,
  customer_details: status === "complete" ? { email: "shopper@example.com" } : null,
  payment_intent: mode === "payment" && status === "complete" ? "pi_one" : null,
  subscription: mode === "subscription" && status === "complete" ? "sub_one" : null,
});

const ev = (name: string, type: string, object: object, created: number): Ev => ({ name, type, object, created });
const completed = (mode: "payment" | "subscription", paymentStatus: string, created = 100) =>
  ev(`completed/${paymentStatus}`, "checkout.session.completed", session(mode, "complete", paymentStatus), created);

/** The sets of events Stripe sends for one session, by how it ends. */
const SCENARIOS: Array<{ name: string; mode: "payment" | "subscription"; events: Ev[]; paid: boolean }> = [
  { name: "card payment", mode: "payment", events: [completed("payment", "paid")], paid: true },
  {
    name: "no payment required",
    mode: "payment",
    events: [completed("payment", "no_payment_required")],
    paid: true,
  },
  {
    name: "delayed payment that succeeds",
    mode: "payment",
    events: [
      completed("payment", "unpaid"),
      ev("async_succeeded", "checkout.session.async_payment_succeeded", session("payment", "complete", "paid"), 200),
    ],
    paid: true,
  },
  {
    name: "delayed payment that fails",
    mode: "payment",
    events: [
      completed("payment", "unpaid"),
      ev("async_failed", "checkout.session.async_payment_failed", session("payment", "complete", "unpaid"), 200),
    ],
    paid: false,
  },
  {
    name: "abandoned checkout",
    mode: "payment",
    events: [ev("expired", "checkout.session.expired", session("payment", "expired", "unpaid"), 100)],
    paid: false,
  },
  {
    name: "subscription, updated, then canceled",
    mode: "subscription",
    events: [
      completed("subscription", "paid"),
      ev(
        "sub_updated",
        "customer.subscription.updated",
        { object: "subscription", id: "sub_one", status: "past_due" },
        200,
      ),
      ev(
        "sub_deleted",
        "customer.subscription.deleted",
        { object: "subscription", id: "sub_one", status: "canceled" },
        300,
      ),
    ],
    paid: true,
  },
];

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

function news(e: Ev): News {
  const found = newsOf({ type: e.type, created: e.created, data: { object: e.object } } as unknown as Stripe.Event);
  if (!found) throw new Error(`no news in ${e.name}`);
  return found;
}

/** Applies the events in order, as a store does, recording every row it passes through. */
function run(mode: "payment" | "subscription", order: Ev[]) {
  let row = stored(mode);
  const rows: CheckoutSession[] = [];
  const waiting: News[] = [];
  let fulfillments = 0;
  const apply = (n: News) => {
    if (n.kind === "subscription" && row.stripeSubscriptionId !== n.subscriptionId) {
      waiting.push(n);
      return;
    }
    const decision = transition(row, n, context);
    if (decision.fulfill && row.fulfilledAt == null) fulfillments++;
    row = applyDecision(row, decision, 1_000);
    rows.push(row);
    if (decision.linkedSubscription) {
      for (const w of [...waiting].sort((a, b) =>
        a.kind === "subscription" && b.kind === "subscription" ? a.created - b.created : 0,
      )) {
        apply(w);
      }
    }
  };
  for (const e of order) apply(news(e));
  return { row, rows, fulfillments };
}

describe("the transition, in every order Stripe can deliver", () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: one final state, fulfilled ${scenario.paid ? "once" : "never"}, paid never undone`, () => {
      const expected = run(scenario.mode, scenario.events);
      const orders = [
        ...permutations(scenario.events),
        // Every event delivered twice, in every order of the six (or fewer) deliveries.
        ...permutations([...scenario.events, ...scenario.events]),
      ];
      expect(orders.length).toBeGreaterThanOrEqual(2);
      for (const order of orders) {
        const { row, rows, fulfillments } = run(scenario.mode, order);
        const label = order.map((e) => e.name).join(" > ");
        expect(row, label).toEqual(expected.row);
        expect(fulfillments, label).toBe(scenario.paid ? 1 : 0);
        const firstPaid = rows.findIndex(
          (r) => r.paymentStatus === "paid" || r.paymentStatus === "no_payment_required",
        );
        if (firstPaid >= 0) {
          for (const later of rows.slice(firstPaid)) {
            expect(later.paymentStatus, label).toBe(rows[firstPaid]!.paymentStatus);
            expect(later.fulfilledAt, label).not.toBeNull();
          }
        }
      }
      expect(expected.row.paymentStatus === "paid" || expected.row.paymentStatus === "no_payment_required").toBe(
        scenario.paid,
      );
    });
  }

  it("the subscription ends canceled whatever the order, with the completion's customer", () => {
    const scenario = SCENARIOS.at(-1)!;
    for (const order of permutations(scenario.events)) {
      expect(run("subscription", order).row).toMatchObject({
        subscriptionStatus: "canceled",
        stripeSubscriptionId: "sub_one",
        stripeCustomerId: "cus_one",
      });
    }
  });
});

describe("a completed session that does not say what was paid", () => {
  for (const field of ["amount_subtotal", "amount_total", "currency"] as const) {
    it(`is flagged, not fulfilled, when ${field} is null`, () => {
      const object = { ...session("payment", "complete", "paid"), [field]: null };
      const decision = transition(
        stored("payment"),
        news(ev("completed", "checkout.session.completed", object, 1)),
        context,
      );
      expect(decision.fulfill).toBe(false);
      expect(decision.update.flag).toBe(field === "currency" ? "currency_missing" : "amount_missing");
      expect(decision.update.paymentStatus).toBe("paid");
    });
  }

  it("reads an odd shape as missing, never throws: an object where an id string belongs", () => {
    const object = { ...session("payment", "complete", "paid"), customer: { nested: true }, payment_intent: 42 };
    const decision = transition(
      stored("payment"),
      news(ev("completed", "checkout.session.completed", object, 1)),
      context,
    );
    expect(decision.fulfill).toBe(true);
    expect(decision.update.stripeCustomerId).toBeUndefined();
    expect(decision.update.paymentIntentId).toBeUndefined();
  });
});

describe("the subtotal is what the shop asked for", () => {
  const completed = (overrides: object, row = stored("payment")) =>
    transition(
      row,
      news(
        ev("completed", "checkout.session.completed", { ...session("payment", "complete", "paid"), ...overrides }, 1),
      ),
      context,
    );

  it("a discount, tax and shipping change the total: recorded, not flagged, fulfilled", () => {
    const decision = completed({
      amount_total: 2500 - 250 + 180 + 500,
      total_details: { amount_discount: 250, amount_shipping: 500, amount_tax: 180 },
    });
    expect(decision.fulfill).toBe(true);
    expect(decision.raisedFlag).toBeNull();
    expect(decision.update).toMatchObject({
      amountTotal: 2930,
      amountDiscount: 250,
      amountTax: 180,
      amountShipping: 500,
    });
    expect(decision.update).not.toHaveProperty("amountSubtotal");
  });

  it("another subtotal is flagged, whatever the total", () => {
    const decision = completed({ amount_subtotal: 2400, amount_total: 2500 });
    expect(decision.fulfill).toBe(false);
    expect(decision.update.flag).toBe("amount_mismatch");
  });

  it("a row stored before amount_subtotal compares its amount_total", () => {
    const old = { ...stored("payment"), amountSubtotal: null };
    expect(completed({}, old)).toMatchObject({ fulfill: true, raisedFlag: null });
    expect(completed({}, old).update.amountSubtotal).toBe(2500);
    expect(completed({ amount_subtotal: 2000 }, old).update.flag).toBe("amount_mismatch");
  });

  it("an open session records no totals", () => {
    const decision = transition(
      stored("payment"),
      {
        kind: "session",
        effect: "retrieved",
        session: sessionFacts({ ...session("payment", "open", "unpaid"), amount_total: 3000 })!,
      },
      context,
    );
    expect(decision.update).not.toHaveProperty("amountTotal");
  });
});
