import { describe, expect, it } from "vitest";

import type { CheckoutSession } from "../../db/schema/types";
import { applyDecision, type News, type RefundFact, transition } from "~/lib/orders/transition";

/**
 * The money after the payment, in the pure transition: every order in which
 * Stripe can deliver an order's refund, dispute or renewal news (each
 * permutation, then each with every piece delivered twice) ends in the same
 * row and asks for the same jobs. A job is kept by its key, as the queue's
 * unique key keeps it, so "once" means one key per cause.
 */

const context = { livemode: false };

const paidOrder = (mode: "payment" | "subscription" = "payment"): CheckoutSession => ({
  id: "cs_test_money",
  shopperId: "shopper_aaaaaaaaaaaaaaaa",
  productId: 1,
  quantity: 1,
  mode,
  cartId: null,
  cartVersion: null,
  status: "complete",
  paymentStatus: "paid",
  amountSubtotal: 6400,
  amountDiscount: null,
  amountTax: null,
  amountShipping: null,
  amountTotal: 6400,
  currency: "usd",
  url: null,
  stripeChargeId: null,
  amountRefunded: 0,
  amountRefundPending: 0,
  chargeAmountRefunded: 0,
  disputeStatus: null,
  invoiceStatus: null,
  invoiceEventAt: null,
  formToken: "token",
  customerEmail: null,
  stripeCustomerId: "cus_1",
  stripeSubscriptionId: mode === "subscription" ? "sub_1" : null,
  subscriptionStatus: mode === "subscription" ? "active" : null,
  subscriptionEventAt: null,
  paymentIntentId: "pi_1",
  expiresAt: null,
  flag: null,
  fulfilledAt: 1,
  createdAt: 1,
  updatedAt: 1,
});

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

/** Applies `news` in turn, keeping the refunds table as the stores do (by id, from each decision). */
function run(start: CheckoutSession, news: News[]) {
  let row = start;
  const refunds = new Map<string, RefundFact>();
  const jobs = new Map<string, string>();
  for (const piece of news) {
    const decision = transition(row, piece, context, [...refunds.values()]);
    for (const job of decision.jobs) jobs.set(job.key, job.kind);
    if (decision.refund) {
      const { id, amount, status } = decision.refund;
      refunds.set(id, { id, amount, status });
    }
    row = applyDecision(row, decision, 2);
    // Forward only, after every single piece.
    expect(row.paymentStatus).toBe("paid");
    expect(row.amountRefundPending).toBeLessThanOrEqual(row.amountRefunded);
  }
  return {
    row,
    refunds: [...refunds.values()].sort((a, b) => a.id.localeCompare(b.id)),
    jobs: Object.fromEntries(jobs),
  };
}

type Outcome = { row: CheckoutSession; jobs: Record<string, string>; refunds?: RefundFact[] };

/** Every ordering, then every ordering with each piece delivered twice in a row, ends as `expected`. */
function everyOrdering(start: CheckoutSession, news: News[], expected: Outcome, { jobs = true } = {}) {
  const want = { refunds: [], ...expected };
  for (const order of permutations(news)) {
    for (const delivered of [order, order.flatMap((piece) => [piece, piece])]) {
      const got = run(start, delivered);
      if (jobs) expect(got).toEqual(want);
      else expect({ row: got.row, refunds: got.refunds }).toEqual({ row: want.row, refunds: want.refunds });
    }
  }
}

const charge = (amountRefunded: number, created: number): News => ({
  kind: "charge",
  chargeId: "ch_1",
  paymentIntentId: "pi_1",
  amountRefunded,
  created,
});
const refund = (id: string, amount: number, status: RefundFact["status"], created: number): News => ({
  kind: "refund",
  refundId: id,
  chargeId: "ch_1",
  paymentIntentId: "pi_1",
  amount,
  status,
  refundCreated: 5,
  created,
});
const dispute = (id: string, outcome: "open" | "won" | "lost", created: number): News => ({
  kind: "dispute",
  disputeId: id,
  chargeId: "ch_1",
  paymentIntentId: "pi_1",
  outcome,
  created,
});
const invoice = (id: string, paid: boolean, created: number, renewal = true): News => ({
  kind: "invoice",
  invoiceId: id,
  subscriptionId: "sub_1",
  paid,
  renewal,
  created,
});

describe("refunds", () => {
  it("a partial then a full refund: the amount only grows, revoked once for the refund", () => {
    const start = paidOrder();
    everyOrdering(start, [charge(1200, 10), charge(6400, 20)], {
      row: { ...start, stripeChargeId: "ch_1", amountRefunded: 6400, chargeAmountRefunded: 6400 },
      jobs: { "order.revoked:cs_test_money:refund": "order.revoked" },
    });
  });

  it("a partial refund alone revokes nothing", () => {
    const start = paidOrder();
    everyOrdering(start, [charge(1200, 10)], {
      row: { ...start, stripeChargeId: "ch_1", amountRefunded: 1200, chargeAmountRefunded: 1200 },
      jobs: {},
    });
  });

  it("refund.* and charge.refunded of a partial then a full refund, in any order and twice: the same row, revoked once", () => {
    const start = paidOrder();
    everyOrdering(
      start,
      [
        refund("re_1", 1200, "succeeded", 10),
        charge(1200, 10),
        refund("re_2", 5200, "succeeded", 20),
        charge(6400, 20),
      ],
      {
        row: { ...start, stripeChargeId: "ch_1", amountRefunded: 6400, chargeAmountRefunded: 6400 },
        refunds: [
          { id: "re_1", amount: 1200, status: "succeeded" },
          { id: "re_2", amount: 5200, status: "succeeded" },
        ],
        jobs: { "order.revoked:cs_test_money:refund": "order.revoked" },
      },
    );
  });

  it("a pending refund: said pending until it succeeds, in any order", () => {
    const start = paidOrder();
    const pending = [refund("re_p", 1200, "pending", 10)];
    everyOrdering(start, pending, {
      row: { ...start, stripeChargeId: "ch_1", amountRefunded: 1200, amountRefundPending: 1200 },
      refunds: [{ id: "re_p", amount: 1200, status: "pending" }],
      jobs: {},
    });
    everyOrdering(start, [...pending, charge(1200, 10), refund("re_p", 1200, "succeeded", 30)], {
      row: { ...start, stripeChargeId: "ch_1", amountRefunded: 1200, chargeAmountRefunded: 1200 },
      refunds: [{ id: "re_p", amount: 1200, status: "succeeded" }],
      jobs: {},
    });
  });

  it("a refund that fails gives its amount back, in any order and twice", () => {
    const start = paidOrder();
    // A partial refund that fails, beside one that stays: 800 refunded in the end.
    everyOrdering(
      start,
      [
        refund("re_f", 1200, "pending", 10),
        charge(1200, 10),
        refund("re_ok", 800, "succeeded", 20),
        charge(2000, 20),
        refund("re_f", 1200, "failed", 30),
      ],
      {
        row: { ...start, stripeChargeId: "ch_1", amountRefunded: 800, chargeAmountRefunded: 2000 },
        refunds: [
          { id: "re_f", amount: 1200, status: "failed" },
          { id: "re_ok", amount: 800, status: "succeeded" },
        ],
        jobs: {},
      },
    );
  });

  it("a full refund that succeeds, then fails: the amount comes back; the revocation is not asked for twice", () => {
    const start = paidOrder();
    const news = [refund("re_full", 6400, "succeeded", 10), charge(6400, 10), refund("re_full", 6400, "failed", 30)];
    // Whether it was revoked depends on whether the shop saw it succeed first; the row does not.
    everyOrdering(
      start,
      news,
      {
        row: { ...start, stripeChargeId: "ch_1", amountRefunded: 0, chargeAmountRefunded: 6400 },
        refunds: [{ id: "re_full", amount: 6400, status: "failed" }],
        jobs: {},
      },
      { jobs: false },
    );
    expect(run(start, news).jobs).toEqual({ "order.revoked:cs_test_money:refund": "order.revoked" });
  });

  it("an order already refunded in full asks for no second revocation", () => {
    const start = { ...paidOrder(), stripeChargeId: "ch_1", amountRefunded: 6400 };
    expect(transition(start, charge(6400, 30), context).jobs).toEqual([]);
  });
});

describe("disputes", () => {
  it("open then lost, in any order and twice: lost is final, revoked once for that dispute", () => {
    const start = paidOrder();
    everyOrdering(start, [dispute("dp_1", "open", 10), dispute("dp_1", "open", 11), dispute("dp_1", "lost", 20)], {
      row: { ...start, stripeChargeId: "ch_1", disputeStatus: "lost" },
      jobs: { "order.revoked:cs_test_money:dispute:dp_1": "order.revoked" },
    });
  });

  it("open then won: won is final, reinstated once for that dispute", () => {
    const start = paidOrder();
    everyOrdering(start, [dispute("dp_2", "open", 10), dispute("dp_2", "won", 20)], {
      row: { ...start, stripeChargeId: "ch_1", disputeStatus: "won" },
      jobs: { "order.reinstated:cs_test_money:dp_2": "order.reinstated" },
    });
  });

  it("a lost dispute and a full refund are two causes, each revoking once", () => {
    const start = paidOrder();
    everyOrdering(start, [dispute("dp_3", "lost", 10), charge(6400, 20)], {
      row: {
        ...start,
        stripeChargeId: "ch_1",
        disputeStatus: "lost",
        amountRefunded: 6400,
        chargeAmountRefunded: 6400,
      },
      jobs: {
        "order.revoked:cs_test_money:dispute:dp_3": "order.revoked",
        "order.revoked:cs_test_money:refund": "order.revoked",
      },
    });
  });
});

describe("renewals", () => {
  it("a renewal that fails then succeeds ends paid and renewed once", () => {
    const start = paidOrder("subscription");
    everyOrdering(start, [invoice("in_2", false, 100), invoice("in_2", true, 200)], {
      row: { ...start, invoiceStatus: "paid", invoiceEventAt: 200 },
      jobs: { "subscription.renewed:in_2": "subscription.renewed" },
    });
  });

  it("a renewal that fails after an earlier one was paid says payment failed", () => {
    const start = paidOrder("subscription");
    everyOrdering(start, [invoice("in_2", true, 100), invoice("in_3", false, 200)], {
      row: { ...start, invoiceStatus: "payment_failed", invoiceEventAt: 200 },
      jobs: { "subscription.renewed:in_2": "subscription.renewed" },
    });
  });

  it("the first invoice (billing_reason subscription_create) is not a renewal", () => {
    const start = paidOrder("subscription");
    const decision = transition(start, invoice("in_1", true, 50, false), context);
    expect(decision.jobs).toEqual([]);
    expect(decision.update).toEqual({});
  });
});
