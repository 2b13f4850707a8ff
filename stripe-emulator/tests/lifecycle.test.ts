import http from "node:http";
import type { AddressInfo } from "node:net";

import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from "vitest";

import { buildCharge, buildDispute, buildInvoice, buildRefund } from "../lifecycle-objects";
import { startEmulator, type Emulator } from "../server";
import {
  chargeReference,
  disputeReference,
  invoiceLineReference,
  invoiceReference,
  refundReference,
} from "./lifecycle-references";

/**
 * What the emulator does after a payment, as a client of Stripe sees it
 * through the real `stripe` SDK: charges, refunds, disputes, subscription
 * renewals and their invoices, the events each sends (in order, signed, and
 * steered by the delivery switches), and the dashboard's plain forms.
 */

const SECRET = "whsec_lifecycle_tests_secret";
const CERAMIC = "price_1TSceramicPourOver"; // 32.00 USD, one-time
const CLUB = "price_1TScoffeeClub"; // 18.00 USD a month

let emulator: Emulator;
let stripe: Stripe;

const keys = (value: unknown) => Object.keys(value as object).sort();

async function control<T = unknown>(method: string, route: string, body?: unknown) {
  const response = await fetch(`${emulator.url}/_emulator${route}`, {
    method,
    headers: body === undefined ? undefined : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** A paid Checkout Session: payment mode (two drippers, $64.00) unless a subscription. */
async function paidSession(options: { mode?: "payment" | "subscription"; method?: "card" | "delayed" } = {}) {
  const subscription = options.mode === "subscription";
  const session = await stripe.checkout.sessions.create({
    mode: subscription ? "subscription" : "payment",
    line_items: [subscription ? { price: CLUB, quantity: 1 } : { price: CERAMIC, quantity: 2 }],
    success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
  });
  const paid = await control<Stripe.Checkout.Session>("POST", `/sessions/${session.id}/pay`, {
    method: options.method ?? "card",
    email: "buyer@example.com",
  });
  expect(paid.status).toBe(200);
  return paid.body;
}

async function chargeOf(session: Stripe.Checkout.Session) {
  const intent = await stripe.paymentIntents.retrieve(session.payment_intent as string, { expand: ["latest_charge"] });
  return intent.latest_charge as Stripe.Charge;
}

/** Event types, oldest first. */
async function eventTypes() {
  return (await stripe.events.list({ limit: 100 })).data.map((e) => e.type).reverse();
}

async function eventsSince(count: number) {
  const all = (await stripe.events.list({ limit: 100 })).data.reverse();
  return all.slice(count);
}

type Received = { event: Stripe.Event };

class Receiver {
  received: Received[] = [];
  rejected: string[] = [];
  url = "";
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        const body = Buffer.concat(chunks).toString("utf8");
        this.received.push({
          event: Stripe.webhooks.constructEvent(body, req.headers["stripe-signature"] as string, SECRET),
        });
      } catch (error) {
        this.rejected.push(String(error));
      }
      res.writeHead(200).end("ok");
    });
  });
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/stripe/webhook`;
  }
  async waitFor(count: number, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} deliveries, got ${this.received.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received;
  }
  close() {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const receiver = new Receiver();

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, quiet: true, retryBaseMs: 40, maxAttempts: 3 });
  stripe = new Stripe("sk_test_lifecycle", {
    host: "127.0.0.1",
    port: emulator.port,
    protocol: "http",
    maxNetworkRetries: 0,
    telemetry: false,
  });
  await receiver.start();
});

afterAll(async () => {
  await emulator.close();
  await receiver.close();
});

beforeEach(async () => {
  await control("POST", "/reset");
  await control("POST", "/webhook", { url: null });
  receiver.received = [];
  receiver.rejected = [];
});

describe("shapes", () => {
  it("builds the SDK's own types (checked by tsc), with the reference objects' keys", () => {
    expectTypeOf(buildCharge).returns.toEqualTypeOf<Stripe.Charge>();
    expectTypeOf(buildRefund).returns.toEqualTypeOf<Stripe.Refund>();
    expectTypeOf(buildDispute).returns.toEqualTypeOf<Stripe.Dispute>();
    expectTypeOf(buildInvoice).returns.toEqualTypeOf<Stripe.Invoice>();
    expect(keys(chargeReference)).toContain("disputed");
    expect(keys(invoiceReference)).not.toContain("subscription");
    expect(keys(invoiceReference)).not.toContain("payment_intent");
  });
});

describe("charges behind paid checkouts", () => {
  it("a card payment has a payment intent and a succeeded charge, retrievable and listable", async () => {
    const session = await paidSession();
    const charge = await chargeOf(session);
    expect(keys(charge)).toEqual(keys(chargeReference));
    expect(charge).toMatchObject({
      object: "charge",
      amount: 6400,
      amount_captured: 6400,
      amount_refunded: 0,
      currency: "usd",
      status: "succeeded",
      paid: true,
      captured: true,
      refunded: false,
      disputed: false,
      payment_intent: session.payment_intent,
      billing_details: { email: "buyer@example.com" },
      payment_method_details: { type: "card", card: { last4: "4242" } },
    });
    expect(charge.id).toMatch(/^ch_/);
    const retrieved = await stripe.charges.retrieve(charge.id, { expand: ["payment_intent"] });
    expect((retrieved.payment_intent as Stripe.PaymentIntent).id).toBe(session.payment_intent);
    const listed = await stripe.charges.list({ payment_intent: session.payment_intent as string });
    expect(listed.data.map((c) => c.id)).toEqual([charge.id]);
    await expect(stripe.charges.retrieve("ch_nope")).rejects.toMatchObject({
      statusCode: 404,
      code: "resource_missing",
    });
  });

  it("a bank transfer gets its charge once the payment succeeds", async () => {
    const session = await paidSession({ method: "delayed" });
    expect((await stripe.paymentIntents.retrieve(session.payment_intent as string)).latest_charge).toBeNull();
    await control("POST", `/sessions/${session.id}/async_succeed`);
    const charge = await chargeOf(session);
    expect(charge).toMatchObject({ status: "succeeded", payment_method_details: { type: "us_bank_account" } });
  });
});

describe("refunds", () => {
  it("refunds part, then the rest, with Stripe's events, idempotency and errors", async () => {
    const session = await paidSession();
    const intent = session.payment_intent as string;
    const before = (await eventTypes()).length;

    const partial = await stripe.refunds.create(
      { payment_intent: intent, amount: 1200, reason: "requested_by_customer", metadata: { order: "42" } },
      { idempotencyKey: "refund-42-a" },
    );
    expect(keys(partial)).toEqual(keys(refundReference));
    expect(partial).toMatchObject({
      object: "refund",
      amount: 1200,
      currency: "usd",
      status: "succeeded",
      payment_intent: intent,
      reason: "requested_by_customer",
      metadata: { order: "42" },
    });
    expect(partial.id).toMatch(/^re_/);

    // The same key and parameters replay the refund and refund nothing more.
    const replay = await stripe.refunds.create(
      { payment_intent: intent, amount: 1200, reason: "requested_by_customer", metadata: { order: "42" } },
      { idempotencyKey: "refund-42-a" },
    );
    expect(replay.id).toBe(partial.id);
    expect((replay.lastResponse.headers as Record<string, string>)["idempotent-replayed"]).toBe("true");
    await expect(
      stripe.refunds.create({ payment_intent: intent, amount: 500 }, { idempotencyKey: "refund-42-a" }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);

    const events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual(["refund.created", "charge.refunded"]);
    expect(events[0]!.data.object).toMatchObject({ id: partial.id, amount: 1200 });
    expect(events[1]!.data.object).toMatchObject({ object: "charge", amount_refunded: 1200, refunded: false });
    expect(events[1]!.data.previous_attributes).toEqual({ amount_refunded: 0 });
    expect(events[0]!.request).toEqual({ id: partial.lastResponse.requestId, idempotency_key: "refund-42-a" });

    const charge = await chargeOf(session);
    const tooMuch = await stripe.refunds.create({ charge: charge.id, amount: 5300 }).catch((e: unknown) => e);
    expect(tooMuch).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(tooMuch).toMatchObject({
      statusCode: 400,
      code: "amount_too_large",
      param: "amount",
      message: "Refund amount ($53.00) is greater than unrefunded amount on charge ($52.00)",
    });

    const rest = await stripe.refunds.create({ charge: charge.id });
    expect(rest).toMatchObject({ amount: 5200, charge: charge.id, payment_intent: intent });
    const refunded = await stripe.charges.retrieve(charge.id, { expand: ["refunds"] });
    expect(refunded).toMatchObject({ amount_refunded: 6400, refunded: true });
    expect(refunded.refunds!.data.map((r) => r.id)).toEqual([rest.id, partial.id]);
    const last = (await eventsSince(before)).at(-1)!;
    expect(last.type).toBe("charge.refunded");
    expect(last.data.previous_attributes).toEqual({ amount_refunded: 1200, refunded: false });

    await expect(stripe.refunds.create({ payment_intent: intent })).rejects.toMatchObject({
      code: "charge_already_refunded",
    });
    expect((await eventsSince(before)).length).toBe(4);
  });

  const invalid: Array<[string, (intent: string) => Record<string, unknown>, string | undefined, RegExp]> = [
    [
      "an unknown payment intent",
      () => ({ payment_intent: "pi_nope" }),
      "payment_intent",
      /No such payment_intent: 'pi_nope'/,
    ],
    ["an unknown charge", () => ({ charge: "ch_nope" }), "charge", /No such charge: 'ch_nope'/],
    ["neither charge nor payment intent", () => ({ amount: 100 }), undefined, /payment_intent or charge/],
    ["a zero amount", (pi) => ({ payment_intent: pi, amount: 0 }), "amount", /positive integer/],
    ["a fractional amount", (pi) => ({ payment_intent: pi, amount: 1.5 }), "amount", /Invalid integer/],
    ["an unknown reason", (pi) => ({ payment_intent: pi, reason: "changed_mind" }), "reason", /Invalid reason/],
    ["another currency", (pi) => ({ payment_intent: pi, currency: "eur" }), "currency", /currency/],
    ["an unknown parameter", (pi) => ({ payment_intent: pi, colour: "blue" }), "colour", /unknown parameter: colour/],
  ];
  it.each(invalid)("refuses %s, changing nothing", async (_name, params, param, message) => {
    const session = await paidSession();
    const error = await stripe.refunds
      .create(params(session.payment_intent as string) as Stripe.RefundCreateParams)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((error as Stripe.errors.StripeError).statusCode).toBe(400);
    expect((error as Stripe.errors.StripeError).param).toBe(param);
    expect((error as Error).message).toMatch(message);
    expect((await chargeOf(session)).amount_refunded).toBe(0);
    expect((await stripe.refunds.list()).data).toHaveLength(0);
    expect(await eventTypes()).toEqual(["checkout.session.completed"]);
  });

  it("retrieves, updates and lists refunds by payment intent and charge", async () => {
    const one = await paidSession();
    const two = await paidSession();
    const a = await stripe.refunds.create({ payment_intent: one.payment_intent as string, amount: 100 });
    const b = await stripe.refunds.create({ payment_intent: two.payment_intent as string, amount: 200 });
    const c = await stripe.refunds.create({ payment_intent: one.payment_intent as string, amount: 300 });

    const retrieved = await stripe.refunds.retrieve(a.id, { expand: ["charge"] });
    expect((retrieved.charge as Stripe.Charge).amount_refunded).toBe(400);
    expect((await stripe.refunds.list()).data.map((r) => r.id)).toEqual([c.id, b.id, a.id]);
    const byIntent = await stripe.refunds.list({ payment_intent: one.payment_intent as string });
    expect(byIntent.data.map((r) => r.id)).toEqual([c.id, a.id]);
    const byCharge = await stripe.refunds.list({ charge: b.charge as string });
    expect(byCharge.data.map((r) => r.id)).toEqual([b.id]);
    const page = await stripe.refunds.list({ limit: 1, starting_after: c.id });
    expect(page.data.map((r) => r.id)).toEqual([b.id]);
    expect(page.has_more).toBe(true);

    const updated = await stripe.refunds.update(a.id, { metadata: { note: "late" } });
    expect(updated.metadata).toEqual({ note: "late" });
    await expect(stripe.refunds.retrieve("re_nope")).rejects.toMatchObject({
      statusCode: 404,
      code: "resource_missing",
    });
  });

  it("refunds an order through the control API, and a refund that fails gives its amount back", async () => {
    const session = await paidSession();
    const refunded = await control<Stripe.Refund>("POST", `/sessions/${session.id}/refund`, { amount: 2000 });
    expect(refunded.status).toBe(200);
    expect(refunded.body).toMatchObject({ amount: 2000, status: "succeeded", payment_intent: session.payment_intent });
    const before = (await eventTypes()).length;

    const failed = await control<Stripe.Refund>("POST", `/refunds/${refunded.body.id}/fail`, {
      failure_reason: "lost_or_stolen_card",
    });
    expect(failed.body).toMatchObject({ status: "failed", failure_reason: "lost_or_stolen_card" });
    expect(failed.body.failure_balance_transaction).toMatch(/^txn_/);
    expect(keys(failed.body)).toEqual(
      keys({ ...refundReference, failure_reason: "", failure_balance_transaction: "" }),
    );
    const events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual(["refund.updated", "refund.failed"]);
    expect(events[0]!.data.previous_attributes).toEqual({ status: "succeeded" });
    expect(events[1]!.data.object).toMatchObject({ id: refunded.body.id, status: "failed" });
    expect((await chargeOf(session)).amount_refunded).toBe(0);

    expect((await control("POST", `/refunds/${refunded.body.id}/fail`)).status).toBe(400);
    expect((await control("POST", "/refunds/re_nope/fail")).status).toBe(404);
    expect((await control("POST", `/refunds/${refunded.body.id}/fail`, { failure_reason: "bored" })).status).toBe(400);
    // The amount given back can be refunded again.
    expect((await stripe.refunds.create({ payment_intent: session.payment_intent as string })).amount).toBe(6400);
  });

  it("leaves a bank-transfer refund pending until it settles (refund.updated)", async () => {
    const session = await paidSession({ method: "delayed" });
    await control("POST", `/sessions/${session.id}/async_succeed`);
    const refund = await stripe.refunds.create({ payment_intent: session.payment_intent as string, amount: 1000 });
    expect(refund).toMatchObject({ status: "pending", pending_reason: "processing" });
    const before = (await eventTypes()).length;
    const settled = await control<Stripe.Refund>("POST", `/refunds/${refund.id}/succeed`);
    expect(settled.body.status).toBe("succeeded");
    expect(settled.body.pending_reason).toBeUndefined();
    const events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual(["refund.updated"]);
    expect(events[0]!.data.previous_attributes).toEqual({ status: "pending" });
    expect((await control("POST", `/refunds/${refund.id}/succeed`)).status).toBe(400);

    const card = await paidSession();
    const held = await control<Stripe.Refund>("POST", `/sessions/${card.id}/refund`, { pending: true });
    expect(held.body).toMatchObject({ status: "pending", amount: 6400 });
    expect((await control<Stripe.Refund>("POST", `/refunds/${held.body.id}/fail`)).body.status).toBe("failed");
  });

  it("cannot refund an order that is not paid", async () => {
    const session = await stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{ price: CERAMIC, quantity: 1 }],
    });
    const answer = await control<{ error: { message: string } }>("POST", `/sessions/${session.id}/refund`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/no successful payment/);
    expect((await control("POST", "/sessions/cs_test_nope/refund")).status).toBe(404);
  });
});

describe("disputes", () => {
  it("opens a dispute, takes evidence, and closes it won: funds withdrawn then reinstated", async () => {
    const session = await paidSession();
    const before = (await eventTypes()).length;
    const opened = await control<Stripe.Dispute>("POST", `/sessions/${session.id}/dispute`, {
      reason: "product_not_received",
    });
    expect(opened.status).toBe(200);
    const dispute = opened.body;
    expect(keys(dispute)).toEqual(keys(disputeReference));
    expect(dispute).toMatchObject({
      object: "dispute",
      amount: 6400,
      currency: "usd",
      status: "needs_response",
      reason: "product_not_received",
      payment_intent: session.payment_intent,
      is_charge_refundable: false,
    });
    expect(dispute.id).toMatch(/^du_/);
    expect(dispute.balance_transactions.map((t) => t.amount)).toEqual([-6400]);
    const charge = await stripe.charges.retrieve(dispute.charge as string);
    expect(charge.disputed).toBe(true);
    await expect(stripe.refunds.create({ charge: charge.id })).rejects.toMatchObject({ code: "charge_disputed" });
    expect((await control("POST", `/charges/${charge.id}/dispute`)).status).toBe(400);

    const updated = await control<Stripe.Dispute>("POST", `/disputes/${dispute.id}/update`, {
      evidence: { uncategorized_text: "Tracking number 1Z999" },
    });
    expect(updated.body).toMatchObject({
      status: "under_review",
      evidence: { uncategorized_text: "Tracking number 1Z999" },
      evidence_details: { has_evidence: true, submission_count: 1 },
    });

    const closed = await control<Stripe.Dispute>("POST", `/disputes/${dispute.id}/close`, { status: "won" });
    expect(closed.body.status).toBe("won");
    expect(closed.body.balance_transactions.map((t) => t.amount)).toEqual([-6400, 6400]);

    const events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual([
      "charge.dispute.created",
      "charge.dispute.funds_withdrawn",
      "charge.dispute.updated",
      "charge.dispute.closed",
      "charge.dispute.funds_reinstated",
    ]);
    expect(events[0]!.data.object).toMatchObject({ id: dispute.id, status: "needs_response", charge: charge.id });
    expect(events[2]!.data.previous_attributes).toMatchObject({ status: "needs_response" });
    expect(events[3]!.data.object).toMatchObject({ status: "won" });
    expect(events[3]!.data.previous_attributes).toEqual({ status: "under_review" });

    expect((await control("POST", `/disputes/${dispute.id}/close`, { status: "lost" })).status).toBe(400);
    expect(await stripe.disputes.retrieve(dispute.id)).toMatchObject({ status: "won" });
    // A won dispute leaves the charge refundable.
    expect((await stripe.refunds.create({ charge: charge.id, amount: 100 })).status).toBe("succeeded");
  });

  it("closes a dispute lost (control or the merchant accepting it), without funds reinstated", async () => {
    const one = await paidSession();
    const two = await paidSession();
    const a = (await control<Stripe.Dispute>("POST", `/sessions/${one.id}/dispute`)).body;
    const b = (await control<Stripe.Dispute>("POST", `/charges/${(await chargeOf(two)).id}/dispute`, { amount: 1000 }))
      .body;
    expect(a).toMatchObject({ reason: "fraudulent", amount: 6400 });
    expect(b.amount).toBe(1000);
    const before = (await eventTypes()).length;
    expect((await control<Stripe.Dispute>("POST", `/disputes/${a.id}/close`, { status: "lost" })).body.status).toBe(
      "lost",
    );
    const accepted = await stripe.disputes.close(b.id);
    expect(accepted.status).toBe("lost");
    expect((await eventsSince(before)).map((e) => e.type)).toEqual(["charge.dispute.closed", "charge.dispute.closed"]);
    expect((await stripe.disputes.list({ charge: b.charge as string })).data.map((d) => d.id)).toEqual([b.id]);
    expect((await stripe.disputes.list()).data.map((d) => d.id)).toEqual([b.id, a.id]);
    await expect(stripe.refunds.create({ charge: a.charge as string })).rejects.toMatchObject({
      code: "charge_disputed",
    });
    expect((await control("POST", `/disputes/${a.id}/close`, { status: "maybe" })).status).toBe(400);
    expect((await control("POST", "/disputes/du_nope/close", { status: "won" })).status).toBe(404);
  });
});

describe("subscription renewals", () => {
  it("a subscription checkout has a paid first invoice with a charge", async () => {
    const session = await paidSession({ mode: "subscription" });
    expect(session.invoice).toMatch(/^in_/);
    const invoice = await stripe.invoices.retrieve(session.invoice as string, { expand: ["payments"] });
    expect(invoice).toMatchObject({
      status: "paid",
      billing_reason: "subscription_create",
      amount_paid: 1800,
      customer: session.customer,
      parent: { type: "subscription_details", subscription_details: { subscription: session.subscription } },
    });
    expect(keys(invoice.lines.data[0])).toEqual(keys(invoiceLineReference));
    const payment = invoice.payments!.data[0]!;
    expect(payment).toMatchObject({
      object: "invoice_payment",
      status: "paid",
      amount_paid: 1800,
      invoice: invoice.id,
    });
    const intentId = payment.payment.payment_intent as string;
    const intent = await stripe.paymentIntents.retrieve(intentId, { expand: ["latest_charge"] });
    expect((intent.latest_charge as Stripe.Charge).amount).toBe(1800);
    // The order's charge can be refunded and disputed like any other.
    expect((await control<Stripe.Refund>("POST", `/sessions/${session.id}/refund`, { amount: 800 })).body.amount).toBe(
      800,
    );
  });

  it("advances a period with the invoice paid, then fails one, then pays it on retry", async () => {
    const session = await paidSession({ mode: "subscription" });
    const id = session.subscription as string;
    const start = await stripe.subscriptions.retrieve(id);
    const firstEnd = start.items.data[0]!.current_period_end;
    let before = (await eventTypes()).length;

    const renewed = await control<{ subscription: Stripe.Subscription; invoice: Stripe.Invoice }>(
      "POST",
      `/subscriptions/${id}/advance`,
      { outcome: "paid" },
    );
    expect(renewed.status).toBe(200);
    const invoice = renewed.body.invoice;
    expect(keys(invoice)).toEqual(keys(invoiceReference));
    expect(invoice).toMatchObject({
      status: "paid",
      billing_reason: "subscription_cycle",
      amount_due: 1800,
      amount_paid: 1800,
      amount_remaining: 0,
      parent: { subscription_details: { subscription: id } },
      lines: { data: [{ amount: 1800, period: { start: firstEnd } }] },
    });
    let events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "invoice.paid",
      "invoice.payment_succeeded",
    ]);
    const moved = events[0]!.data.object as Stripe.Subscription;
    expect(moved.items.data[0]!.current_period_start).toBe(firstEnd);
    expect(moved.items.data[0]!.current_period_end).toBeGreaterThan(firstEnd);
    expect(moved.latest_invoice).toBe(invoice.id);
    expect(events[1]!.data.object).toMatchObject({ id: invoice.id, status: "draft" });
    expect(events[3]!.data.object).toMatchObject({ id: invoice.id, status: "paid" });

    before = (await eventTypes()).length;
    const failed = await control<{ subscription: Stripe.Subscription; invoice: Stripe.Invoice }>(
      "POST",
      `/subscriptions/${id}/advance`,
      { outcome: "failed" },
    );
    expect(failed.body.subscription.status).toBe("past_due");
    expect(failed.body.invoice).toMatchObject({ status: "open", attempted: true, attempt_count: 1, amount_paid: 0 });
    events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "invoice.payment_failed",
      "customer.subscription.updated",
    ]);
    expect(events[4]!.data.object).toMatchObject({ id, status: "past_due" });
    expect(events[4]!.data.previous_attributes).toEqual({ status: "active" });

    // A past-due subscription retries its open invoice: no new period, no new invoice.
    before = (await eventTypes()).length;
    const retried = await control<{ subscription: Stripe.Subscription; invoice: Stripe.Invoice }>(
      "POST",
      `/subscriptions/${id}/advance`,
      { outcome: "paid" },
    );
    expect(retried.body.invoice.id).toBe(failed.body.invoice.id);
    expect(retried.body.invoice).toMatchObject({ status: "paid", attempt_count: 2 });
    expect(retried.body.subscription.status).toBe("active");
    events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual([
      "invoice.paid",
      "invoice.payment_succeeded",
      "customer.subscription.updated",
    ]);
    expect(events[2]!.data.previous_attributes).toEqual({ status: "past_due" });

    const invoices = await stripe.invoices.list({ subscription: id });
    expect(invoices.data.map((i) => i.billing_reason)).toEqual([
      "subscription_cycle",
      "subscription_cycle",
      "subscription_create",
    ]);
    expect((await stripe.invoices.list({ subscription: id, status: "paid" })).data).toHaveLength(3);
    expect((await stripe.invoices.list({ subscription: "sub_other" })).data).toHaveLength(0);
    await expect(stripe.invoices.retrieve("in_nope")).rejects.toMatchObject({ statusCode: 404 });
  });

  it("refuses to renew a canceled subscription, or with an unknown outcome", async () => {
    const session = await paidSession({ mode: "subscription" });
    const id = session.subscription as string;
    expect((await control("POST", `/subscriptions/${id}/advance`, { outcome: "maybe" })).status).toBe(400);
    await control("POST", `/subscriptions/${id}/cancel`);
    expect((await control("POST", `/subscriptions/${id}/advance`)).status).toBe(400);
    expect((await control("POST", "/subscriptions/sub_nope/advance")).status).toBe(404);
  });
});

describe("webhook delivery of the new events", () => {
  it("delivers them signed, in order, and the hold/reverse switches still apply", async () => {
    await control("POST", "/webhook", { url: receiver.url, secret: SECRET });
    const session = await paidSession();
    await receiver.waitFor(1);
    await control("POST", `/sessions/${session.id}/refund`, { amount: 500 });
    const received = await receiver.waitFor(3);
    expect(receiver.rejected).toEqual([]);
    expect(
      received
        .slice(1)
        .map((r) => r.event.type)
        .sort(),
    ).toEqual(["charge.refunded", "refund.created"]);

    await control("POST", "/delivery", { mode: "hold", order: "reverse" });
    const dispute = (await control<Stripe.Dispute>("POST", `/sessions/${session.id}/dispute`)).body;
    await control("POST", `/disputes/${dispute.id}/close`, { status: "won" });
    expect(receiver.received).toHaveLength(3);
    expect((await control<{ released: number }>("POST", "/deliveries/release")).body).toEqual({ released: 4 });
    const all = await receiver.waitFor(7);
    expect(all.slice(3).map((r) => r.event.type)).toEqual([
      "charge.dispute.funds_reinstated",
      "charge.dispute.closed",
      "charge.dispute.funds_withdrawn",
      "charge.dispute.created",
    ]);
  });
});

describe("dashboard", () => {
  const post = (path: string, form: Record<string, string>) =>
    fetch(`${emulator.url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
      redirect: "manual",
    });

  it("lists paid checkouts with plain forms that refund, dispute and renew", async () => {
    const session = await paidSession();
    const subscription = await paidSession({ mode: "subscription" });
    const charge = await chargeOf(session);
    const page = await fetch(`${emulator.url}/dashboard`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`id="session-${session.id}"`);
    expect(html).toContain(`<form method="post" action="/dashboard/charges/${charge.id}/refund">`);
    expect(html).toContain(`id="renew-paid-${subscription.subscription as string}"`);
    expect(html).not.toMatch(/<script/i);

    const refunded = await post(`/dashboard/charges/${charge.id}/refund`, { amount: "1200" });
    expect(refunded.status).toBe(303);
    expect(refunded.headers.get("location")).toBe("/dashboard?done=Refund%20created.");
    expect((await stripe.charges.retrieve(charge.id)).amount_refunded).toBe(1200);
    const after = await (await fetch(`${emulator.url}${refunded.headers.get("location")}`)).text();
    expect(after).toContain('<p id="notice" role="status">Refund created.</p>');
    expect(after).toContain("$12.00");

    const tooMuch = await post(`/dashboard/charges/${charge.id}/refund`, { amount: "99999" });
    expect(tooMuch.status).toBe(400);
    expect(await tooMuch.text()).toMatch(/<div id="error" role="alert">Refund amount \(\$999\.99\) is greater/);

    expect((await post(`/dashboard/charges/${charge.id}/dispute`, {})).status).toBe(303);
    const dispute = (await stripe.disputes.list()).data[0]!;
    expect((await post(`/dashboard/disputes/${dispute.id}/close`, { status: "lost" })).status).toBe(303);
    expect((await stripe.disputes.retrieve(dispute.id)).status).toBe("lost");

    const renewal = await post(`/dashboard/subscriptions/${subscription.subscription as string}/advance`, {
      outcome: "failed",
    });
    expect(renewal.status).toBe(303);
    expect((await stripe.subscriptions.retrieve(subscription.subscription as string)).status).toBe("past_due");
    expect((await post("/dashboard/refunds/re_nope/fail", {})).status).toBe(404);
  });
});
