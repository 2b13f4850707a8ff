import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";

import type { CheckoutSession, Product } from "../../db/schema";
import { config } from "./config.server";
import { db, schema } from "./db.server";
import { fulfill, type Tx } from "./fulfillment.server";
import { stripe } from "./stripe.server";

const { checkoutSessions, shoppers, stripeEvents } = schema;

/**
 * The hot paths (the webhook's state machine, the Buy action), prepared once
 * instead of rebuilt by Drizzle and re-prepared by SQLite on every request
 * (docs/benchmarks.md: query building was about a third of the state
 * machine's CPU time). They run on the one better-sqlite3 connection, so
 * inside `db.transaction` they belong to the transaction exactly as the `tx`
 * queries do.
 */
let prepared: ReturnType<typeof prepareStatements> | undefined;
const statements = () => (prepared ??= prepareStatements());

function prepareStatements() {
  const p = sql.placeholder;
  // .set() takes no bare placeholder in Drizzle's types; wrapped in sql`` it binds the same.
  const v = (name: string) => sql`${p(name)}`;
  return {
    insertEvent: db
      .insert(stripeEvents)
      .values({
        id: p("id"),
        type: p("type"),
        created: p("created"),
        livemode: p("livemode"),
        payload: p("payload"),
        objectId: p("objectId"),
        source: p("source"),
      })
      .onConflictDoNothing()
      .returning({ id: stripeEvents.id })
      .prepare(),
    markProcessed: db
      .update(stripeEvents)
      .set({ processedAt: v("now") })
      .where(eq(stripeEvents.id, p("id")))
      .prepare(),
    checkoutById: db
      .select()
      .from(checkoutSessions)
      .where(eq(checkoutSessions.id, p("id")))
      .prepare(),
    checkoutByFormToken: db
      .select()
      .from(checkoutSessions)
      .where(eq(checkoutSessions.formToken, p("token")))
      .prepare(),
    shopperById: db
      .select()
      .from(shoppers)
      .where(eq(shoppers.id, p("id")))
      .prepare(),
    insertShopper: db
      .insert(shoppers)
      .values({ id: p("id") })
      .onConflictDoNothing()
      .prepare(),
    insertCheckout: db
      .insert(checkoutSessions)
      .values({
        id: p("id"),
        shopperId: p("shopperId"),
        productId: p("productId"),
        quantity: p("quantity"),
        mode: p("mode"),
        status: "open",
        paymentStatus: "unpaid",
        amountTotal: p("amountTotal"),
        currency: p("currency"),
        url: p("url"),
        formToken: p("formToken"),
        stripeCustomerId: p("stripeCustomerId"),
        expiresAt: p("expiresAt"),
      })
      .onConflictDoNothing()
      .prepare(),
    shopperByCustomer: db
      .select({ id: shoppers.id })
      .from(shoppers)
      .where(eq(shoppers.stripeCustomerId, p("customer")))
      .prepare(),
    linkCustomer: db
      .update(shoppers)
      .set({ stripeCustomerId: v("customer"), updatedAt: v("now") })
      .where(and(eq(shoppers.id, p("shopper")), isNull(shoppers.stripeCustomerId)))
      .prepare(),
    markFulfilled: db
      .update(checkoutSessions)
      .set({ fulfilledAt: v("now") })
      .where(and(eq(checkoutSessions.id, p("id")), isNull(checkoutSessions.fulfilledAt)))
      .prepare(),
  };
}

/* -------------------------------------------------------------------------- */
/* Creating a checkout (the Buy form's action)                                */
/* -------------------------------------------------------------------------- */

export class CheckoutError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "CheckoutError";
  }
}

export const PAYMENT_SERVICE_DOWN = "The payment service did not answer. You have not been charged. Please try again.";

export function successUrl() {
  // {CHECKOUT_SESSION_ID} stays literal: Stripe fills it in when it redirects.
  // https://docs.stripe.com/payments/checkout/custom-success-page
  return `${config.appOrigin}/checkout/success?session_id={CHECKOUT_SESSION_ID}`;
}

export function cancelUrl(product: Pick<Product, "slug">) {
  return `${config.appOrigin}/products/${encodeURIComponent(product.slug)}?canceled=1`;
}

/**
 * Creates (or, for a repeated form token, finds again) the Stripe Checkout
 * Session for one product and quantity, and stores it. Everything Stripe is
 * told comes from the catalog and the configuration, never from the request.
 * Nothing is stored unless Stripe answered.
 */
export async function createCheckout({
  product,
  quantity,
  formToken,
  shopperId,
}: {
  product: Product;
  quantity: number;
  formToken: string;
  shopperId: string;
}): Promise<{ id: string; url: string; reused: boolean }> {
  const previous = statements().checkoutByFormToken.get({ token: formToken });
  if (previous) return reuse(previous, { product, quantity, shopperId });

  const shopper = statements().shopperById.get({ id: shopperId });
  let customer = shopper?.stripeCustomerId ?? undefined;

  const paramsFor = (customer: string | undefined): Stripe.Checkout.SessionCreateParams => ({
    mode: product.mode,
    line_items: [{ price: product.stripePriceId, quantity }],
    success_url: successUrl(),
    cancel_url: cancelUrl(product),
    client_reference_id: shopperId,
    metadata: { product: product.slug, shopper: shopperId },
    ...(customer
      ? { customer }
      : product.mode === "payment"
        ? // So that the next checkout can reuse the customer Stripe makes.
          { customer_creation: "always" as const }
        : {}),
  });

  let session: Stripe.Checkout.Session;
  try {
    try {
      session = await stripe.checkout.sessions.create(paramsFor(customer), {
        idempotencyKey: `checkout-${formToken}`,
      });
    } catch (error: unknown) {
      // The stored customer is gone (deleted, or the keys moved from test to
      // live): forget it and go on without it, under a key of its own since
      // the parameters differ. docs/decisions/093-stale-stripe-customer.md
      if (!customer || !isMissingCustomer(error)) throw error;
      console.warn(`checkout customer missing at Stripe, forgotten shopper=${shopperId} customer=${customer}`);
      forgetCustomer(shopperId, customer);
      customer = undefined;
      session = await stripe.checkout.sessions.create(paramsFor(undefined), {
        idempotencyKey: `checkout-${formToken}-new-customer`,
      });
    }
  } catch (error: unknown) {
    const stripeError = error as { type?: string; message?: string; requestId?: string };
    if (stripeError.type === "StripeIdempotencyError") {
      throw new CheckoutError(409, "This form was already submitted. Reload the page to start again.");
    }
    console.error(
      `checkout create failed product=${product.slug} type=${stripeError.type ?? "unknown"} request=${stripeError.requestId ?? "-"}`,
    );
    throw new CheckoutError(502, PAYMENT_SERVICE_DOWN);
  }
  if (!session.url) {
    console.error(`checkout create returned no url session=${session.id}`);
    throw new CheckoutError(502, PAYMENT_SERVICE_DOWN);
  }
  const url = session.url;

  const expected = product.unitAmount * quantity;
  if (session.amount_total != null && session.amount_total !== expected) {
    console.warn(
      `checkout amount differs from catalog session=${session.id} expected=${expected} stripe=${session.amount_total}`,
    );
  }

  const stored = db.transaction(
    () => {
      statements().insertShopper.run({ id: shopperId });
      statements().insertCheckout.run({
        id: session.id,
        shopperId,
        productId: product.id,
        quantity,
        mode: product.mode,
        amountTotal: expected,
        currency: product.currency,
        url,
        formToken,
        stripeCustomerId: customer ?? null,
        expiresAt: session.expires_at ? session.expires_at * 1000 : null,
      });
      return statements().checkoutByFormToken.get({ token: formToken });
    },
    { behavior: "immediate" },
  );
  // Two submits of one form raced past the first look-up: the idempotency key
  // gave both the same session, and one row holds it.
  if (stored && stored.id !== session.id) return reuse(stored, { product, quantity, shopperId });
  return { id: session.id, url, reused: false };
}

function isMissingCustomer(error: unknown) {
  const e = error as { type?: string; code?: string; param?: string };
  return e.type === "StripeInvalidRequestError" && e.code === "resource_missing" && e.param === "customer";
}

function forgetCustomer(shopperId: string, customer: string) {
  db.update(shoppers)
    .set({ stripeCustomerId: null, updatedAt: Date.now() })
    .where(and(eq(shoppers.id, shopperId), eq(shoppers.stripeCustomerId, customer)))
    .run();
}

function reuse(
  previous: CheckoutSession,
  { product, quantity, shopperId }: { product: Product; quantity: number; shopperId: string },
) {
  if (previous.shopperId !== shopperId || previous.productId !== product.id) {
    throw new CheckoutError(409, "This form was already used. Reload the page to start a new checkout.");
  }
  if (previous.quantity !== quantity) {
    throw new CheckoutError(
      409,
      `This form was already submitted for a quantity of ${previous.quantity}. Reload the page to change the quantity.`,
    );
  }
  if (previous.status !== "open" || !previous.url) {
    throw new CheckoutError(409, "This checkout is no longer open. Reload the page to start a new one.");
  }
  return { id: previous.id, url: previous.url, reused: true };
}

/* -------------------------------------------------------------------------- */
/* The state machine                                                          */
/* -------------------------------------------------------------------------- */

/**
 * The one function that moves a checkout forward. The webhook, the success
 * page and the reconcile command all call it, so a payment is fulfilled once
 * however many times, and in whatever order, the news arrives.
 *
 * Rules: open -> complete | expired; unpaid -> paid | no_payment_required |
 * failed; nothing moves back, nothing undoes paid. Fulfillment runs once, when
 * a checkout first becomes paid (or needs no payment) and nothing about it
 * looks wrong.
 *
 * Everything runs in one synchronous better-sqlite3 transaction: an async
 * callback would let the transaction commit before its work was done.
 */

export type ApplyResult = {
  /** The event had been recorded before: nothing was done. */
  duplicate: boolean;
  /** The checkout's id, when the event or session concerns one this shop created. */
  checkoutId: string | null;
  changed: boolean;
  /** This call fulfilled the checkout. */
  fulfilled: boolean;
  flag: string | null;
};

type Hint = "completed" | "async_succeeded" | "async_failed" | "expired" | "retrieved";

const SESSION_EVENTS: Record<string, Hint> = {
  "checkout.session.completed": "completed",
  "checkout.session.async_payment_succeeded": "async_succeeded",
  "checkout.session.async_payment_failed": "async_failed",
  "checkout.session.expired": "expired",
};

const SUBSCRIPTION_EVENTS = new Set(["customer.subscription.updated", "customer.subscription.deleted"]);

/** The event types whose effect this shop records (others are stored only). */
export const HANDLED_EVENT_TYPES = [...Object.keys(SESSION_EVENTS), ...SUBSCRIPTION_EVENTS];

const nothing = (checkoutId: string | null = null): ApplyResult => ({
  duplicate: false,
  checkoutId,
  changed: false,
  fulfilled: false,
  flag: null,
});

/**
 * Records a Stripe event (once: its id is the primary key) and applies its
 * effect in the same transaction. A repeated event changes nothing.
 * `payload` is the raw body as received, when there is one.
 */
export function processStripeEvent(
  event: Stripe.Event,
  { payload, source = "webhook" }: { payload?: string; source?: "webhook" | "reconcile" | "success_page" } = {},
): ApplyResult {
  return db.transaction(
    (tx) => {
      const inserted = statements().insertEvent.get({
        id: event.id,
        type: event.type,
        created: event.created,
        livemode: event.livemode,
        payload: payload ?? JSON.stringify(event),
        objectId: objectIdOf(event),
        source,
      });
      if (!inserted) return { ...nothing(), duplicate: true };

      const result = applyEvent(tx, event);
      statements().markProcessed.run({ now: Date.now(), id: event.id });
      return result;
    },
    { behavior: "immediate" },
  );
}

/**
 * Applies a Checkout Session as Stripe reports it now (retrieved by the
 * success page or the reconcile command), with no event to record.
 */
export function applyCheckoutSession(session: Stripe.Checkout.Session): ApplyResult {
  return db.transaction((tx) => applySession(tx, session, "retrieved"), { behavior: "immediate" });
}

function applyEvent(tx: Tx, event: Stripe.Event): ApplyResult {
  // hasOwn: an event type such as "constructor" must not find Object's prototype.
  const hint = Object.hasOwn(SESSION_EVENTS, event.type) ? SESSION_EVENTS[event.type] : undefined;
  if (hint) return applySession(tx, event.data.object as Stripe.Checkout.Session, hint);
  if (SUBSCRIPTION_EVENTS.has(event.type)) {
    return applySubscription(tx, event.data.object as Stripe.Subscription, event.created);
  }
  return nothing();
}

const idOf = (value: string | { id: string } | null | undefined) =>
  value == null ? null : typeof value === "string" ? value : value.id;

function nextStatus(current: CheckoutSession["status"], incoming: string | null): CheckoutSession["status"] {
  if (current !== "open") return current; // complete and expired are final
  if (incoming === "complete") return "complete";
  if (incoming === "expired") return "expired";
  return current;
}

function nextPaymentStatus(
  current: CheckoutSession["paymentStatus"],
  incoming: CheckoutSession["paymentStatus"],
): CheckoutSession["paymentStatus"] {
  if (current !== "unpaid") return current; // paid, failed, no_payment_required are final
  return incoming;
}

function applySession(tx: Tx, session: Stripe.Checkout.Session, hint: Hint): ApplyResult {
  const row = statements().checkoutById.get({ id: session.id });
  if (!row) {
    // A payment link, another app on the same account, or a session from
    // before this database: the event is recorded, nothing is fulfilled.
    if (hint === "completed" || hint === "async_succeeded") {
      console.warn(
        `checkout not created by this shop, not fulfilled session=${session.id} client_reference_id=${session.client_reference_id ?? "-"} payment_link=${idOf(session.payment_link) ?? "-"}`,
      );
    }
    return nothing();
  }

  const incomingPayment: CheckoutSession["paymentStatus"] =
    hint === "async_failed"
      ? "failed"
      : hint === "async_succeeded"
        ? "paid"
        : session.payment_status === "paid"
          ? "paid"
          : session.payment_status === "no_payment_required"
            ? "no_payment_required"
            : "unpaid";
  // async_* events only happen to completed sessions.
  const incomingStatus: string | null =
    hint === "async_failed" || hint === "async_succeeded" ? "complete" : session.status;

  const status = nextStatus(row.status, incomingStatus);
  const paymentStatus =
    status === "expired" ? row.paymentStatus : nextPaymentStatus(row.paymentStatus, incomingPayment);

  let flag = row.flag;
  if (status === "complete" && !flag) flag = mismatch(row, session);

  const customerId = idOf(session.customer);
  const subscriptionId = idOf(session.subscription);
  const update: Partial<CheckoutSession> = {};
  if (status !== row.status) update.status = status;
  if (paymentStatus !== row.paymentStatus) update.paymentStatus = paymentStatus;
  if (flag !== row.flag) update.flag = flag;
  if (!row.customerEmail && session.customer_details?.email) update.customerEmail = session.customer_details.email;
  if (!row.stripeCustomerId && customerId) update.stripeCustomerId = customerId;
  if (!row.stripeSubscriptionId && subscriptionId) update.stripeSubscriptionId = subscriptionId;
  if (!row.paymentIntentId && idOf(session.payment_intent)) update.paymentIntentId = idOf(session.payment_intent);
  if (
    subscriptionId &&
    !row.subscriptionStatus &&
    (paymentStatus === "paid" || paymentStatus === "no_payment_required")
  ) {
    update.subscriptionStatus = "active";
  }

  const changed = Object.keys(update).length > 0;
  if (changed) {
    tx.update(checkoutSessions)
      .set({ ...update, updatedAt: Date.now() })
      .where(eq(checkoutSessions.id, row.id))
      .run();
  }
  // Subscription events can land before the completion that links the
  // subscription to this checkout; they were recorded, so apply them now.
  if (update.stripeSubscriptionId) replaySubscriptionEvents(tx, update.stripeSubscriptionId);

  // The shopper's Stripe customer, stored on first completion for reuse.
  if (customerId && !flag) {
    const owner = statements().shopperByCustomer.get({ customer: customerId });
    if (!owner) statements().linkCustomer.run({ customer: customerId, now: Date.now(), shopper: row.shopperId });
  }

  if (flag && flag !== row.flag) {
    console.warn(`checkout not fulfilled: ${flag} session=${row.id} shopper=${row.shopperId}`);
  }

  let fulfilled = false;
  const payable = paymentStatus === "paid" || paymentStatus === "no_payment_required";
  if (status === "complete" && payable && !flag && row.fulfilledAt == null) {
    // The WHERE makes this the single winner even if two writers got here.
    const won = statements().markFulfilled.run({ now: Date.now(), id: row.id });
    if (won.changes === 1) {
      const current = statements().checkoutById.get({ id: row.id });
      if (current) fulfill(tx, current);
      fulfilled = true;
    }
  }

  return { duplicate: false, checkoutId: row.id, changed: changed || fulfilled, fulfilled, flag };
}

/** Why a completed session must not be fulfilled, or null when all is as the shop asked. */
function mismatch(row: CheckoutSession, session: Stripe.Checkout.Session): string | null {
  if (session.livemode !== config.stripe.livemode) return "livemode_mismatch";
  if (session.mode !== row.mode) return "mode_mismatch";
  if (session.client_reference_id !== row.shopperId) return "shopper_mismatch";
  if (session.currency != null && session.currency !== row.currency) return "currency_mismatch";
  if (session.amount_total != null && session.amount_total !== row.amountTotal) return "amount_mismatch";
  return null;
}

function applySubscription(tx: Tx, subscription: Stripe.Subscription, created: number): ApplyResult {
  const row = tx
    .select()
    .from(checkoutSessions)
    .where(eq(checkoutSessions.stripeSubscriptionId, subscription.id))
    .get();
  if (!row) return nothing();
  // Older news than what is stored, or news after the end: nothing to do.
  if (row.subscriptionStatus === "canceled") return nothing(row.id);
  if (row.subscriptionEventAt != null && created < row.subscriptionEventAt) return nothing(row.id);
  if (row.subscriptionStatus === subscription.status && row.subscriptionEventAt === created) return nothing(row.id);
  tx.update(checkoutSessions)
    .set({ subscriptionStatus: subscription.status, subscriptionEventAt: created, updatedAt: Date.now() })
    .where(eq(checkoutSessions.id, row.id))
    .run();
  return { ...nothing(row.id), changed: true };
}

function objectIdOf(event: Stripe.Event): string | null {
  const id = (event.data?.object as { id?: unknown } | undefined)?.id;
  return typeof id === "string" ? id : null;
}

function replaySubscriptionEvents(tx: Tx, subscriptionId: string) {
  const earlier = tx
    .select({ payload: stripeEvents.payload, created: stripeEvents.created })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.objectId, subscriptionId), inArray(stripeEvents.type, [...SUBSCRIPTION_EVENTS])))
    .orderBy(asc(stripeEvents.created), asc(stripeEvents.receivedAt))
    .all();
  for (const stored of earlier) {
    const event = JSON.parse(stored.payload) as Stripe.Event;
    applySubscription(tx, event.data.object as Stripe.Subscription, stored.created);
  }
}

/* -------------------------------------------------------------------------- */
/* Reading                                                                    */
/* -------------------------------------------------------------------------- */

export function getCheckout(id: string) {
  return db.select().from(checkoutSessions).where(eq(checkoutSessions.id, id)).get();
}
