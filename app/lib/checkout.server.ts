import { and, eq, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as pgTables from "../../db/schema/pg";
import * as sqliteTables from "../../db/schema/sqlite";
import type { CheckoutSession, Product } from "../../db/schema/types";
import { config } from "./config.server";
import { logger } from "./logger.server";
import { db, handle, schema } from "./db.server";
import { checkoutsPerAddress, checkoutsPerShopper, TOO_MANY_CHECKOUTS } from "./rate-limit.server";
import { describeStripeError } from "./stripe-errors.server";
import { stripe } from "./stripe.server";
import { UserError } from "./user-error";

const { checkoutSessions } = schema;

type NewCheckout = {
  id: string;
  shopperId: string;
  productId: number;
  quantity: number;
  mode: Product["mode"];
  amountTotal: number;
  currency: string;
  url: string;
  formToken: string;
  stripeCustomerId: string | null;
  expiresAt: number | null;
};

/** Where the Buy path reads and writes, per dialect. */
type BuyStore = {
  byFormToken(token: string): Promise<CheckoutSession | undefined>;
  shopperCustomer(shopperId: string): Promise<string | null>;
  /** Stores the shopper and the checkout in one transaction; returns the row that holds the form token. */
  store(checkout: NewCheckout): Promise<CheckoutSession | undefined>;
};

/**
 * SQLite: the Buy path's statements prepared once instead of rebuilt by
 * Drizzle and re-prepared by SQLite on every request
 * (docs/decisions/051-prepared-statements-on-hot-paths.md), the writes in one
 * synchronous immediate transaction.
 */
function sqliteBuyStore(h: Extract<typeof handle, { dialect: "sqlite" }>): BuyStore {
  const t = sqliteTables;
  const p = sql.placeholder;
  const st = {
    checkoutByFormToken: h.sqliteDb
      .select()
      .from(t.checkoutSessions)
      .where(eq(t.checkoutSessions.formToken, p("token")))
      .prepare(),
    shopperById: h.sqliteDb
      .select()
      .from(t.shoppers)
      .where(eq(t.shoppers.id, p("id")))
      .prepare(),
    insertShopper: h.sqliteDb
      .insert(t.shoppers)
      .values({ id: p("id") })
      .onConflictDoNothing()
      .prepare(),
    insertCheckout: h.sqliteDb
      .insert(t.checkoutSessions)
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
  };
  return {
    byFormToken: async (token) => st.checkoutByFormToken.get({ token }),
    shopperCustomer: async (id) => st.shopperById.get({ id })?.stripeCustomerId ?? null,
    store: async (checkout) =>
      h.sqliteDb.transaction(
        () => {
          st.insertShopper.run({ id: checkout.shopperId });
          st.insertCheckout.run(checkout);
          return st.checkoutByFormToken.get({ token: checkout.formToken });
        },
        { behavior: "immediate" },
      ),
  };
}

function pgBuyStore(h: Extract<typeof handle, { dialect: "postgres" }>): BuyStore {
  const t = pgTables;
  const byFormToken = async (token: string, tx = h.pgDb) =>
    (await tx.select().from(t.checkoutSessions).where(eq(t.checkoutSessions.formToken, token)).limit(1))[0];
  return {
    byFormToken: (token) => byFormToken(token),
    shopperCustomer: async (id) =>
      (await h.pgDb.select().from(t.shoppers).where(eq(t.shoppers.id, id)).limit(1))[0]?.stripeCustomerId ?? null,
    store: (checkout) =>
      h.pgDb.transaction(async (tx) => {
        await tx.insert(t.shoppers).values({ id: checkout.shopperId }).onConflictDoNothing();
        await tx
          .insert(t.checkoutSessions)
          .values({ ...checkout, status: "open", paymentStatus: "unpaid" })
          .onConflictDoNothing();
        return byFormToken(checkout.formToken, tx as unknown as typeof h.pgDb);
      }),
  };
}

let buyStore: BuyStore | undefined;
const buy = () => (buyStore ??= handle.dialect === "sqlite" ? sqliteBuyStore(handle) : pgBuyStore(handle));

/* -------------------------------------------------------------------------- */
/* Creating a checkout (the Buy form's action)                                */
/* -------------------------------------------------------------------------- */

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
  clientAddress,
}: {
  product: Product;
  quantity: number;
  formToken: string;
  shopperId: string;
  /** The client's address as the server saw it, when it passes one: bounds sessions per address. */
  clientAddress?: string;
}): Promise<{ id: string; url: string; reused: boolean }> {
  const previous = await buy().byFormToken(formToken);
  if (previous) return reuse(previous, { product, quantity, shopperId });

  let customer = (await buy().shopperCustomer(shopperId)) ?? undefined;

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

  // One shopper, or one address, opens a bounded number of sessions: Stripe's rate limit is the account's.
  for (const [limiter, key] of [
    [checkoutsPerShopper, shopperId],
    [checkoutsPerAddress, clientAddress],
  ] as const) {
    if (!key) continue;
    const taken = await limiter.take(key);
    if (!taken.ok) throw new UserError(429, TOO_MANY_CHECKOUTS, taken.retryAfter);
  }

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
      if (!customer || !describeStripeError(error).missingCustomer) throw error;
      logger.warn(
        { shopperId, customerId: customer },
        `checkout customer missing at Stripe, forgotten shopper=${shopperId} customer=${customer}`,
      );
      await forgetCustomer(shopperId, customer);
      customer = undefined;
      session = await stripe.checkout.sessions.create(paramsFor(undefined), {
        idempotencyKey: `checkout-${formToken}-new-customer`,
      });
    }
  } catch (error: unknown) {
    const failure = describeStripeError(error);
    if (failure.idempotencyConflict) {
      throw new UserError(409, "This form was already submitted. Reload the page to start again.");
    }
    logger.error(
      { product: product.slug, errorType: failure.type, stripeRequestId: failure.requestId },
      `checkout create failed product=${product.slug} type=${failure.type} request=${failure.requestId ?? "-"}`,
    );
    throw new UserError(502, PAYMENT_SERVICE_DOWN);
  }
  if (!session.url) {
    logger.error({ checkoutId: session.id }, `checkout create returned no url session=${session.id}`);
    throw new UserError(502, PAYMENT_SERVICE_DOWN);
  }
  const url = session.url;

  const expected = product.unitAmount * quantity;
  if (session.amount_total != null && session.amount_total !== expected) {
    logger.warn(
      { checkoutId: session.id },
      `checkout amount differs from catalog session=${session.id} expected=${expected} stripe=${session.amount_total}`,
    );
  }

  const stored = await buy().store({
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
  // Two submits of one form raced past the first look-up: the idempotency key
  // gave both the same session, and one row holds it.
  if (stored && stored.id !== session.id) return reuse(stored, { product, quantity, shopperId });
  return { id: session.id, url, reused: false };
}

async function forgetCustomer(shopperId: string, customer: string) {
  await db
    .update(schema.shoppers)
    .set({ stripeCustomerId: null, updatedAt: Date.now() })
    .where(and(eq(schema.shoppers.id, shopperId), eq(schema.shoppers.stripeCustomerId, customer)));
}

function reuse(
  previous: CheckoutSession,
  { product, quantity, shopperId }: { product: Product; quantity: number; shopperId: string },
) {
  if (previous.shopperId !== shopperId || previous.productId !== product.id) {
    throw new UserError(409, "This form was already used. Reload the page to start a new checkout.");
  }
  if (previous.quantity !== quantity) {
    throw new UserError(
      409,
      `This form was already submitted for a quantity of ${previous.quantity}. Reload the page to change the quantity.`,
    );
  }
  if (previous.status !== "open" || !previous.url) {
    throw new UserError(409, "This checkout is no longer open. Reload the page to start a new one.");
  }
  return { id: previous.id, url: previous.url, reused: true };
}

export { applyCheckoutSession, HANDLED_EVENT_TYPES, processStripeEvent } from "./orders/state-machine.server";
export type { ApplyResult } from "./orders/state-machine.server";

/* -------------------------------------------------------------------------- */
/* Reading                                                                    */
/* -------------------------------------------------------------------------- */

export async function getCheckout(id: string): Promise<CheckoutSession | undefined> {
  const [row] = await db.select().from(checkoutSessions).where(eq(checkoutSessions.id, id)).limit(1);
  return row;
}
