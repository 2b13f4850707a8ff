import { and, asc, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as t from "../../../db/schema/pg";
import type { CheckoutSession } from "../../../db/schema/types";
import type { DatabaseHandle } from "../db.server";
import { retryingSerialization } from "../db-errors.server";
import { logger } from "../logger.server";
import { enqueueInTransaction, fulfillAsync, type Tx } from "../fulfillment.server";
import { settleCartAsync } from "./cart-settle.server";
import { LINKED_EVENT_TYPES } from "./events";
import { type Cause, changeRow } from "./history";
import { linkIdOf, moneyLink } from "./link";
import { type ApplyResult, type EventSource, eventRow, newsOf, nothing, storedNews, warnForeign } from "./news";
import type { OrderStore } from "./sqlite-store.server";
import { type Context, changes, type RefundFact, type StoredNews, transition } from "./transition";

type PgHandle = Extract<DatabaseHandle, { dialect: "postgres" }>;
type PgTx = Extract<Tx, { dialect: "postgres" }>;

/**
 * The state machine's store on PostgreSQL, one pooled client per piece of
 * news: BEGIN; the event inserted ON CONFLICT DO NOTHING RETURNING (a
 * duplicate delivered at the same moment waits for the first and finds it);
 * the order read FOR UPDATE (news of one order applies one at a time, on any
 * instance); the conditional UPDATE ... WHERE fulfilled_at IS NULL; COMMIT.
 * A serialization failure or deadlock is retried a few times
 * (db-errors.server.ts), then the caller answers 503.
 *
 * News that belongs to an order through an id the order learns later
 * (subscription and invoice news by subscription; charge, refund and dispute
 * news by payment intent) and the completion that links that id meet on a
 * transaction-scoped advisory lock on the id: whichever commits second sees
 * the other's work (read committed), so early news is never lost between the two.
 */
export function pgOrderStore(handle: PgHandle, context: () => Context): OrderStore {
  const db = handle.pgDb;

  const lockLink = (tx: PgTx, linkId: string) => tx.tx.execute(sql`select pg_advisory_xact_lock(hashtext(${linkId}))`);

  async function rowFor(tx: PgTx, news: StoredNews): Promise<CheckoutSession | undefined> {
    const linkId = linkIdOf(news);
    if (linkId) await lockLink(tx, linkId);
    const where =
      news.kind === "session"
        ? eq(t.checkoutSessions.id, news.session.id)
        : news.kind === "subscription" || news.kind === "invoice"
          ? eq(t.checkoutSessions.stripeSubscriptionId, news.subscriptionId)
          : moneyLink(t.checkoutSessions, news);
    const [row] = await tx.tx.select().from(t.checkoutSessions).where(where).limit(1).for("update");
    return row;
  }

  async function apply(tx: PgTx, news: StoredNews, cause: Cause): Promise<ApplyResult> {
    const row = await rowFor(tx, news);
    if (!row) {
      warnForeign(news);
      return nothing();
    }
    const refunds: RefundFact[] =
      news.kind === "charge" || news.kind === "refund"
        ? await tx.tx
            .select({ id: t.refunds.id, amount: t.refunds.amount, status: t.refunds.status })
            .from(t.refunds)
            .where(eq(t.refunds.checkoutSessionId, row.id))
        : [];
    const decision = transition(row, news, context(), refunds);
    const now = Date.now();
    const changed = changes(decision);
    // The row is locked (FOR UPDATE, read after the lock): fulfillment wins here or not at all.
    const fulfill = decision.fulfill && row.fulfilledAt == null;
    // One UPDATE of the order per piece of news: its changes and, when it wins, fulfilled_at.
    let current: CheckoutSession | undefined;
    if (Object.keys(decision.update).length > 0 || fulfill) {
      [current] = await tx.tx
        .update(t.checkoutSessions)
        .set({ ...decision.update, updatedAt: now, ...(fulfill ? { fulfilledAt: now } : {}) })
        .where(eq(t.checkoutSessions.id, row.id))
        .returning();
    }
    const fulfilled = fulfill && current !== undefined;
    // The order's timeline: what changed, when, and which news did it (app/lib/orders/history.ts).
    const history = changeRow(row, decision.update, fulfilled ? now : null, cause, now);
    if (history) await tx.tx.insert(t.orderChanges).values(history);
    if (decision.refund) {
      const { status, eventAt } = decision.refund;
      await tx.tx
        .insert(t.refunds)
        .values({ ...decision.refund, updatedAt: now })
        .onConflictDoUpdate({ target: t.refunds.id, set: { status, eventAt, updatedAt: now } });
    }
    for (const linkId of [decision.linkedSubscription, decision.linkedPaymentIntent]) {
      if (!linkId) continue;
      await lockLink(tx, linkId);
      await replayLinked(tx, linkId, cause);
    }
    // The fulfillment hooks see the order as the replays left it.
    if ((decision.linkedSubscription || decision.linkedPaymentIntent) && current) {
      [current] = await tx.tx.select().from(t.checkoutSessions).where(eq(t.checkoutSessions.id, row.id));
    }
    if (decision.linkCustomer) {
      const [owner] = await tx.tx
        .select({ id: t.shoppers.id })
        .from(t.shoppers)
        .where(eq(t.shoppers.stripeCustomerId, decision.linkCustomer))
        .limit(1);
      if (!owner) {
        // Two orders of two shoppers racing for one customer: the unique key
        // keeps the first, and this one does without (as on SQLite).
        await tx.tx.execute(sql`savepoint link_customer`);
        try {
          await tx.tx
            .update(t.shoppers)
            .set({ stripeCustomerId: decision.linkCustomer, updatedAt: now })
            .where(and(eq(t.shoppers.id, row.shopperId), isNull(t.shoppers.stripeCustomerId)));
          await tx.tx.execute(sql`release savepoint link_customer`);
        } catch {
          await tx.tx.execute(sql`rollback to savepoint link_customer`);
        }
      }
    }
    if (decision.raisedFlag) {
      logger.warn(
        { checkoutId: row.id, flag: decision.raisedFlag },
        `checkout not fulfilled: ${decision.raisedFlag} session=${row.id} shopper=${row.shopperId}`,
      );
    }
    if (fulfill && current) {
      await fulfillAsync(tx, current);
      await settleCartAsync(tx, current);
    }
    // Revocations, reinstatements, renewals: enqueued with the news that decides them (their keys make it once).
    for (const job of decision.jobs) await enqueueInTransaction(tx, job, now);
    const flag = decision.update.flag !== undefined ? decision.update.flag : row.flag;
    return {
      duplicate: false,
      checkoutId: row.id,
      changed: changed || fulfilled,
      fulfilled,
      flag,
      jobs: decision.jobs,
    };
  }

  /** The events stored under `linkId` (a subscription or payment intent; object_id for rows from before link_id). */
  async function replayLinked(tx: PgTx, linkId: string, cause: Cause) {
    const earlier = await tx.tx
      .select({ payload: t.stripeEvents.payload })
      .from(t.stripeEvents)
      .where(
        and(
          or(eq(t.stripeEvents.linkId, linkId), eq(t.stripeEvents.objectId, linkId)),
          inArray(t.stripeEvents.type, LINKED_EVENT_TYPES),
        ),
      )
      .orderBy(asc(t.stripeEvents.created), asc(t.stripeEvents.receivedAt));
    for (const stored of earlier) {
      const news = storedNews(stored);
      if (news) await apply(tx, news, cause);
    }
  }

  return {
    processEvent: (event: Stripe.Event, payload: string | undefined, source: EventSource) =>
      retryingSerialization(() =>
        db.transaction(async (tx): Promise<ApplyResult> => {
          const news = newsOf(event);
          const inserted = await tx
            .insert(t.stripeEvents)
            .values(eventRow(event, news, payload, source))
            .onConflictDoNothing()
            .returning({ id: t.stripeEvents.id });
          if (inserted.length === 0) return { ...nothing(), duplicate: true };
          return news ? apply({ dialect: "postgres", tx }, news, { eventId: event.id, source }) : nothing();
        }),
      ),
    applyNews: (news: StoredNews, source: EventSource) =>
      retryingSerialization(() =>
        db.transaction((tx) => apply({ dialect: "postgres", tx }, news, { eventId: null, source })),
      ),
  };
}
