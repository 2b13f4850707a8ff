import { describe, expect, it } from "vitest";

import type { CheckoutSession } from "../../db/schema/types";
import { afterPayment, stateInWords } from "~/lib/orders.server";

/** What /orders and the success page say about the money after the payment. */

const paid = (over: Partial<CheckoutSession> = {}): CheckoutSession =>
  ({
    id: "cs_test_words",
    shopperId: "s",
    productId: 1,
    quantity: 1,
    mode: "payment",
    status: "complete",
    paymentStatus: "paid",
    amountTotal: 6400,
    currency: "usd",
    amountRefunded: 0,
    amountRefundPending: 0,
    disputeStatus: null,
    invoiceStatus: null,
    subscriptionStatus: null,
    flag: null,
    ...over,
  }) as CheckoutSession;

describe("the money after the payment, in words", () => {
  it("nothing happened: Paid", () => {
    expect(afterPayment(paid())).toBeNull();
    expect(stateInWords(paid())).toBe("Paid");
  });
  it("a partial refund, then a full one", () => {
    expect(stateInWords(paid({ amountRefunded: 1200 }))).toBe("Refunded $12.00 of $64.00");
    expect(stateInWords(paid({ amountRefunded: 6400 }))).toBe("Refunded");
  });
  it("a pending refund is said apart from what is back on the card", () => {
    expect(stateInWords(paid({ amountRefunded: 1200, amountRefundPending: 1200 }))).toBe(
      "Refund pending: $12.00 of $64.00",
    );
    expect(stateInWords(paid({ amountRefunded: 2000, amountRefundPending: 800 }))).toBe(
      "Refunded $12.00 of $64.00. Refund pending: $8.00",
    );
    expect(stateInWords(paid({ amountRefunded: 6400, amountRefundPending: 5200 }))).toBe(
      "Refunded $12.00 of $64.00. Refund pending: $52.00",
    );
  });
  it("a dispute, open, won, lost", () => {
    expect(stateInWords(paid({ disputeStatus: "open" }))).toBe("Payment disputed");
    expect(stateInWords(paid({ disputeStatus: "won" }))).toMatch(/^Payment disputed: .*payment stands/);
    expect(stateInWords(paid({ disputeStatus: "lost" }))).toMatch(/^Payment disputed: .*returned to your card/);
  });
  it("a subscription whose renewal failed, and again once a later one is paid", () => {
    const sub = { mode: "subscription" as const, subscriptionStatus: "past_due" };
    expect(stateInWords(paid({ ...sub, invoiceStatus: "payment_failed" }))).toBe("Payment failed: update your card");
    expect(stateInWords(paid({ ...sub, subscriptionStatus: "active", invoiceStatus: "paid" }))).toBe(
      "Paid: Subscription active",
    );
  });
});
