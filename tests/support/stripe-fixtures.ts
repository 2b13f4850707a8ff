import type { Db } from "~/lib/db.server";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

import { eq } from "drizzle-orm";
import Stripe from "stripe";

import type * as sqliteSchema from "../../db/schema/sqlite";
import { schema } from "~/lib/db.server";
import { WEBHOOK_SECRET } from "./test-env";

/**
 * Stripe events for tests, built from Stripe's own example objects
 * (stripe-emulator/fixtures) so that every body carries the fields a
 * real delivery does, and signed with the SDK's generateTestHeaderString.
 */

const fixtures = path.resolve(import.meta.dirname, "../../stripe-emulator/fixtures");
const load = <T>(name: string): T => JSON.parse(readFileSync(path.join(fixtures, name), "utf8")) as T;
const EVENT = load<Stripe.Event>("event.json");
const CHECKOUT_SESSION = load<Stripe.Checkout.Session>("checkout.session.json");

const random = (bytes = 12) => randomBytes(bytes).toString("hex");
export const nowSeconds = () => Math.floor(Date.now() / 1000);

type Overrides<T> = { [K in keyof T]?: T[K] | null } & Record<string, unknown>;

/** A Checkout Session as Stripe sends it: the example, with these fields changed. */
export function checkoutSessionObject(overrides: Overrides<Stripe.Checkout.Session> = {}): Stripe.Checkout.Session {
  const id = (overrides.id as string | undefined) ?? `cs_test_${random()}`;
  return {
    ...structuredClone(CHECKOUT_SESSION),
    id,
    url: null,
    created: nowSeconds() - 60,
    expires_at: nowSeconds() + 23 * 3600,
    ...overrides,
  } as Stripe.Checkout.Session;
}

/** A Subscription with the fields the shop reads (there is no example of one in the fixtures). */
export function subscriptionObject(overrides: Overrides<Stripe.Subscription> = {}): Stripe.Subscription {
  return {
    id: `sub_${random()}`,
    object: "subscription",
    status: "active",
    customer: `cus_${random(7)}`,
    livemode: false,
    cancel_at_period_end: false,
    canceled_at: null,
    created: nowSeconds() - 60,
    currency: "usd",
    metadata: {},
    ...overrides,
  } as unknown as Stripe.Subscription;
}

/** An event envelope around `object`: Stripe's example envelope with a fresh id. */
export function stripeEvent(
  type: string,
  object: object,
  overrides: { id?: string; created?: number; livemode?: boolean } & Record<string, unknown> = {},
): Stripe.Event {
  return {
    ...structuredClone(EVENT),
    id: `evt_test_${random()}`,
    created: nowSeconds(),
    api_version: "2026-10-28.endive",
    pending_webhooks: 1,
    ...overrides,
    type,
    data: { object },
  } as unknown as Stripe.Event;
}

/** The Stripe-Signature header for `payload`, as the SDK computes it. */
export function sign(
  payload: string,
  { secret = WEBHOOK_SECRET, timestamp, scheme }: { secret?: string; timestamp?: number; scheme?: string } = {},
) {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp !== undefined && { timestamp }),
    ...(scheme !== undefined && { scheme }),
  });
}

/** An event serialised as Stripe does (two-space indented JSON) and signed. */
export function signed(event: object, options: Parameters<typeof sign>[1] = {}) {
  const payload = JSON.stringify(event, null, 2);
  return { payload, header: sign(payload, options) };
}

/* -------------------------------------------------------------------------- */
/* Checkouts as the Buy action stores them                                    */
/* -------------------------------------------------------------------------- */

type DB = Db;
export type StoredCheckout = typeof sqliteSchema.checkoutSessions.$inferSelect;

/**
 * Inserts a shopper and an open checkout for `slug` the way createCheckout
 * does (amount and currency from the catalog), and returns the row.
 */
export async function storeCheckout(
  db: DB,
  {
    slug = "ceramic-pour-over",
    quantity = 1,
    shopperId = random(16),
    amountTotal,
  }: { slug?: string; quantity?: number; shopperId?: string; amountTotal?: number } = {},
): Promise<StoredCheckout> {
  const product = (await db.select().from(schema.products).where(eq(schema.products.slug, slug)))[0];
  if (!product) throw new Error(`no product ${slug} in the test database`);
  await db.insert(schema.shoppers).values({ id: shopperId }).onConflictDoNothing();
  const id = `cs_test_${random()}`;
  const [stored] = await db
    .insert(schema.checkoutSessions)
    .values({
      id,
      shopperId,
      productId: product.id,
      quantity,
      mode: product.mode,
      status: "open",
      paymentStatus: "unpaid",
      amountSubtotal: amountTotal ?? product.unitAmount * quantity,
      amountTotal: amountTotal ?? product.unitAmount * quantity,
      currency: product.currency,
      url: `https://checkout.stripe.com/c/pay/${id}`,
      formToken: random(12),
    })
    .returning();
  return stored!;
}

/**
 * The session Stripe would report for a stored checkout once the shopper got
 * this far: same id, amount, currency, mode, shopper; `state` picks status
 * and payment_status.
 */
export function sessionFor(
  checkout: StoredCheckout,
  state: "open" | "paid" | "unpaid" | "expired" | "no_payment_required",
  overrides: Overrides<Stripe.Checkout.Session> = {},
): Stripe.Checkout.Session {
  const completed = state === "paid" || state === "unpaid" || state === "no_payment_required";
  const subscription = checkout.mode === "subscription";
  return checkoutSessionObject({
    id: checkout.id,
    mode: checkout.mode,
    status: state === "open" ? "open" : state === "expired" ? "expired" : "complete",
    payment_status: state === "paid" ? "paid" : state === "no_payment_required" ? "no_payment_required" : "unpaid",
    amount_total: checkout.amountTotal,
    amount_subtotal: checkout.amountSubtotal ?? checkout.amountTotal,
    currency: checkout.currency,
    client_reference_id: checkout.shopperId,
    metadata: { shopper: checkout.shopperId },
    livemode: false,
    customer: completed ? `cus_${checkout.shopperId.slice(0, 14)}` : null,
    customer_details: completed ? { ...CHECKOUT_SESSION.customer_details!, email: "shopper@example.com" } : null,
    payment_intent: completed && !subscription ? `pi_${checkout.id.slice(8, 30)}` : null,
    subscription: completed && subscription ? `sub_${checkout.id.slice(8, 30)}` : null,
    // No discount, tax or shipping (the example's figures are random): a test of them says them.
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    shipping_cost: null,
    ...overrides,
  });
}

/**
 * The JSON of a `checkout.session.completed` event for a paid one-time
 * checkout of `amount` in usd, as Stripe sends it (load and crash tests).
 */
export function paidCheckoutEventPayload({
  eventId,
  sessionId,
  shopper,
  email,
  paymentIntent,
  amount = 3200,
}: {
  eventId: string;
  sessionId: string;
  shopper: string;
  email: string;
  paymentIntent: string;
  amount?: number;
}) {
  const session = checkoutSessionObject({
    id: sessionId,
    mode: "payment",
    status: "complete",
    payment_status: "paid",
    amount_total: amount,
    amount_subtotal: amount,
    currency: "usd",
    livemode: false,
    client_reference_id: shopper,
    customer: null,
    customer_details: { ...checkoutSessionObject().customer_details!, email },
    payment_intent: paymentIntent,
    subscription: null,
  });
  return JSON.stringify(stripeEvent(CHECKOUT_EVENT.completed, session, { id: eventId, livemode: false }));
}

export const CHECKOUT_EVENT = {
  completed: "checkout.session.completed",
  asyncSucceeded: "checkout.session.async_payment_succeeded",
  asyncFailed: "checkout.session.async_payment_failed",
  expired: "checkout.session.expired",
} as const;
