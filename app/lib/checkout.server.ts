import { and, eq, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as pgTables from "../../db/schema/pg";
import * as sqliteTables from "../../db/schema/sqlite";
import type { CheckoutSession, Product } from "../../db/schema/types";
import { checkoutOptionParams } from "./checkout-options.server";
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
  /** The first line's product and quantity (every line is in `lines`). */
  productId: number;
  quantity: number;
  mode: Product["mode"];
  amountSubtotal: number;
  amountTotal: number;
  currency: string;
  url: string;
  formToken: string;
  stripeCustomerId: string | null;
  expiresAt: number | null;
  cartId: number | null;
  cartVersion: number | null;
};

/** One line the shop asks Stripe to charge: a catalog product and how many. */
export type CheckoutLine = { product: Product; quantity: number };

type NewLineItem = { productId: number; quantity: number; unitAmount: number; currency: string };

/** Where the Buy path reads and writes, per dialect. */
type BuyStore = {
  byFormToken(token: string): Promise<CheckoutSession | undefined>;
  shopperCustomer(shopperId: string): Promise<string | null>;
  /**
   * Stores the shopper, the checkout and its line items in one transaction;
   * returns the row that holds the form token.
   */
  store(checkout: NewCheckout, lines: NewLineItem[]): Promise<CheckoutSession | undefined>;
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
        amountSubtotal: p("amountSubtotal"),
        amountTotal: p("amountTotal"),
        currency: p("currency"),
        url: p("url"),
        formToken: p("formToken"),
        stripeCustomerId: p("stripeCustomerId"),
        expiresAt: p("expiresAt"),
        cartId: p("cartId"),
        cartVersion: p("cartVersion"),
      })
      .onConflictDoNothing()
      .returning({ id: t.checkoutSessions.id })
      .prepare(),
    insertLineItem: h.sqliteDb
      .insert(t.checkoutLineItems)
      .values({
        checkoutSessionId: p("checkoutSessionId"),
        productId: p("productId"),
        quantity: p("quantity"),
        unitAmount: p("unitAmount"),
        currency: p("currency"),
      })
      .prepare(),
  };
  return {
    byFormToken: async (token) => st.checkoutByFormToken.get({ token }),
    shopperCustomer: async (id) => st.shopperById.get({ id })?.stripeCustomerId ?? null,
    store: async (checkout, lines) =>
      h.sqliteDb.transaction(
        () => {
          st.insertShopper.run({ id: checkout.shopperId });
          // Only the row that won the form token gets the lines.
          if (st.insertCheckout.get(checkout)) {
            for (const line of lines) st.insertLineItem.run({ ...line, checkoutSessionId: checkout.id });
          }
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
    store: (checkout, lines) =>
      h.pgDb.transaction(async (tx) => {
        await tx.insert(t.shoppers).values({ id: checkout.shopperId }).onConflictDoNothing();
        const won = await tx
          .insert(t.checkoutSessions)
          .values({ ...checkout, status: "open", paymentStatus: "unpaid" })
          .onConflictDoNothing()
          .returning({ id: t.checkoutSessions.id });
        if (won.length > 0 && lines.length > 0) {
          await tx
            .insert(t.checkoutLineItems)
            .values(lines.map((line) => ({ ...line, checkoutSessionId: checkout.id })));
        }
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

export function cartCancelUrl() {
  return `${config.appOrigin}/cart?canceled=1`;
}

/**
 * The one place where a Checkout Session's parameters are built, for Buy now
 * and for the cart alike: everything Stripe is told comes from the catalog
 * and the configuration, never from the request. Checkout's own options
 * (promotion codes, tax, shipping...) belong here, so that both paths get them.
 */
export function checkoutSessionParams({
  mode,
  lines,
  cancelUrl,
  shopperId,
  metadata,
  customer,
}: {
  mode: Product["mode"];
  lines: CheckoutLine[];
  cancelUrl: string;
  shopperId: string;
  metadata: Record<string, string>;
  customer: string | undefined;
}): Stripe.Checkout.SessionCreateParams {
  return {
    mode,
    line_items: lines.map(({ product, quantity }) => ({ price: product.stripePriceId, quantity })),
    success_url: successUrl(),
    cancel_url: cancelUrl,
    client_reference_id: shopperId,
    metadata: { ...metadata, shopper: shopperId },
    ...(customer
      ? { customer }
      : mode === "payment"
        ? // So that the next checkout can reuse the customer Stripe makes.
          { customer_creation: "always" as const }
        : {}),
    // Promotion codes, tax, shipping, phone, terms: configured once, for Buy now and the cart alike.
    ...checkoutOptionParams(config.checkout, {
      mode,
      shippable: lines.some(({ product }) => product.shippable),
      customer: customer !== undefined,
    }),
  };
}

/** What the shop expects Stripe to charge for these lines, in minor units. */
export const linesTotal = (lines: CheckoutLine[]) =>
  lines.reduce((sum, { product, quantity }) => sum + product.unitAmount * quantity, 0);

/**
 * Creates (or, for a repeated form token, finds again) the Stripe Checkout
 * Session for one product and quantity (Buy now), and stores it.
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
  const opened = await openCheckout({
    key: formToken,
    mode: product.mode,
    lines: [{ product, quantity }],
    cancelUrl: cancelUrl(product),
    metadata: { product: product.slug },
    shopperId,
    clientAddress,
    cart: null,
  });
  // Two submits of one form raced past the first look-up: the idempotency key
  // gave both the same session, and one row holds it.
  if (opened.stored && opened.stored.id !== opened.id) return reuse(opened.stored, { product, quantity, shopperId });
  return { id: opened.id, url: opened.url, reused: false };
}

/** A stored checkout by its form token (Buy now) or cart key: what a repeated submit finds. */
export const checkoutByKey = (key: string) => buy().byFormToken(key);

/**
 * Opens the Checkout Session for a cart: one line item per cart line, in
 * payment mode, keyed by `key` (the cart id, version and contents), so that a
 * double submit finds the same session and a changed cart opens a new one.
 * The caller has checked the lines against the catalog and the cart's version.
 */
export async function createCartCheckout({
  key,
  cart,
  lines,
  shopperId,
  clientAddress,
}: {
  key: string;
  cart: { id: number; version: number };
  lines: CheckoutLine[];
  shopperId: string;
  clientAddress?: string;
}): Promise<{ id: string; url: string; reused: boolean }> {
  const previous = await buy().byFormToken(key);
  if (previous) return reuseCart(previous, shopperId);
  const opened = await openCheckout({
    key,
    mode: "payment",
    lines,
    cancelUrl: cartCancelUrl(),
    metadata: { cart: String(cart.id) },
    shopperId,
    clientAddress,
    cart,
  });
  if (opened.stored && opened.stored.id !== opened.id) return reuseCart(opened.stored, shopperId);
  return { id: opened.id, url: opened.url, reused: false };
}

/**
 * The Stripe call and the stored row, shared by Buy now and the cart: the
 * per-shopper and per-address bounds, the idempotency key, a stale customer
 * forgotten, Stripe's failures as UserErrors, and the row with its lines.
 */
async function openCheckout({
  key,
  mode,
  lines,
  cancelUrl,
  metadata,
  shopperId,
  clientAddress,
  cart,
}: {
  key: string;
  mode: Product["mode"];
  lines: CheckoutLine[];
  cancelUrl: string;
  metadata: Record<string, string>;
  shopperId: string;
  clientAddress: string | undefined;
  cart: { id: number; version: number } | null;
}) {
  const first = lines[0];
  if (!first) throw new UserError(400, "There is nothing to check out.");
  let customer = (await buy().shopperCustomer(shopperId)) ?? undefined;
  const paramsFor = (customer: string | undefined) =>
    checkoutSessionParams({ mode, lines, cancelUrl, shopperId, metadata, customer });

  // One shopper, or one address, opens a bounded number of sessions: Stripe's rate limit is the account's.
  for (const [limiter, limiterKey] of [
    [checkoutsPerShopper, shopperId],
    [checkoutsPerAddress, clientAddress],
  ] as const) {
    if (!limiterKey) continue;
    const taken = await limiter.take(limiterKey);
    if (!taken.ok) throw new UserError(429, TOO_MANY_CHECKOUTS, taken.retryAfter);
  }

  let session: Stripe.Checkout.Session;
  try {
    try {
      session = await stripe.checkout.sessions.create(paramsFor(customer), {
        idempotencyKey: `checkout-${key}`,
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
        idempotencyKey: `checkout-${key}-new-customer`,
      });
    }
  } catch (error: unknown) {
    const failure = describeStripeError(error);
    if (failure.idempotencyConflict) {
      throw new UserError(409, "This form was already submitted. Reload the page to start again.");
    }
    logger.error(
      {
        ...(cart ? { cart: cart.id } : { product: first.product.slug }),
        errorType: failure.type,
        stripeRequestId: failure.requestId,
      },
      `checkout create failed ${cart ? `cart=${cart.id}` : `product=${first.product.slug}`} type=${failure.type} request=${failure.requestId ?? "-"}`,
    );
    throw new UserError(502, PAYMENT_SERVICE_DOWN);
  }
  if (!session.url) {
    logger.error({ checkoutId: session.id }, `checkout create returned no url session=${session.id}`);
    throw new UserError(502, PAYMENT_SERVICE_DOWN);
  }
  const url = session.url;

  // The subtotal: Stripe's total may also hold shipping (and, once the shopper pays, discounts and tax).
  const expected = linesTotal(lines);
  if (session.amount_subtotal != null && session.amount_subtotal !== expected) {
    logger.warn(
      { checkoutId: session.id },
      `checkout amount differs from catalog session=${session.id} expected=${expected} stripe=${session.amount_subtotal}`,
    );
  }

  const stored = await buy().store(
    {
      id: session.id,
      shopperId,
      productId: first.product.id,
      quantity: first.quantity,
      mode,
      amountSubtotal: expected,
      // Replaced by Stripe's total (after discounts, tax and shipping) when the session completes.
      amountTotal: expected,
      currency: first.product.currency,
      url,
      formToken: key,
      stripeCustomerId: customer ?? null,
      expiresAt: session.expires_at ? session.expires_at * 1000 : null,
      cartId: cart?.id ?? null,
      cartVersion: cart?.version ?? null,
    },
    lines.map(({ product, quantity }) => ({
      productId: product.id,
      quantity,
      unitAmount: product.unitAmount,
      currency: product.currency,
    })),
  );
  return { id: session.id, url, stored };
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
  if (previous.shopperId !== shopperId || previous.productId !== product.id || previous.cartId !== null) {
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

function reuseCart(previous: CheckoutSession, shopperId: string) {
  // The key names this shopper's cart, its version and its contents: the same key is the same checkout.
  if (previous.shopperId !== shopperId || previous.status !== "open" || !previous.url) {
    throw new UserError(409, "This checkout is no longer open. Reload your cart to start a new one.");
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
