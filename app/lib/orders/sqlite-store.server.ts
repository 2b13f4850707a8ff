import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as t from "../../../db/schema/sqlite";
import type { CheckoutSession } from "../../../db/schema/types";
import type { DatabaseHandle } from "../db.server";
import { logger } from "../logger.server";
import { enqueueInTransactionSync, fulfillSync, type Tx } from "../fulfillment.server";
import { type Cause, changeRow } from "./history";
import { moneyLink } from "./link";
import { SUBSCRIPTION_EVENT_TYPES } from "./events";
import { type ApplyResult, type EventSource, newsOf, nothing, objectIdOf, warnForeign } from "./news";
import { type Context, changes, type StoredNews, subscriptionNews, transition } from "./transition";

type SqliteHandle = Extract<DatabaseHandle, { dialect: "sqlite" }>;
type SqliteTx = Extract<Tx, { dialect: "sqlite" }>;

/**
 * The state machine's store on SQLite: one synchronous better-sqlite3
 * transaction per piece of news (an async callback would commit before its
 * work was done). SQLite has one writer at a time (BEGIN IMMEDIATE), so the
 * row read here cannot change before the write. The hot path's statements
 * are prepared once (docs/decisions/051-prepared-statements-on-hot-paths.md).
 */
export function sqliteOrderStore(handle: SqliteHandle, context: () => Context) {
  const db = handle.sqliteDb;
  const p = sql.placeholder;
  // .set() takes no bare placeholder in Drizzle's types; wrapped in sql`` it binds the same.
  const v = (name: string) => sql`${p(name)}`;
  const st = {
    insertEvent: db
      .insert(t.stripeEvents)
      .values({
        id: p("id"),
        type: p("type"),
        created: p("created"),
        livemode: p("livemode"),
        payload: p("payload"),
        objectId: p("objectId"),
        source: p("source"),
      })
      .onConflictDoNothing()
      .returning({ id: t.stripeEvents.id })
      .prepare(),
    checkoutById: db
      .select()
      .from(t.checkoutSessions)
      .where(eq(t.checkoutSessions.id, p("id")))
      .prepare(),
    checkoutBySubscription: db
      .select()
      .from(t.checkoutSessions)
      .where(eq(t.checkoutSessions.stripeSubscriptionId, p("id")))
      .prepare(),
    shopperByCustomer: db
      .select({ id: t.shoppers.id })
      .from(t.shoppers)
      .where(eq(t.shoppers.stripeCustomerId, p("customer")))
      .prepare(),
    linkCustomer: db
      .update(t.shoppers)
      .set({ stripeCustomerId: v("customer"), updatedAt: v("now") })
      .where(and(eq(t.shoppers.id, p("shopper")), isNull(t.shoppers.stripeCustomerId)))
      .prepare(),
    markFulfilled: db
      .update(t.checkoutSessions)
      .set({ fulfilledAt: v("now") })
      .where(and(eq(t.checkoutSessions.id, p("id")), isNull(t.checkoutSessions.fulfilledAt)))
      .prepare(),
  };

  function rowFor(news: StoredNews): CheckoutSession | undefined {
    if (news.kind === "session") return st.checkoutById.get({ id: news.session.id });
    if (news.kind === "subscription" || news.kind === "invoice") {
      return st.checkoutBySubscription.get({ id: news.subscriptionId });
    }
    return db.select().from(t.checkoutSessions).where(moneyLink(t.checkoutSessions, news)).limit(1).get();
  }

  function apply(tx: SqliteTx, news: StoredNews, cause: Cause): ApplyResult {
    const row = rowFor(news);
    if (!row) {
      warnForeign(news);
      return nothing();
    }
    const decision = transition(row, news, context());
    const now = Date.now();
    const changed = changes(decision);
    if (changed) {
      tx.tx
        .update(t.checkoutSessions)
        .set({ ...decision.update, updatedAt: now })
        .where(eq(t.checkoutSessions.id, row.id))
        .run();
    }
    // Subscription events can land before the completion that links the
    // subscription to this checkout; they were recorded, so apply them now.
    if (decision.linkedSubscription) replaySubscription(tx, decision.linkedSubscription, cause);
    if (decision.linkCustomer && !st.shopperByCustomer.get({ customer: decision.linkCustomer })) {
      st.linkCustomer.run({ customer: decision.linkCustomer, now, shopper: row.shopperId });
    }
    if (decision.raisedFlag) {
      logger.warn(
        { checkoutId: row.id, flag: decision.raisedFlag },
        `checkout not fulfilled: ${decision.raisedFlag} session=${row.id} shopper=${row.shopperId}`,
      );
    }
    let fulfilled = false;
    // The WHERE makes this the single winner even if two writers got here.
    if (decision.fulfill && st.markFulfilled.run({ now, id: row.id }).changes === 1) {
      const current = st.checkoutById.get({ id: row.id });
      if (current) fulfillSync(tx, current);
      fulfilled = true;
    }
    // The order's timeline: what changed, when, and which news did it (app/lib/orders/history.ts).
    const history = changeRow(row, decision.update, fulfilled ? now : null, cause, now);
    if (history) tx.tx.insert(t.orderChanges).values(history).run();
    // Revocations, reinstatements, renewals: enqueued with the news that decides them (their keys make it once).
    for (const job of decision.jobs) enqueueInTransactionSync(tx, job, now);
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

  function replaySubscription(tx: SqliteTx, subscriptionId: string, cause: Cause) {
    const earlier = tx.tx
      .select({ payload: t.stripeEvents.payload, created: t.stripeEvents.created })
      .from(t.stripeEvents)
      .where(and(eq(t.stripeEvents.objectId, subscriptionId), inArray(t.stripeEvents.type, SUBSCRIPTION_EVENT_TYPES)))
      .orderBy(asc(t.stripeEvents.created), asc(t.stripeEvents.receivedAt))
      .all();
    for (const stored of earlier) {
      const news = subscriptionNews((JSON.parse(stored.payload) as Stripe.Event).data?.object, stored.created);
      if (news) apply(tx, news, cause);
    }
  }

  return {
    async processEvent(event: Stripe.Event, payload: string | undefined, source: EventSource): Promise<ApplyResult> {
      return db.transaction(
        (tx) => {
          const inserted = st.insertEvent.get({
            id: event.id,
            type: event.type,
            created: event.created,
            livemode: event.livemode,
            payload: payload ?? JSON.stringify(event),
            objectId: objectIdOf(event),
            source,
          });
          if (!inserted) return { ...nothing(), duplicate: true };
          const news = newsOf(event);
          return news ? apply({ dialect: "sqlite", tx }, news, { eventId: event.id, source }) : nothing();
        },
        { behavior: "immediate" },
      );
    },
    async applyNews(news: StoredNews, source: EventSource): Promise<ApplyResult> {
      return db.transaction((tx) => apply({ dialect: "sqlite", tx }, news, { eventId: null, source }), {
        behavior: "immediate",
      });
    },
  };
}

export type OrderStore = ReturnType<typeof sqliteOrderStore>;
