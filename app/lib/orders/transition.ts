import type { CheckoutSession, Refund } from "../../../db/schema/types";
import type { SessionEffect } from "./events";

/**
 * The state machine's rule, with no I/O: the stored order and one piece of
 * news in, what to write out. Each dialect's store (sqlite-store.server.ts,
 * pg-store.server.ts) reads and locks the row, calls this, and writes the
 * result in the same transaction; reconcile's dry run calls it to say what
 * would move.
 *
 * Rules: open -> complete | expired; unpaid -> paid | no_payment_required |
 * failed; nothing moves back, nothing undoes paid. Fulfillment happens once,
 * when a checkout first becomes paid (or needs no payment) and nothing about
 * it looks wrong.
 */

/** What a Checkout Session says, read defensively: a field of an odd shape is null. */
export type SessionFacts = {
  id: string;
  status: string | null;
  paymentStatus: string | null;
  livemode: boolean | null;
  mode: string | null;
  clientReferenceId: string | null;
  currency: string | null;
  /** Before discounts, tax and shipping: what the shop's line items come to. */
  amountSubtotal: number | null;
  amountTotal: number | null;
  /** total_details: what promotion codes, tax and shipping changed. */
  amountDiscount: number | null;
  amountTax: number | null;
  amountShipping: number | null;
  customerId: string | null;
  subscriptionId: string | null;
  paymentIntentId: string | null;
  paymentLinkId: string | null;
  email: string | null;
};

export type SessionNews = { kind: "session"; effect: SessionEffect | "retrieved"; session: SessionFacts };
export type SubscriptionNews = { kind: "subscription"; subscriptionId: string; status: string; created: number };
/** A Charge (charge.refunded): how much of it is refunded so far, pending refunds included. */
export type ChargeNews = {
  kind: "charge";
  chargeId: string;
  paymentIntentId: string | null;
  amountRefunded: number;
  created: number;
};
/** A Refund (refund.created, refund.updated, refund.failed, or retrieved by reconcile). */
export type RefundNews = {
  kind: "refund";
  refundId: string;
  chargeId: string | null;
  paymentIntentId: string | null;
  amount: number;
  status: Refund["status"];
  /** The refund's own `created` (unix seconds). */
  refundCreated: number;
  /** The event's `created`, or the time it was retrieved. */
  created: number;
};
/** A refund as the stores keep it, for the rule: the refunded amounts are derived from these. */
export type RefundFact = Pick<Refund, "id" | "amount" | "status">;
/** A Dispute (charge.dispute.*): its status read as open, won or lost. */
export type DisputeNews = {
  kind: "dispute";
  disputeId: string;
  chargeId: string | null;
  paymentIntentId: string | null;
  outcome: "open" | "won" | "lost";
  created: number;
};
/** An Invoice (invoice.paid, invoice.payment_failed) of a subscription. */
export type InvoiceNews = {
  kind: "invoice";
  invoiceId: string;
  subscriptionId: string;
  paid: boolean;
  /** subscription_create is the first payment, which the checkout already records: not a renewal. */
  renewal: boolean;
  created: number;
};
export type News = SessionNews | SubscriptionNews | ChargeNews | RefundNews | DisputeNews | InvoiceNews;
/** Every kind of news reaches the stores. */
export type StoredNews = News;

/**
 * Work the decision hands to the job queue. The key makes a second enqueue a
 * no-op, so each effect happens once per cause however often its news arrives.
 */
export type Job = {
  kind: "order.revoked" | "order.reinstated" | "subscription.renewed";
  key: string;
  payload: Record<string, string>;
};

export type Decision = {
  /** Columns to change (empty: nothing changes); the store adds updated_at. */
  update: Partial<CheckoutSession>;
  /** Mark fulfilled (the store's `UPDATE ... WHERE fulfilled_at IS NULL` decides who wins). */
  fulfill: boolean;
  /** A flag this news raised (the order will not be fulfilled). */
  raisedFlag: string | null;
  /** Remember this Stripe customer for the shopper, unless another shopper has it. */
  linkCustomer: string | null;
  /** A subscription newly linked: its events stored earlier must be applied now. */
  linkedSubscription: string | null;
  /** A payment intent newly linked: its charge, refund and dispute events stored earlier must be applied now. */
  linkedPaymentIntent: string | null;
  /** A refund to insert or update (by id) in the refunds table. */
  refund: Omit<Refund, "updatedAt"> | null;
  /** Jobs this decision enqueues, in the same transaction (kind + key). */
  jobs: Job[];
};

export type Context = { livemode: boolean };

const NOTHING: Decision = {
  update: {},
  fulfill: false,
  raisedFlag: null,
  linkCustomer: null,
  linkedSubscription: null,
  linkedPaymentIntent: null,
  refund: null,
  jobs: [],
};

const str = (value: unknown) => (typeof value === "string" && value !== "" ? value : null);
const int = (value: unknown) => (typeof value === "number" && Number.isSafeInteger(value) ? value : null);
/** An expandable field: an id string, or an object carrying one; anything else is null. */
const idOf = (value: unknown) =>
  typeof value === "string"
    ? str(value)
    : typeof value === "object" && value !== null
      ? str((value as { id?: unknown }).id)
      : null;

/** A Checkout Session object as facts; null when it has no id (nothing to look up). */
export function sessionFacts(object: unknown): SessionFacts | null {
  if (typeof object !== "object" || object === null) return null;
  const s = object as Record<string, unknown>;
  const id = str(s.id);
  if (!id) return null;
  const details = s.customer_details;
  const totals =
    typeof s.total_details === "object" && s.total_details !== null ? (s.total_details as Record<string, unknown>) : {};
  return {
    id,
    status: str(s.status),
    paymentStatus: str(s.payment_status),
    livemode: typeof s.livemode === "boolean" ? s.livemode : null,
    mode: str(s.mode),
    clientReferenceId: str(s.client_reference_id),
    currency: str(s.currency),
    amountSubtotal: int(s.amount_subtotal),
    amountTotal: int(s.amount_total),
    amountDiscount: int(totals.amount_discount),
    amountTax: int(totals.amount_tax),
    amountShipping: int(totals.amount_shipping),
    customerId: idOf(s.customer),
    subscriptionId: idOf(s.subscription),
    paymentIntentId: idOf(s.payment_intent),
    paymentLinkId: idOf(s.payment_link),
    email: typeof details === "object" && details !== null ? str((details as { email?: unknown }).email) : null,
  };
}

/** A Subscription object as news; null when its id or status is not a string. */
export function subscriptionNews(object: unknown, created: number): SubscriptionNews | null {
  if (typeof object !== "object" || object === null) return null;
  const subscriptionId = str((object as { id?: unknown }).id);
  const status = str((object as { status?: unknown }).status);
  return subscriptionId && status ? { kind: "subscription", subscriptionId, status, created } : null;
}

/** A Charge object as news; null without an id or a refunded amount. */
export function chargeNews(object: unknown, created: number): ChargeNews | null {
  if (typeof object !== "object" || object === null) return null;
  const c = object as Record<string, unknown>;
  const chargeId = str(c.id);
  const amountRefunded = int(c.amount_refunded);
  if (!chargeId || amountRefunded === null || amountRefunded < 0) return null;
  return { kind: "charge", chargeId, paymentIntentId: idOf(c.payment_intent), amountRefunded, created };
}

const REFUND_STATUS: Record<string, Refund["status"]> = {
  pending: "pending",
  requires_action: "pending",
  succeeded: "succeeded",
  failed: "failed",
  canceled: "canceled",
};

/** A Refund object as news; null without an id, an amount or a status Stripe documents. */
export function refundNews(object: unknown, created: number): RefundNews | null {
  if (typeof object !== "object" || object === null) return null;
  const r = object as Record<string, unknown>;
  const refundId = str(r.id);
  const amount = int(r.amount);
  const status = Object.hasOwn(REFUND_STATUS, String(r.status)) ? REFUND_STATUS[String(r.status)]! : null;
  if (!refundId || amount === null || amount < 0 || !status) return null;
  return {
    kind: "refund",
    refundId,
    chargeId: idOf(r.charge),
    paymentIntentId: idOf(r.payment_intent),
    amount,
    status,
    refundCreated: int(r.created) ?? created,
    created,
  };
}

/** A Dispute object as news; won and lost are final, every other status is open. */
export function disputeNews(object: unknown, created: number): DisputeNews | null {
  if (typeof object !== "object" || object === null) return null;
  const d = object as Record<string, unknown>;
  const disputeId = str(d.id);
  const status = str(d.status);
  if (!disputeId || !status) return null;
  const outcome = status === "won" ? "won" : status === "lost" ? "lost" : "open";
  return {
    kind: "dispute",
    disputeId,
    chargeId: idOf(d.charge),
    paymentIntentId: idOf(d.payment_intent),
    outcome,
    created,
  };
}

/** An Invoice object as news; its subscription is under parent.subscription_details since API 2025-03-31. */
export function invoiceNews(object: unknown, created: number, paid: boolean): InvoiceNews | null {
  if (typeof object !== "object" || object === null) return null;
  const i = object as Record<string, unknown>;
  const invoiceId = str(i.id);
  const parent = i.parent as { subscription_details?: { subscription?: unknown } } | null | undefined;
  const subscriptionId =
    (typeof parent === "object" && parent !== null ? idOf(parent.subscription_details?.subscription) : null) ??
    idOf(i.subscription);
  if (!invoiceId || !subscriptionId) return null;
  return {
    kind: "invoice",
    invoiceId,
    subscriptionId,
    paid,
    renewal: i.billing_reason !== "subscription_create",
    created,
  };
}

type Status = CheckoutSession["status"];
type PaymentStatus = CheckoutSession["paymentStatus"];

function nextStatus(current: Status, incoming: string | null): Status {
  if (current !== "open") return current; // complete and expired are final
  if (incoming === "complete") return "complete";
  if (incoming === "expired") return "expired";
  return current;
}

function nextPaymentStatus(current: PaymentStatus, incoming: PaymentStatus): PaymentStatus {
  if (current !== "unpaid") return current; // paid, failed, no_payment_required are final
  return incoming;
}

/** Why a completed session must not be fulfilled, or null when all is as the shop asked. */
function mismatch(row: CheckoutSession, session: SessionFacts, context: Context): string | null {
  if (session.livemode !== context.livemode) return "livemode_mismatch";
  if (session.mode !== row.mode) return "mode_mismatch";
  if (session.clientReferenceId !== row.shopperId) return "shopper_mismatch";
  // A completed session always carries both; without them nothing says what was paid.
  if (session.currency === null) return "currency_missing";
  if (session.currency !== row.currency) return "currency_mismatch";
  if (session.amountSubtotal === null || session.amountTotal === null) return "amount_missing";
  // What the shop asked for is the subtotal: promotion codes, tax and shipping
  // legitimately change the total (docs/decisions/155-checkout-options.md).
  // A row from before amount_subtotal was stored asked for its amount_total.
  if (session.amountSubtotal !== (row.amountSubtotal ?? row.amountTotal)) return "amount_mismatch";
  return null;
}

/** `refunds`: the order's stored refunds (the stores load them for charge and refund news). */
export function transition(
  row: CheckoutSession,
  news: News,
  context: Context,
  refunds: readonly RefundFact[] = [],
): Decision {
  switch (news.kind) {
    case "session":
      return sessionTransition(row, news, context);
    case "subscription":
      return subscriptionTransition(row, news);
    case "charge":
      return chargeTransition(row, news, refunds);
    case "refund":
      return refundTransition(row, news, refunds);
    case "dispute":
      return disputeTransition(row, news);
    case "invoice":
      return invoiceTransition(row, news);
  }
}

function sessionTransition(row: CheckoutSession, { effect, session }: SessionNews, context: Context): Decision {
  const incomingPayment: PaymentStatus =
    effect === "async_failed"
      ? "failed"
      : effect === "async_succeeded"
        ? "paid"
        : session.paymentStatus === "paid"
          ? "paid"
          : session.paymentStatus === "no_payment_required"
            ? "no_payment_required"
            : "unpaid";
  // async_* events only happen to completed sessions.
  const incomingStatus = effect === "async_failed" || effect === "async_succeeded" ? "complete" : session.status;

  const status = nextStatus(row.status, incomingStatus);
  const paymentStatus =
    status === "expired" ? row.paymentStatus : nextPaymentStatus(row.paymentStatus, incomingPayment);

  let flag = row.flag;
  if (status === "complete" && !flag) flag = mismatch(row, session, context);

  const update: Partial<CheckoutSession> = {};
  if (status !== row.status) update.status = status;
  if (paymentStatus !== row.paymentStatus) update.paymentStatus = paymentStatus;
  if (flag !== row.flag) update.flag = flag;
  if (!row.customerEmail && session.email) update.customerEmail = session.email;
  if (!row.stripeCustomerId && session.customerId) update.stripeCustomerId = session.customerId;
  if (!row.stripeSubscriptionId && session.subscriptionId) update.stripeSubscriptionId = session.subscriptionId;
  if (!row.paymentIntentId && session.paymentIntentId) update.paymentIntentId = session.paymentIntentId;
  // Stripe's totals, once the session is complete (discounts, tax and shipping are known then).
  if (status === "complete" && incomingStatus === "complete") {
    if (row.amountSubtotal == null && !flag && session.amountSubtotal !== null)
      update.amountSubtotal = session.amountSubtotal;
    for (const key of ["amountTotal", "amountDiscount", "amountTax", "amountShipping"] as const) {
      const value = session[key];
      if (value !== null && value !== row[key]) update[key] = value;
    }
  }
  const payable = paymentStatus === "paid" || paymentStatus === "no_payment_required";
  if (session.subscriptionId && !row.subscriptionStatus && payable) update.subscriptionStatus = "active";

  return {
    update,
    fulfill: status === "complete" && payable && !flag && row.fulfilledAt == null,
    raisedFlag: flag && flag !== row.flag ? flag : null,
    linkCustomer: session.customerId && !flag ? session.customerId : null,
    linkedSubscription: update.stripeSubscriptionId ?? null,
    linkedPaymentIntent: update.paymentIntentId ?? null,
    refund: null,
    jobs: [],
  };
}

function subscriptionTransition(row: CheckoutSession, news: SubscriptionNews): Decision {
  // News after the end, or older than what is stored: nothing to do.
  if (row.subscriptionStatus === "canceled") return NOTHING;
  if (row.subscriptionEventAt != null && news.created < row.subscriptionEventAt) return NOTHING;
  if (row.subscriptionStatus === news.status && row.subscriptionEventAt === news.created) return NOTHING;
  return { ...NOTHING, update: { subscriptionStatus: news.status, subscriptionEventAt: news.created } };
}

/**
 * What an order's refunds add up to. `chargeTotal` is the highest
 * charge.amount_refunded reported (Stripe counts pending refunds in it and
 * takes a failed one out); what it holds beyond the known refunds (all of
 * them, failed ones too: an older charge event still counted those) is
 * refunded money whose refund.* news has not come yet, counted as succeeded,
 * as Stripe's total does. Whatever order the news comes in, once it has all
 * come the figures are the same.
 */
export function refundTotals(chargeTotal: number, refunds: readonly RefundFact[]) {
  let known = 0;
  let pending = 0;
  let succeeded = 0;
  for (const r of refunds) {
    known += r.amount;
    if (r.status === "pending") pending += r.amount;
    if (r.status === "succeeded") succeeded += r.amount;
  }
  const unexplained = Math.max(0, chargeTotal - known);
  return { amountRefunded: succeeded + unexplained + pending, amountRefundPending: pending };
}

/** Order of a refund's statuses: pending, then succeeded, then failed or canceled (final; a succeeded card refund can still fail). */
const REFUND_RANK: Record<Refund["status"], number> = { pending: 0, succeeded: 1, failed: 2, canceled: 2 };

/**
 * The refunded amounts from the charge total and the refunds; a full refund
 * (pending refunds not counted) revokes the order, once: its key is per order.
 */
function refundDecision(
  row: CheckoutSession,
  update: Partial<CheckoutSession>,
  chargeTotal: number,
  refunds: readonly RefundFact[],
): Job[] {
  if (chargeTotal !== row.chargeAmountRefunded) update.chargeAmountRefunded = chargeTotal;
  const totals = refundTotals(chargeTotal, refunds);
  if (totals.amountRefunded !== row.amountRefunded) update.amountRefunded = totals.amountRefunded;
  if (totals.amountRefundPending !== row.amountRefundPending) update.amountRefundPending = totals.amountRefundPending;
  const full = (settled: number) => row.amountTotal != null && row.amountTotal > 0 && settled >= row.amountTotal;
  const settled = totals.amountRefunded - totals.amountRefundPending;
  return full(settled) && !full(row.amountRefunded - row.amountRefundPending)
    ? [
        {
          kind: "order.revoked",
          key: `order.revoked:${row.id}:refund`,
          payload: { checkoutId: row.id, cause: "refund" },
        },
      ]
    : [];
}

/** charge.refunded: the charge's running total, kept at its highest (refund.* news says what came back). */
function chargeTransition(row: CheckoutSession, news: ChargeNews, refunds: readonly RefundFact[]): Decision {
  const update: Partial<CheckoutSession> = {};
  if (!row.stripeChargeId) update.stripeChargeId = news.chargeId;
  const chargeTotal = Math.max(row.chargeAmountRefunded, news.amountRefunded);
  const jobs = refundDecision(row, update, chargeTotal, refunds);
  return { ...NOTHING, update, jobs };
}

/**
 * refund.*: a refund's status only moves forward (pending, succeeded, then
 * failed or canceled), so duplicates and any order end the same; a failed or
 * canceled refund gives its amount back.
 */
function refundTransition(row: CheckoutSession, news: RefundNews, refunds: readonly RefundFact[]): Decision {
  const update: Partial<CheckoutSession> = {};
  if (!row.stripeChargeId && news.chargeId) update.stripeChargeId = news.chargeId;
  const stored = refunds.find((r) => r.id === news.refundId);
  const moves = !stored || REFUND_RANK[news.status] > REFUND_RANK[stored.status];
  const status = stored && !moves ? stored.status : news.status;
  const next = stored
    ? refunds.map((r) => (r.id === news.refundId ? { ...r, status } : r))
    : [...refunds, { id: news.refundId, amount: news.amount, status }];
  const jobs = refundDecision(row, update, row.chargeAmountRefunded, next);
  const refund = moves
    ? {
        id: news.refundId,
        checkoutSessionId: row.id,
        chargeId: news.chargeId,
        paymentIntentId: news.paymentIntentId,
        amount: stored?.amount ?? news.amount,
        status,
        created: news.refundCreated,
        eventAt: news.created,
      }
    : null;
  return { ...NOTHING, update, refund, jobs };
}

/** open -> won | lost, final; a lost dispute revokes the order, a won one reinstates it, once per dispute. */
function disputeTransition(row: CheckoutSession, news: DisputeNews): Decision {
  const update: Partial<CheckoutSession> = {};
  if (!row.stripeChargeId && news.chargeId) update.stripeChargeId = news.chargeId;
  const current = row.disputeStatus;
  if (current === "won" || current === "lost") return { ...NOTHING, update };
  if (news.outcome !== current) update.disputeStatus = news.outcome;
  const payload = { checkoutId: row.id, disputeId: news.disputeId };
  const jobs: Job[] =
    news.outcome === "lost"
      ? [
          {
            kind: "order.revoked",
            key: `order.revoked:${row.id}:dispute:${news.disputeId}`,
            payload: { ...payload, cause: "dispute" },
          },
        ]
      : news.outcome === "won"
        ? [{ kind: "order.reinstated", key: `order.reinstated:${row.id}:${news.disputeId}`, payload }]
        : [];
  return { ...NOTHING, update, jobs };
}

/**
 * The newest invoice says whether the last renewal was paid ("Payment failed:
 * update your card" until a later one is). Each paid renewal is renewed once,
 * whatever order its invoice's news arrives in.
 */
function invoiceTransition(row: CheckoutSession, news: InvoiceNews): Decision {
  if (!news.renewal) return NOTHING;
  const jobs: Job[] = news.paid
    ? [
        {
          kind: "subscription.renewed",
          key: `subscription.renewed:${news.invoiceId}`,
          payload: { checkoutId: row.id, invoiceId: news.invoiceId, subscriptionId: news.subscriptionId },
        },
      ]
    : [];
  const update: Partial<CheckoutSession> = {};
  const status = news.paid ? "paid" : "payment_failed";
  const newer = row.invoiceEventAt == null || news.created > row.invoiceEventAt;
  // Same second: paid wins, so a failure and its retry's success never end as "failed".
  const sameSecondPaid = row.invoiceEventAt === news.created && news.paid;
  if ((newer || sameSecondPaid) && (row.invoiceStatus !== status || row.invoiceEventAt !== news.created)) {
    update.invoiceStatus = status;
    update.invoiceEventAt = news.created;
  }
  return { ...NOTHING, update, jobs };
}

/** The row as the store leaves it after a decision (fulfilled_at set at `now` when it wins). */
export function applyDecision(row: CheckoutSession, decision: Decision, now: number): CheckoutSession {
  const next = { ...row, ...decision.update };
  if (decision.fulfill && next.fulfilledAt == null) next.fulfilledAt = now;
  return next;
}

export const changes = (decision: Decision) => Object.keys(decision.update).length > 0 || decision.refund !== null;
