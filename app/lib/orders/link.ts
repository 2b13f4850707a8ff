import { eq, or, type SQL, sql } from "drizzle-orm";
import type { AnyColumn } from "drizzle-orm";

import type { ChargeNews, DisputeNews, RefundNews, StoredNews } from "./transition";

/**
 * Which order a charge or dispute belongs to: the payment intent the
 * completion stored, or the charge an earlier refund or dispute linked.
 * Column names are the same in both dialects' tables.
 */
export function moneyLink(
  table: { paymentIntentId: AnyColumn; stripeChargeId: AnyColumn },
  news: ChargeNews | RefundNews | DisputeNews,
): SQL | undefined {
  const chargeId = news.chargeId;
  const byCharge = chargeId ? eq(table.stripeChargeId, chargeId) : undefined;
  const byIntent = news.paymentIntentId ? eq(table.paymentIntentId, news.paymentIntentId) : undefined;
  // Neither id: match nothing rather than every row.
  return or(byIntent, byCharge) ?? sql`false`;
}

/**
 * The id an order learns later that ties this news to it (stored as
 * stripe_events.link_id): the subscription of subscription and invoice news,
 * the payment intent (or, without one, the charge) of charge, refund and
 * dispute news; null for sessions, which name their order themselves.
 */
export function linkIdOf(news: StoredNews): string | null {
  if (news.kind === "session") return null;
  if (news.kind === "subscription" || news.kind === "invoice") return news.subscriptionId;
  return news.paymentIntentId ?? news.chargeId;
}
