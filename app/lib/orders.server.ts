import { and, asc, desc, eq, inArray, isNotNull } from "drizzle-orm";

import {
  type OrderLineView,
  type OrderListItem,
  type SuccessState,
  type SuccessView,
  totalsView,
} from "~/lib/order-views";

import type { CheckoutSession, Product } from "../../db/schema/types";
import { getCheckout } from "./checkout.server";
import { applyCheckoutSession } from "./orders/state-machine.server";
import { config } from "./config.server";
import { logger } from "./logger.server";
import { db, dialectSql, schema } from "./db.server";
import { formatMoney } from "./money";
import { sessionLookups } from "./rate-limit.server";
import { describeStripeError } from "./stripe-errors.server";
import { stripe } from "./stripe.server";

const { checkoutLineItems, checkoutSessions, products, shoppers } = schema;

/** The lines of these checkouts, by checkout id, in the order they were asked for. */
export async function orderLines(checkoutIds: string[]): Promise<Map<string, OrderLineView[]>> {
  const byCheckout = new Map<string, OrderLineView[]>();
  if (checkoutIds.length === 0) return byCheckout;
  const rows = await db
    .select({ item: checkoutLineItems, name: products.name })
    .from(checkoutLineItems)
    .innerJoin(products, eq(products.id, checkoutLineItems.productId))
    .where(inArray(checkoutLineItems.checkoutSessionId, checkoutIds))
    .orderBy(asc(checkoutLineItems.id));
  for (const { item, name } of rows) {
    const lines = byCheckout.get(item.checkoutSessionId) ?? [];
    lines.push({
      name,
      quantity: item.quantity,
      unitPrice: formatMoney(item.unitAmount, item.currency),
      lineTotal: formatMoney(item.unitAmount * item.quantity, item.currency),
    });
    byCheckout.set(item.checkoutSessionId, lines);
  }
  return byCheckout;
}

/**
 * The shopper's own checkouts: the success page, the orders page and the
 * billing portal. Every read here is scoped to one shopper id; an id that is
 * not theirs looks exactly like one that does not exist.
 */

/** What Stripe puts in `{CHECKOUT_SESSION_ID}`. */
export const SESSION_ID = /^cs_(test|live)_[A-Za-z0-9]{1,255}$/;

type OwnCheckout = { checkout: CheckoutSession; product: Pick<Product, "name" | "slug" | "recurringInterval"> };

/** Whether the database knows this shopper (has a checkout of theirs). */
export async function isKnownShopper(shopperId: string) {
  const [row] = await db.select({ id: shoppers.id }).from(shoppers).where(eq(shoppers.id, shopperId)).limit(1);
  return row !== undefined;
}

/** The checkout with this id if it belongs to this shopper, else undefined. */
export async function findOwnCheckout(shopperId: string, checkoutId: string): Promise<OwnCheckout | undefined> {
  const [found] = await db
    .select({
      checkout: checkoutSessions,
      product: { name: products.name, slug: products.slug, recurringInterval: products.recurringInterval },
    })
    .from(checkoutSessions)
    .innerJoin(products, eq(products.id, checkoutSessions.productId))
    .where(and(eq(checkoutSessions.id, checkoutId), eq(checkoutSessions.shopperId, shopperId)))
    .limit(1);
  return found;
}

/** No completion stored yet: Stripe may know more than the database. */
export function isPending(checkout: Pick<CheckoutSession, "status" | "paymentStatus">) {
  return checkout.status !== "expired" && checkout.paymentStatus === "unpaid";
}

/**
 * For a pending checkout, asks Stripe once and feeds its answer to the same
 * state machine the webhook uses, so that a paid session shows as paid before
 * the webhook lands (https://docs.stripe.com/checkout/fulfillment). A final
 * state is returned as stored, without asking. If Stripe does not answer, the
 * stored state stands and the page refreshes to try again.
 */
export async function refreshFromStripe(checkout: CheckoutSession): Promise<CheckoutSession> {
  if (!isPending(checkout)) return checkout;
  // Asked a moment ago (this tab, another tab, another instance): that answer is in the stored order.
  if (!(await sessionLookups.take(checkout.id)).ok) return checkout;
  let session;
  try {
    // No retry: the processing page reloads itself in a few seconds anyway.
    session = await stripe.checkout.sessions.retrieve(checkout.id, {}, { maxNetworkRetries: 0 });
  } catch (error: unknown) {
    logStripeFailure(error, `success page: Stripe did not answer, showing the stored state session=${checkout.id}`);
    return checkout;
  }
  try {
    await applyCheckoutSession(session);
  } catch (error: unknown) {
    // Rolled back (a busy database, a failing fulfillment hook): the webhook
    // or the next reload applies it again.
    logger.error(
      { checkoutId: checkout.id },
      `success page: could not apply the retrieved session session=${checkout.id} error=${error instanceof Error ? error.name : typeof error}`,
    );
    return checkout;
  }
  return (await getCheckout(checkout.id)) ?? checkout;
}

function successState(checkout: CheckoutSession): SuccessState {
  if (checkout.status === "expired") return "expired";
  if (checkout.paymentStatus === "failed") return "failed";
  if (checkout.paymentStatus === "paid" || checkout.paymentStatus === "no_payment_required") {
    // Paid, but the state machine found something wrong and did not fulfill.
    return checkout.flag ? "review" : "paid";
  }
  return checkout.status === "complete" ? "waiting_for_bank" : "processing";
}

// How often a pending page reloads itself: a card settles in seconds, a bank debit in days.
const REFRESH_SECONDS: Partial<Record<SuccessState, number>> = { processing: 3, waiting_for_bank: 10 };

export function successView(
  { checkout, product }: OwnCheckout,
  lines: OrderLineView[] | undefined = undefined,
): SuccessView {
  const state = successState(checkout);
  return {
    state,
    refreshSeconds: REFRESH_SECONDS[state] ?? null,
    order: {
      productName: product.name,
      productSlug: product.slug,
      mode: checkout.mode,
      quantity: checkout.quantity,
      ...(lines ? { lines } : {}),
      ...(checkout.cartId != null ? { fromCart: true } : {}),
      amount: amountOf(checkout),
      email: checkout.customerEmail,
      interval: product.recurringInterval ?? undefined,
      afterPayment: afterPayment(checkout),
      totals: totalsView(checkout, formatMoney),
    },
  };
}

const amountOf = (checkout: Pick<CheckoutSession, "amountTotal" | "currency">) =>
  checkout.amountTotal != null && checkout.currency ? formatMoney(checkout.amountTotal, checkout.currency) : null;

/* -------------------------------------------------------------------------- */
/* The orders page                                                            */
/* -------------------------------------------------------------------------- */

const SUBSCRIPTION_WORDS: Record<string, string> = {
  active: "Subscription active",
  trialing: "Subscription on trial",
  past_due: "Subscription payment overdue",
  unpaid: "Subscription unpaid",
  paused: "Subscription paused",
  canceled: "Subscription canceled",
  incomplete: "Subscription waiting for payment",
  incomplete_expired: "Subscription ended",
};

/**
 * What happened to a paid order's money since, in the shopper's words: a
 * dispute first (it decides the money), then refunds, then a renewal that
 * failed. Null when nothing did.
 */
export function afterPayment(checkout: CheckoutSession): string | null {
  if (checkout.disputeStatus === "open") return "Payment disputed";
  if (checkout.disputeStatus === "won") return "Payment disputed: the dispute was closed and the payment stands";
  if (checkout.disputeStatus === "lost") return "Payment disputed: the payment was returned to your card";
  const total = checkout.amountTotal;
  if (checkout.amountRefunded > 0 && total != null && checkout.currency) {
    const money = (amount: number) => formatMoney(amount, checkout.currency!);
    // A pending refund is promised, not yet back on the card: said apart.
    const pending = checkout.amountRefundPending;
    const settled = checkout.amountRefunded - pending;
    const done = settled >= total ? "Refunded" : settled > 0 ? `Refunded ${money(settled)} of ${money(total)}` : null;
    if (pending <= 0) return done;
    const waiting = `Refund pending: ${money(pending)}${done ? "" : ` of ${money(total)}`}`;
    return done ? `${done}. ${waiting}` : waiting;
  }
  if (checkout.mode === "subscription" && checkout.invoiceStatus === "payment_failed") {
    return "Payment failed: update your card";
  }
  return null;
}

export function stateInWords(checkout: CheckoutSession): string {
  switch (successState(checkout)) {
    case "expired":
      return "Expired: not charged";
    case "failed":
      return "Payment failed: not charged";
    case "review":
      return "Paid: we are checking this order";
    case "waiting_for_bank":
      return "Waiting for your bank";
    case "processing":
      return "Checkout not completed";
    case "paid": {
      const money = afterPayment(checkout);
      if (money) return money;
      if (checkout.mode === "subscription" && checkout.subscriptionStatus) {
        return `Paid: ${SUBSCRIPTION_WORDS[checkout.subscriptionStatus] ?? `subscription ${checkout.subscriptionStatus}`}`;
      }
      return "Paid";
    }
  }
}

const ORDERS_SHOWN = 100;
const dateFormat = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeZone: "UTC" });

/** The shopper's checkouts, newest first. */
export async function listOrders(shopperId: string): Promise<OrderListItem[]> {
  const rows = await db
    .select({ checkout: checkoutSessions, productName: products.name })
    .from(checkoutSessions)
    .innerJoin(products, eq(products.id, checkoutSessions.productId))
    .where(eq(checkoutSessions.shopperId, shopperId))
    // The insertion order breaks ties between checkouts made in the same millisecond.
    .orderBy(desc(checkoutSessions.createdAt), desc(dialectSql.insertionOrder(checkoutSessions)))
    .limit(ORDERS_SHOWN);
  const lines = await orderLines(rows.map(({ checkout }) => checkout.id));
  return rows.map(({ checkout, productName }) => ({
    id: checkout.id,
    productName,
    quantity: lines.get(checkout.id)?.reduce((sum, line) => sum + line.quantity, 0) ?? checkout.quantity,
    ...(lines.has(checkout.id) ? { lines: lines.get(checkout.id) } : {}),
    amount: amountOf(checkout),
    totals: totalsView(checkout, formatMoney),
    state: stateInWords(checkout),
    date: dateFormat.format(checkout.createdAt),
    dateTime: new Date(checkout.createdAt).toISOString(),
    canManage: canManage(checkout),
  }));
}

const canManage = (checkout: CheckoutSession) =>
  checkout.mode === "subscription" && checkout.stripeCustomerId !== null && checkout.stripeSubscriptionId !== null;

/* -------------------------------------------------------------------------- */
/* The billing portal                                                         */
/* -------------------------------------------------------------------------- */

export type PortalResult = { ok: true; url: string } | { ok: false; status: 400 | 403 | 404 | 502; message: string };

export const PORTAL_MESSAGES = {
  noShopper: "We could not find any orders in this browser, so there is no subscription to manage here.",
  badReference: "That order reference is not valid.",
  notFound: "We could not find that subscription among your orders.",
  noSubscription: "You have no subscription to manage yet.",
  stripeDown: "The payment service did not answer. Your subscription was not changed. Please try again in a moment.",
} as const;

/**
 * Opens Stripe's billing portal for a subscription of this shopper's. The
 * customer comes from the shopper's own stored checkout, never from the form:
 * the form may only name which of their checkouts it means.
 */
export async function openBillingPortal(shopperId: string | null, checkoutId: string | null): Promise<PortalResult> {
  if (!shopperId) return { ok: false, status: 403, message: PORTAL_MESSAGES.noShopper };
  if (checkoutId !== null && !SESSION_ID.test(checkoutId)) {
    return { ok: false, status: 400, message: PORTAL_MESSAGES.badReference };
  }

  const manageable = and(
    eq(checkoutSessions.shopperId, shopperId),
    eq(checkoutSessions.mode, "subscription"),
    isNotNull(checkoutSessions.stripeCustomerId),
    isNotNull(checkoutSessions.stripeSubscriptionId),
  );
  const [row] = await db
    .select({ id: checkoutSessions.id, customer: checkoutSessions.stripeCustomerId })
    .from(checkoutSessions)
    .where(checkoutId ? and(manageable, eq(checkoutSessions.id, checkoutId)) : manageable)
    .orderBy(desc(checkoutSessions.createdAt))
    .limit(1);
  if (!row?.customer) {
    return checkoutId
      ? { ok: false, status: 404, message: PORTAL_MESSAGES.notFound }
      : { ok: false, status: 404, message: PORTAL_MESSAGES.noSubscription };
  }

  try {
    const portal = await stripe.billingPortal.sessions.create({
      customer: row.customer,
      return_url: `${config.appOrigin}/orders`,
    });
    return { ok: true, url: portal.url };
  } catch (error: unknown) {
    logStripeFailure(error, `billing portal: Stripe did not answer checkout=${row.id}`);
    return { ok: false, status: 502, message: PORTAL_MESSAGES.stripeDown };
  }
}

// Stripe down, slow or busy is expected now and then: a warning. Anything
// else (a refused key, an unknown customer, no portal configuration) means
// the shop is set up wrong: an error.
function logStripeFailure(error: unknown, message: string) {
  const { type, requestId, unavailable } = describeStripeError(error);
  const line = `${message} type=${type} request=${requestId ?? "-"}`;
  const fields = { errorType: type, stripeRequestId: requestId };
  if (unavailable) logger.warn(fields, line);
  else logger.error(fields, line);
}
