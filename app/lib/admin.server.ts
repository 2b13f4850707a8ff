import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { and, desc, eq, isNotNull, like, or, type SQL, sql } from "drizzle-orm";

import { ORDER_FILTERS, type OrderFilter } from "./admin-filters";
import { config } from "./config.server";
import { db, schema } from "./db.server";
import { currentHolder } from "./locks.server";
import { formatMoney } from "./money";
import { stateInWords, orderLines } from "./orders.server";
import { getCheckpoint, RECONCILE_JOB } from "./reconcile.server";
import { Stripe, stripe } from "./stripe.server";

const { checkoutSessions, products, stripeEvents, jobCheckpoints, jobs, orderChanges } = schema;

/**
 * What the operator console reads and the one thing it asks Stripe to do
 * (refund). Reads only: an order changes when Stripe's news lands.
 */

const FILTER_WHERE: Record<OrderFilter, SQL | undefined> = {
  all: undefined,
  flagged: isNotNull(checkoutSessions.flag),
  open: eq(checkoutSessions.status, "open"),
  paid: eq(checkoutSessions.paymentStatus, "paid"),
  unpaid: and(eq(checkoutSessions.status, "complete"), eq(checkoutSessions.paymentStatus, "unpaid")),
  failed: eq(checkoutSessions.paymentStatus, "failed"),
  expired: eq(checkoutSessions.status, "expired"),
};

export function parseFilter(value: string | null): OrderFilter {
  return (ORDER_FILTERS as readonly string[]).includes(value ?? "") ? (value as OrderFilter) : "all";
}

const ORDERS_SHOWN = 100;

export type AdminOrderRow = {
  id: string;
  email: string | null;
  product: string;
  amount: string | null;
  state: string;
  flag: string | null;
  createdAt: number;
};

/** Orders matching a checkout id, payment intent id or email, and a state; flagged first, then newest. */
export async function findOrders(search: string, filter: OrderFilter): Promise<AdminOrderRow[]> {
  const q = search.trim().slice(0, 255);
  const conditions: (SQL | undefined)[] = [FILTER_WHERE[filter]];
  if (q !== "") {
    conditions.push(
      or(
        eq(checkoutSessions.id, q),
        eq(checkoutSessions.paymentIntentId, q),
        eq(sql`lower(${checkoutSessions.customerEmail})`, q.toLowerCase()),
      ),
    );
  }
  const rows = await db
    .select({ checkout: checkoutSessions, product: products.name })
    .from(checkoutSessions)
    .innerJoin(products, eq(products.id, checkoutSessions.productId))
    .where(and(...conditions))
    .orderBy(sql`case when ${checkoutSessions.flag} is null then 1 else 0 end`, desc(checkoutSessions.createdAt))
    .limit(ORDERS_SHOWN);
  return rows.map(({ checkout, product }) => ({
    id: checkout.id,
    email: checkout.customerEmail,
    product,
    amount:
      checkout.amountTotal !== null && checkout.currency ? formatMoney(checkout.amountTotal, checkout.currency) : null,
    state: `${checkout.status} / ${checkout.paymentStatus}`,
    flag: checkout.flag,
    createdAt: checkout.createdAt,
  }));
}

const CHANGE_LABELS: Record<string, string> = {
  status: "status",
  paymentStatus: "payment",
  amountRefunded: "refunded",
  disputeStatus: "dispute",
  flag: "flag",
  subscriptionStatus: "subscription",
  invoiceStatus: "invoice",
  fulfilledAt: "fulfilled",
};

export type StateChange = {
  id: number;
  at: number;
  /** "status: open → complete", "refunded: $0.00 → $12.00", "fulfilled". */
  changes: string[];
  eventId: string | null;
  eventType: string | null;
  source: string;
};

/** One order_changes row in words: each changed column, from and to. */
export function describeChange(before: string, after: string, currency: string | null): string[] {
  const from = JSON.parse(before) as Record<string, unknown>;
  const to = JSON.parse(after) as Record<string, unknown>;
  const shown = (column: string, value: unknown) => {
    if (value === null || value === undefined) return "none";
    if (column === "amountRefunded" && typeof value === "number" && currency) return formatMoney(value, currency);
    return String(value);
  };
  return Object.keys(to).map((column) =>
    column === "fulfilledAt"
      ? "fulfilled"
      : `${CHANGE_LABELS[column] ?? column}: ${shown(column, from[column])} → ${shown(column, to[column])}`,
  );
}

/** The order's recorded state changes, oldest first, with the event (if any) that brought each. */
export async function orderStateChanges(checkoutId: string, currency: string | null): Promise<StateChange[]> {
  const rows = await db
    .select({
      id: orderChanges.id,
      at: orderChanges.at,
      eventId: orderChanges.eventId,
      source: orderChanges.source,
      before: orderChanges.before,
      after: orderChanges.after,
      eventType: stripeEvents.type,
    })
    .from(orderChanges)
    .leftJoin(stripeEvents, eq(stripeEvents.id, orderChanges.eventId))
    .where(eq(orderChanges.checkoutSessionId, checkoutId))
    .orderBy(orderChanges.at, orderChanges.id)
    .limit(200);
  return rows.map((row) => ({
    id: row.id,
    at: row.at,
    changes: describeChange(row.before, row.after, currency),
    eventId: row.eventId,
    eventType: row.eventType,
    source: row.source,
  }));
}

export type TimelineEvent = { id: string; type: string; created: number; receivedAt: number; source: string };

/**
 * One order and its stored events: the session's own (object id cs_...),
 * those about its payment (charge, refund, dispute events: link_id is the
 * payment intent; rows from before link_id name it in their payload) and
 * about its subscription (subscription and invoice events).
 */
export async function orderDetail(id: string) {
  const [found] = await db
    .select({ checkout: checkoutSessions, product: products.name, quantity: checkoutSessions.quantity })
    .from(checkoutSessions)
    .innerJoin(products, eq(products.id, checkoutSessions.productId))
    .where(eq(checkoutSessions.id, id))
    .limit(1);
  if (!found) return null;
  const { checkout } = found;
  const pi = checkout.paymentIntentId;
  const sub = checkout.stripeSubscriptionId;
  // link_id: the payment intent or subscription that ties charge, refund, dispute and invoice news to it.
  const aboutOrder = or(
    eq(stripeEvents.objectId, id),
    pi
      ? or(eq(stripeEvents.objectId, pi), eq(stripeEvents.linkId, pi), like(stripeEvents.payload, `%"${pi}"%`))
      : undefined,
    sub ? or(eq(stripeEvents.objectId, sub), eq(stripeEvents.linkId, sub)) : undefined,
  );
  const events = await db
    .select({
      id: stripeEvents.id,
      type: stripeEvents.type,
      created: stripeEvents.created,
      receivedAt: stripeEvents.receivedAt,
      source: stripeEvents.source,
    })
    .from(stripeEvents)
    .where(aboutOrder)
    .orderBy(stripeEvents.created, stripeEvents.receivedAt)
    .limit(200);
  return {
    id: checkout.id,
    mode: checkout.mode,
    status: checkout.status,
    paymentStatus: checkout.paymentStatus,
    subscriptionStatus: checkout.subscriptionStatus,
    stateInWords: stateInWords(checkout),
    email: checkout.customerEmail,
    product: found.product,
    quantity: found.quantity,
    // A cart's checkout: every line (product and quantity above are its first).
    lines: (await orderLines([checkout.id])).get(checkout.id) ?? [],
    amount:
      checkout.amountTotal !== null && checkout.currency ? formatMoney(checkout.amountTotal, checkout.currency) : null,
    paymentIntentId: pi,
    flag: checkout.flag,
    fulfilledAt: checkout.fulfilledAt,
    createdAt: checkout.createdAt,
    updatedAt: checkout.updatedAt,
    refundable: checkout.mode === "payment" && checkout.paymentStatus === "paid" && pi !== null,
    events: events satisfies TimelineEvent[],
    changes: await orderStateChanges(checkout.id, checkout.currency),
    jobs: await orderJobs(checkout.id),
  };
}

/** The newest stored webhook (and reconcile) events. */
export async function recentEvents(limit = 100) {
  return db
    .select({
      id: stripeEvents.id,
      type: stripeEvents.type,
      objectId: stripeEvents.objectId,
      source: stripeEvents.source,
      created: stripeEvents.created,
      receivedAt: stripeEvents.receivedAt,
    })
    .from(stripeEvents)
    .orderBy(desc(stripeEvents.receivedAt))
    .limit(limit);
}

/** The reconcile run's checkpoint (its age) and who holds its lease now. */
export async function reconcileStatus(now = Date.now()) {
  const [row] = await db.select().from(jobCheckpoints).where(eq(jobCheckpoints.name, RECONCILE_JOB)).limit(1);
  const lock = await currentHolder(RECONCILE_JOB);
  const [run] = await db.select().from(schema.jobRuns).where(eq(schema.jobRuns.name, RECONCILE_JOB)).limit(1);
  const checkpoint = row?.checkpoint ?? (await getCheckpoint());
  return {
    checkpoint,
    checkpointAgeSeconds: checkpoint === null ? null : Math.max(0, Math.floor(now / 1000 - checkpoint)),
    lastRunAt: row?.updatedAt ?? null,
    lastRun: run ? { finishedAt: run.finishedAt, ok: run.ok, report: JSON.parse(run.report) as string[] } : null,
    lease: lock && lock.expiresAt > now ? { holder: lock.holder, expiresAt: lock.expiresAt } : null,
  };
}

// ---- jobs ----

export type AdminJobRow = {
  id: number;
  kind: string;
  key: string;
  state: string;
  attempts: number;
  lastError: string | null;
  runAfter: number;
  createdAt: number;
  updatedAt: number;
};

const JOB_COLUMNS = {
  id: jobs.id,
  kind: jobs.kind,
  key: jobs.key,
  state: jobs.state,
  attempts: jobs.attempts,
  lastError: jobs.lastError,
  runAfter: jobs.runAfter,
  createdAt: jobs.createdAt,
  updatedAt: jobs.updatedAt,
};

/** The order's jobs: keyed `order.paid:<id>...`, or naming the checkout in their payload. */
export async function orderJobs(checkoutId: string): Promise<AdminJobRow[]> {
  return db
    .select(JOB_COLUMNS)
    .from(jobs)
    .where(
      or(
        eq(jobs.key, `order.paid:${checkoutId}`),
        like(jobs.key, `order.paid:${checkoutId}:%`),
        like(jobs.payload, `%"checkoutId":"${checkoutId}"%`),
      ),
    )
    .orderBy(jobs.id)
    .limit(50);
}

// ---- refunds ----

export type Refundable = { paymentIntentId: string; currency: string; charged: number; refunded: number; left: number };

/** What Stripe says is left to refund on the order's payment, or null if it has no charge. */
export async function refundableAmount(paymentIntentId: string): Promise<Refundable | null> {
  const intent = await stripe.paymentIntents.retrieve(paymentIntentId, { expand: ["latest_charge"] });
  const charge = intent.latest_charge;
  if (!charge || typeof charge === "string") return null;
  return {
    paymentIntentId,
    currency: charge.currency,
    charged: charge.amount,
    refunded: charge.amount_refunded,
    left: charge.amount - charge.amount_refunded,
  };
}

/**
 * The confirm page's hidden token: random, bound to the order and the amount
 * by an HMAC. Its random part is the idempotency key of the refund, so the
 * same submitted form (a double click, a resubmit) refunds once.
 */
function mac(nonce: string, checkoutId: string, amount: number) {
  return createHmac("sha256", config.sessionSecrets[0]!)
    .update(`admin-refund|${nonce}|${checkoutId}|${amount}`)
    .digest("base64url");
}

export function newRefundToken(checkoutId: string, amount: number) {
  const nonce = randomBytes(18).toString("base64url");
  return `${nonce}.${mac(nonce, checkoutId, amount)}`;
}

/** The token's nonce if this page issued it for this order and amount, else null. */
export function checkRefundToken(token: string, checkoutId: string, amount: number): string | null {
  const [nonce, signature] = token.split(".");
  if (!nonce || !signature || !/^[A-Za-z0-9_-]{24}$/.test(nonce)) return null;
  const expected = Buffer.from(mac(nonce, checkoutId, amount));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected) ? nonce : null;
}

/** A decimal amount in the currency's major units ("12.50") as minor units, or null. */
export function parseAmount(text: string, currency: string): number | null {
  const zeroDecimal = formatMoney(1, currency).replace(/[^0-9]/g, "") === "1";
  const pattern = zeroDecimal ? /^\d{1,9}$/ : /^\d{1,9}(\.\d{1,2})?$/;
  const value = text.trim();
  if (!pattern.test(value)) return null;
  const minor = zeroDecimal ? Number(value) : Math.round(Number(value) * 100);
  return minor > 0 ? minor : null;
}

export type RefundResult = { ok: true; refundId: string } | { ok: false; status: number; message: string };

/** `refunds.create` for the order's payment intent; the nonce is its idempotency key. */
export async function sendRefund(paymentIntentId: string, amount: number, nonce: string): Promise<RefundResult> {
  try {
    const refund = await stripe.refunds.create(
      { payment_intent: paymentIntentId, amount, reason: "requested_by_customer" },
      { idempotencyKey: `admin-refund-${nonce}` },
    );
    return { ok: true, refundId: refund.id };
  } catch (error: unknown) {
    if (
      error instanceof Stripe.errors.StripeInvalidRequestError ||
      error instanceof Stripe.errors.StripeIdempotencyError
    ) {
      return { ok: false, status: 400, message: `Stripe refused the refund: ${error.message}` };
    }
    if (error instanceof Stripe.errors.StripeError) {
      return { ok: false, status: 502, message: "Stripe did not answer. Nothing was confirmed; try again." };
    }
    throw error;
  }
}
