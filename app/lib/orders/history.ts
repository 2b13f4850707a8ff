import type { CheckoutSession } from "../../../db/schema/types";
import type { EventSource } from "./news";

/**
 * The columns an order's timeline shows when they change: its states,
 * amounts and flag, never ids or emails. The stores write one order_changes
 * row, in the transaction of the change, from what this returns.
 */
export const TRACKED = [
  "status",
  "paymentStatus",
  "amountRefunded",
  "disputeStatus",
  "flag",
  "subscriptionStatus",
  "invoiceStatus",
  "fulfilledAt",
] as const satisfies readonly (keyof CheckoutSession)[];

export type Cause = { eventId: string | null; source: EventSource };

export type ChangeRow = {
  checkoutSessionId: string;
  at: number;
  eventId: string | null;
  source: EventSource;
  before: string;
  after: string;
};

/** The tracked columns that differ between `row` and `row` + `update` (+ fulfilled), or null when none does. */
export function changeRow(
  row: CheckoutSession,
  update: Partial<CheckoutSession>,
  fulfilledAt: number | null,
  cause: Cause,
  at: number,
): ChangeRow | null {
  const next: Partial<CheckoutSession> = fulfilledAt === null ? update : { ...update, fulfilledAt };
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const column of TRACKED) {
    if (!(column in next) || next[column] === row[column]) continue;
    before[column] = row[column];
    after[column] = next[column];
  }
  if (Object.keys(after).length === 0) return null;
  return {
    checkoutSessionId: row.id,
    at,
    eventId: cause.eventId,
    source: cause.source,
    before: JSON.stringify(before),
    after: JSON.stringify(after),
  };
}
