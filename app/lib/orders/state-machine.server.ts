import type Stripe from "stripe";

import { config } from "../config.server";
import { handle } from "../db.server";
import { type ApplyResult, type EventSource, nothing } from "./news";
import { pgOrderStore } from "./pg-store.server";
import { sqliteOrderStore } from "./sqlite-store.server";
import { refundNews, sessionFacts } from "./transition";

/**
 * The one state machine that moves a checkout forward. The webhook, the
 * success page and the reconcile command all call it, so a payment is
 * fulfilled once however many times, in whatever order and on whichever
 * instance the news arrives. The rule is transition.ts; the store of the
 * configured database applies it in one transaction.
 */

export type { ApplyResult } from "./news";
export { HANDLED_EVENT_TYPES } from "./events";

const context = () => ({ livemode: config.stripe.livemode });
const store = handle.dialect === "sqlite" ? sqliteOrderStore(handle, context) : pgOrderStore(handle, context);

/**
 * Records a Stripe event (once: its id is the primary key) and applies its
 * effect in the same transaction. A repeated event changes nothing.
 * `payload` is the raw body as received, when there is one.
 */
export function processStripeEvent(
  event: Stripe.Event,
  { payload, source = "webhook" }: { payload?: string; source?: EventSource } = {},
): Promise<ApplyResult> {
  return store.processEvent(event, payload, source);
}

/**
 * Applies a Checkout Session as Stripe reports it now (retrieved by the
 * success page or the reconcile command), with no event to record.
 */
export async function applyCheckoutSession(
  session: Stripe.Checkout.Session,
  source: Exclude<EventSource, "webhook"> = "success_page",
): Promise<ApplyResult> {
  const facts = sessionFacts(session);
  return facts ? store.applyNews({ kind: "session", effect: "retrieved", session: facts }, source) : nothing();
}

/**
 * Applies a Refund as Stripe reports it now (reconcile asks about the
 * refunds still pending), with no event to record.
 */
export async function applyRefund(refund: Stripe.Refund): Promise<ApplyResult> {
  const news = refundNews(refund, Math.floor(Date.now() / 1000));
  return news ? store.applyNews(news, "reconcile") : nothing();
}
