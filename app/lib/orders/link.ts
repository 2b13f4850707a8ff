import { eq, or, type SQL, sql } from "drizzle-orm";
import type { AnyColumn } from "drizzle-orm";

import type { ChargeNews, DisputeNews } from "./transition";

/**
 * Which order a charge or dispute belongs to: the payment intent the
 * completion stored, or the charge an earlier refund or dispute linked.
 * Column names are the same in both dialects' tables.
 */
export function moneyLink(
  table: { paymentIntentId: AnyColumn; stripeChargeId: AnyColumn },
  news: ChargeNews | DisputeNews,
): SQL | undefined {
  const chargeId = news.chargeId;
  const byCharge = chargeId ? eq(table.stripeChargeId, chargeId) : undefined;
  const byIntent = news.paymentIntentId ? eq(table.paymentIntentId, news.paymentIntentId) : undefined;
  // Neither id: match nothing rather than every row.
  return or(byIntent, byCharge) ?? sql`false`;
}
