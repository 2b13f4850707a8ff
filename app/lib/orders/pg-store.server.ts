import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as t from "../../../db/schema/pg";
import type { CheckoutSession } from "../../../db/schema/types";
import type { DatabaseHandle } from "../db.server";
import { retryingSerialization } from "../db-errors.server";
import { logger } from "../logger.server";
import { enqueueInTransaction, fulfillAsync, type Tx } from "../fulfillment.server";
import { type Cause, changeRow } from "./history";
import { moneyLink } from "./link";
import { SUBSCRIPTION_EVENT_TYPES } from "./events";
import { type ApplyResult, type EventSource, newsOf, nothing, objectIdOf, warnForeign } from "./news";
import type { OrderStore } from "./sqlite-store.server";
import { type Context, changes, type StoredNews, subscriptionNews, transition } from "./transition";

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
 * Subscription news and the completion that links the subscription to an
 * order meet on a transaction-scoped advisory lock on the subscription id:
 * whichever commits second sees the other's work (read committed), so an
 * early subscription event is never lost between the two.
 */
export function pgOrderStore(handle: PgHandle, context: () => Context): OrderStore {
  const db = handle.pgDb;

  const lockSubscription = (tx: PgTx, subscriptionId: string) =>
    tx.tx.execute(sql`select pg_advisory_xact_lock(hashtext(${subscriptionId}))`);

  async function rowFor(tx: PgTx, news: StoredNews): Promise<CheckoutSession | undefined> {
    if (news.kind === "subscription") await lockSubscription(tx, news.subscriptionId);
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
    const decision = transition(row, news, context());
    const now = Date.now();
    const changed = changes(decision);
    if (changed) {
      await tx.tx
        .update(t.checkoutSessions)
        .set({ ...decision.update, updatedAt: now })
        .where(eq(t.checkoutSessions.id, row.id));
    }
    if (decision.linkedSubscription) {
      await lockSubscription(tx, decision.linkedSubscription);
      await replaySubscription(tx, decision.linkedSubscription, cause);
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
    let fulfilled = false;
    if (decision.fulfill) {
      const [won] = await tx.tx
        .update(t.checkoutSessions)
        .set({ fulfilledAt: now })
        .where(and(eq(t.checkoutSessions.id, row.id), isNull(t.checkoutSessions.fulfilledAt)))
        .returning();
      if (won) {
        await fulfillAsync(tx, won);
        fulfilled = true;
      }
    }
    // The order's timeline: what changed, when, and which news did it (app/lib/orders/history.ts).
    const history = changeRow(row, decision.update, fulfilled ? now : null, cause, now);
    if (history) await tx.tx.insert(t.orderChanges).values(history);
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

  async function replaySubscription(tx: PgTx, subscriptionId: string, cause: Cause) {
    const earlier = await tx.tx
      .select({ payload: t.stripeEvents.payload, created: t.stripeEvents.created })
      .from(t.stripeEvents)
      .where(and(eq(t.stripeEvents.objectId, subscriptionId), inArray(t.stripeEvents.type, SUBSCRIPTION_EVENT_TYPES)))
      .orderBy(asc(t.stripeEvents.created), asc(t.stripeEvents.receivedAt));
    for (const stored of earlier) {
      const news = subscriptionNews((JSON.parse(stored.payload) as Stripe.Event).data?.object, stored.created);
      if (news) await apply(tx, news, cause);
    }
  }

  return {
    processEvent: (event: Stripe.Event, payload: string | undefined, source: EventSource) =>
      retryingSerialization(() =>
        db.transaction(async (tx): Promise<ApplyResult> => {
          const inserted = await tx
            .insert(t.stripeEvents)
            .values({
              id: event.id,
              type: event.type,
              created: event.created,
              livemode: event.livemode,
              payload: payload ?? JSON.stringify(event),
              objectId: objectIdOf(event),
              source,
            })
            .onConflictDoNothing()
            .returning({ id: t.stripeEvents.id });
          if (inserted.length === 0) return { ...nothing(), duplicate: true };
          const news = newsOf(event);
          return news ? apply({ dialect: "postgres", tx }, news, { eventId: event.id, source }) : nothing();
        }),
      ),
    applyNews: (news: StoredNews, source: EventSource) =>
      retryingSerialization(() =>
        db.transaction((tx) => apply({ dialect: "postgres", tx }, news, { eventId: null, source })),
      ),
  };
}
