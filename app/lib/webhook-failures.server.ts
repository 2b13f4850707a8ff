import { count, desc, eq, isNull, lt, sql } from "drizzle-orm";

import { db, schema } from "./db.server";
import { describeDatabaseError } from "./db-errors.server";
import { logger } from "./logger.server";

const { webhookFailures, stripeEvents } = schema;

/**
 * Verified webhook deliveries the shop answered 5xx. Their transaction rolled
 * back, so this is written after it, on its own: one row per event id (a
 * retry adds to its count), only for events whose signature was good, and
 * rows older than Stripe's retry period are dropped, so the table stays
 * small. A failure is resolved once stripe_events holds the event.
 * docs/decisions/171-webhook-failures.md
 */

const KEPT_MS = 30 * 24 * 60 * 60 * 1000;

/** Best effort: the database that failed the event may refuse this too; then the log and the metric remain. */
export async function recordWebhookFailure(
  event: { id: string; type: string },
  error: unknown,
  now = Date.now(),
): Promise<void> {
  const code = describeDatabaseError(error);
  try {
    await db
      .insert(webhookFailures)
      .values({ eventId: event.id, type: event.type, error: code, count: 1, firstAt: now, lastAt: now })
      .onConflictDoUpdate({
        target: webhookFailures.eventId,
        set: { error: code, count: sql`${webhookFailures.count} + 1`, lastAt: now },
      });
    await db.delete(webhookFailures).where(lt(webhookFailures.lastAt, now - KEPT_MS));
  } catch (failure: unknown) {
    logger.warn(
      { eventId: event.id, eventType: event.type },
      `webhook failure not recorded id=${event.id} error=${describeDatabaseError(failure)}`,
    );
  }
}

export type WebhookFailureRow = {
  eventId: string;
  type: string;
  error: string;
  count: number;
  firstAt: number;
  lastAt: number;
  /** When a later delivery (or the reconcile run) stored the event; null while it is still failing. */
  resolvedAt: number | null;
};

/** The newest failures, unresolved first. */
export async function webhookFailureList(limit = 100): Promise<WebhookFailureRow[]> {
  const rows = await db
    .select({
      eventId: webhookFailures.eventId,
      type: webhookFailures.type,
      error: webhookFailures.error,
      count: webhookFailures.count,
      firstAt: webhookFailures.firstAt,
      lastAt: webhookFailures.lastAt,
      resolvedAt: stripeEvents.receivedAt,
    })
    .from(webhookFailures)
    .leftJoin(stripeEvents, eq(stripeEvents.id, webhookFailures.eventId))
    .orderBy(sql`case when ${stripeEvents.id} is null then 0 else 1 end`, desc(webhookFailures.lastAt))
    .limit(limit);
  return rows.map((row) => ({ ...row, resolvedAt: row.resolvedAt === null ? null : Number(row.resolvedAt) }));
}

/** How many failed events no later delivery has stored yet. */
export async function unresolvedWebhookFailures(): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(webhookFailures)
    .leftJoin(stripeEvents, eq(stripeEvents.id, webhookFailures.eventId))
    .where(isNull(stripeEvents.id));
  return Number(row?.n ?? 0);
}
