import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, pgTable, primaryKey, serial, text, unique } from "drizzle-orm/pg-core";

// The PostgreSQL tables: the same names, columns and keys as db/schema/sqlite.ts
// (tests/unit/schema-drift.test.ts keeps the two alike), so that one set of
// queries and row types (db/schema/types.ts) serves both. Times are unix
// milliseconds in a bigint read as a JS number, as in SQLite, not timestamptz:
// the code compares and stores numbers, never dates.

const now = sql`(floor(extract(epoch from clock_timestamp()) * 1000))::bigint`;
const ms = (name: string) => bigint(name, { mode: "number" });

export const products = pgTable("products", {
  id: serial("id").primaryKey(),
  slug: text("slug").notNull().unique(),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  stripeProductId: text("stripe_product_id"),
  stripePriceId: text("stripe_price_id").notNull().unique(),
  mode: text("mode", { enum: ["payment", "subscription"] }).notNull(),
  unitAmount: integer("unit_amount").notNull(),
  currency: text("currency").notNull(),
  recurringInterval: text("recurring_interval"),
  maxQuantity: integer("max_quantity").notNull().default(1),
  // Shipped goods: Checkout collects a shipping address (CHECKOUT_SHIPPING_COUNTRIES) when a line is shippable.
  shippable: boolean("shippable").notNull().default(false),
  active: boolean("active").notNull().default(true),
  createdAt: ms("created_at").notNull().default(now),
  updatedAt: ms("updated_at").notNull().default(now),
});

export const shoppers = pgTable("shoppers", {
  // The random value the signed cookie session carries.
  id: text("id").primaryKey(),
  stripeCustomerId: text("stripe_customer_id").unique(),
  createdAt: ms("created_at").notNull().default(now),
  updatedAt: ms("updated_at").notNull().default(now),
});

// One cart per shopper: as in db/schema/sqlite.ts.
export const carts = pgTable("carts", {
  id: serial("id").primaryKey(),
  shopperId: text("shopper_id")
    .notNull()
    .unique()
    .references(() => shoppers.id, { onDelete: "cascade" }),
  version: integer("version").notNull().default(0),
  createdAt: ms("created_at").notNull().default(now),
  updatedAt: ms("updated_at").notNull().default(now),
});

export const cartLines = pgTable(
  "cart_lines",
  {
    id: serial("id").primaryKey(),
    cartId: integer("cart_id")
      .notNull()
      .references(() => carts.id, { onDelete: "cascade" }),
    productId: integer("product_id")
      .notNull()
      .references(() => products.id),
    quantity: integer("quantity").notNull(),
    unitAmount: integer("unit_amount").notNull(),
    currency: text("currency").notNull(),
    createdAt: ms("created_at").notNull().default(now),
  },
  (t) => [unique("cart_lines_cart_product_unique").on(t.cartId, t.productId)],
);

export const checkoutSessions = pgTable(
  "checkout_sessions",
  {
    // Stripe's id, cs_test_... or cs_live_...
    id: text("id").primaryKey(),
    shopperId: text("shopper_id")
      .notNull()
      .references(() => shoppers.id),
    productId: integer("product_id")
      .notNull()
      .references(() => products.id),
    quantity: integer("quantity").notNull(),
    mode: text("mode", { enum: ["payment", "subscription"] }).notNull(),
    // A cart's checkout: as in db/schema/sqlite.ts.
    cartId: integer("cart_id").references(() => carts.id, { onDelete: "set null" }),
    cartVersion: integer("cart_version"),
    status: text("status", { enum: ["open", "complete", "expired"] })
      .notNull()
      .default("open"),
    paymentStatus: text("payment_status", {
      enum: ["unpaid", "paid", "no_payment_required", "failed"],
    })
      .notNull()
      .default("unpaid"),
    // What the shop asked for before discounts, tax and shipping (the mismatch check's basis), minor units.
    amountSubtotal: integer("amount_subtotal"),
    // Stripe's total_details once the session completes; amount_total is then Stripe's total.
    amountDiscount: integer("amount_discount"),
    amountTax: integer("amount_tax"),
    amountShipping: integer("amount_shipping"),
    amountTotal: integer("amount_total"),
    currency: text("currency"),
    url: text("url"),
    // The Buy form's one-time token: a double submit finds this row.
    formToken: text("form_token").notNull().unique(),
    customerEmail: text("customer_email"),
    stripeCustomerId: text("stripe_customer_id"),
    stripeSubscriptionId: text("stripe_subscription_id"),
    subscriptionStatus: text("subscription_status"),
    // `created` (unix seconds) of the newest subscription event applied.
    subscriptionEventAt: ms("subscription_event_at"),
    paymentIntentId: text("payment_intent_id"),
    // The payment's charge, once a refund or dispute names it.
    stripeChargeId: text("stripe_charge_id"),
    // Minor units refunded so far (Stripe's charge.amount_refunded); 0 until a refund.
    amountRefunded: integer("amount_refunded").notNull().default(0),
    // Of amount_refunded, what is in refunds still pending (docs/decisions/165-refunds-table.md).
    amountRefundPending: integer("amount_refund_pending").notNull().default(0),
    // The highest charge.amount_refunded a charge event reported (pending refunds included).
    chargeAmountRefunded: integer("charge_amount_refunded").notNull().default(0),
    // null until a dispute; then open, won or lost (won and lost are final).
    disputeStatus: text("dispute_status"),
    // The newest renewal invoice's outcome (paid, payment_failed) and its event's `created`.
    invoiceStatus: text("invoice_status"),
    invoiceEventAt: ms("invoice_event_at"),
    expiresAt: ms("expires_at"),
    // Why a completed session was not fulfilled (amount, currency, mode mismatch...).
    flag: text("flag"),
    fulfilledAt: ms("fulfilled_at"),
    createdAt: ms("created_at").notNull().default(now),
    updatedAt: ms("updated_at").notNull().default(now),
  },
  (t) => [
    index("checkout_sessions_shopper_created_idx").on(t.shopperId, t.createdAt),
    index("checkout_sessions_subscription_idx").on(t.stripeSubscriptionId),
    index("checkout_sessions_status_idx").on(t.status, t.paymentStatus),
    // The order of a charge, refund or dispute (app/lib/orders/link.ts moneyLink): without
    // these every such event scanned the table. Partial: open checkouts have neither id.
    index("checkout_sessions_payment_intent_idx").on(t.paymentIntentId).where(sql`${t.paymentIntentId} is not null`),
    index("checkout_sessions_charge_idx").on(t.stripeChargeId).where(sql`${t.stripeChargeId} is not null`),
  ],
);

export const checkoutLineItems = pgTable(
  "checkout_line_items",
  {
    id: serial("id").primaryKey(),
    checkoutSessionId: text("checkout_session_id")
      .notNull()
      .references(() => checkoutSessions.id, { onDelete: "cascade" }),
    productId: integer("product_id")
      .notNull()
      .references(() => products.id),
    quantity: integer("quantity").notNull(),
    unitAmount: integer("unit_amount").notNull(),
    currency: text("currency").notNull(),
  },
  (t) => [index("checkout_line_items_session_idx").on(t.checkoutSessionId)],
);

export const stripeEvents = pgTable(
  "stripe_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    // Stripe's `created`, unix seconds.
    created: ms("created").notNull(),
    livemode: boolean("livemode").notNull(),
    payload: text("payload").notNull(),
    // The id of the event's data.object (cs_..., sub_...): finds an object's events without parsing payloads.
    objectId: text("object_id"),
    // The id that ties the event to an order before the order names its object: the payment
    // intent (or charge) of a charge, dispute or refund, the subscription of an invoice.
    linkId: text("link_id"),
    // Where the event came from: webhook, reconcile.
    source: text("source").notNull().default("webhook"),
    receivedAt: ms("received_at").notNull().default(now),
  },
  // Only the indexes a query uses: an object's events and a link's events (the replays, the order
  // timeline). None filters on `created` alone.
  (t) => [index("stripe_events_object_idx").on(t.objectId), index("stripe_events_link_idx").on(t.linkId)],
);

// Each refund of an order as Stripe last reported it (refund.* and reconcile):
// pending, succeeded, failed or canceled. Written only once its order is known.
export const refunds = pgTable(
  "refunds",
  {
    // Stripe's id, re_...
    id: text("id").primaryKey(),
    checkoutSessionId: text("checkout_session_id")
      .notNull()
      .references(() => checkoutSessions.id),
    chargeId: text("charge_id"),
    paymentIntentId: text("payment_intent_id"),
    amount: integer("amount").notNull(),
    status: text("status", { enum: ["pending", "succeeded", "failed", "canceled"] }).notNull(),
    // The refund's `created` and the `created` of the newest event applied (unix seconds).
    created: ms("created").notNull(),
    eventAt: ms("event_at").notNull(),
    updatedAt: ms("updated_at").notNull().default(now),
  },
  (t) => [index("refunds_checkout_idx").on(t.checkoutSessionId), index("refunds_status_idx").on(t.status)],
);

// Leases that keep a job (the reconcile run) from running twice at once.
export const jobLocks = pgTable("job_locks", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  acquiredAt: ms("acquired_at").notNull(),
  expiresAt: ms("expires_at").notNull(),
});

// How far a job got. For the reconcile run: the newest event `created` (unix
// seconds) up to which a run that completed has listed and applied every event.
export const jobCheckpoints = pgTable("job_checkpoints", {
  name: text("name").primaryKey(),
  checkpoint: ms("checkpoint").notNull(),
  updatedAt: ms("updated_at").notNull().default(now),
});

// Named limiters (app/lib/limiter.server.ts): how many points `key` used in
// the window that began at `window_start`. One row per name and key.
export const rateLimits = pgTable(
  "rate_limits",
  {
    name: text("name").notNull(),
    key: text("key").notNull(),
    windowStart: ms("window_start").notNull(),
    points: integer("points").notNull(),
  },
  (t) => [primaryKey({ columns: [t.name, t.key] }), index("rate_limits_window_idx").on(t.windowStart)],
);

// Work after payment (docs/decisions/100-jobs-after-payment.md): as in db/schema/sqlite.ts.
export const jobs = pgTable(
  "jobs",
  {
    id: serial("id").primaryKey(),
    key: text("key").notNull().unique(),
    kind: text("kind").notNull(),
    // JSON text, as on SQLite, so both stores hand handlers the same string.
    payload: text("payload").notNull(),
    state: text("state", { enum: ["pending", "running", "done", "dead"] })
      .notNull()
      .default("pending"),
    attempts: integer("attempts").notNull().default(0),
    runAfter: ms("run_after").notNull(),
    lastError: text("last_error"),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: ms("lease_expires_at"),
    createdAt: ms("created_at").notNull(),
    updatedAt: ms("updated_at").notNull(),
  },
  (t) => [index("jobs_state_run_after_idx").on(t.state, t.runAfter)],
);

// Operators of the console (/admin). The password is a scrypt hash with its
// salt and parameters in the string (app/lib/operators.server.ts).
export const operators = pgTable("operators", {
  id: serial("id").primaryKey(),
  email: text("email").notNull().unique(),
  passwordHash: text("password_hash").notNull(),
  createdAt: ms("created_at").notNull().default(now),
  updatedAt: ms("updated_at").notNull().default(now),
});

// One row per signed-in operator session: the cookie carries the random id.
// A password reset deletes every row of that operator (signs them out).
export const operatorSessions = pgTable(
  "operator_sessions",
  {
    id: text("id").primaryKey(),
    operatorId: integer("operator_id")
      .notNull()
      .references(() => operators.id, { onDelete: "cascade" }),
    createdAt: ms("created_at").notNull().default(now),
    expiresAt: ms("expires_at").notNull(),
  },
  (t) => [index("operator_sessions_operator_idx").on(t.operatorId)],
);

// An order's timeline: as in db/schema/sqlite.ts.
export const orderChanges = pgTable(
  "order_changes",
  {
    id: serial("id").primaryKey(),
    checkoutSessionId: text("checkout_session_id")
      .notNull()
      .references(() => checkoutSessions.id, { onDelete: "cascade" }),
    at: ms("at").notNull(),
    eventId: text("event_id"),
    source: text("source").notNull(),
    before: text("before").notNull(),
    after: text("after").notNull(),
  },
  (t) => [index("order_changes_checkout_idx").on(t.checkoutSessionId, t.at)],
);

// Verified webhook deliveries answered 5xx: as in db/schema/sqlite.ts.
export const webhookFailures = pgTable(
  "webhook_failures",
  {
    eventId: text("event_id").primaryKey(),
    type: text("type").notNull(),
    error: text("error").notNull(),
    count: integer("count").notNull(),
    firstAt: ms("first_at").notNull(),
    lastAt: ms("last_at").notNull(),
  },
  (t) => [index("webhook_failures_last_idx").on(t.lastAt)],
);

// The last finished run of a job: as in db/schema/sqlite.ts.
export const jobRuns = pgTable("job_runs", {
  name: text("name").primaryKey(),
  finishedAt: ms("finished_at").notNull(),
  ok: boolean("ok").notNull(),
  report: text("report").notNull(),
});
