import { and, asc, eq, getTableColumns, inArray, isNull, or, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as t from "../../../db/schema/sqlite";
import type { CheckoutSession } from "../../../db/schema/types";
import type { DatabaseHandle } from "../db.server";
import { logger } from "../logger.server";
import { enqueueInTransactionSync, fulfillSync, type Tx } from "../fulfillment.server";
import { settleCartSync } from "./cart-settle.server";
import { groupCommitted } from "./commits";
import { LINKED_EVENT_TYPES } from "./events";
import { type Cause, changeRow } from "./history";
import { moneyLink } from "./link";
import {
  type ApplyResult,
  type Delivery,
  type EventSource,
  eventRow,
  eventRowPlaceholders,
  newsOf,
  nothing,
  type Pending,
  storedNews,
  warnForeign,
} from "./news";
import { type Context, changes, type RefundFact, type StoredNews, transition } from "./transition";

type SqliteHandle = Extract<DatabaseHandle, { dialect: "sqlite" }>;
type SqliteTx = Extract<Tx, { dialect: "sqlite" }>;

/** At most this many events share one commit: bounds the write lock's hold and each delivery's wait. */
const MAX_BATCH = 64;

/**
 * The state machine's store on SQLite: synchronous better-sqlite3
 * transactions (an async callback would commit before its work was done).
 * Webhook events that arrive together share one transaction, each in its own
 * savepoint (group commit, below); the success page's and reconcile's news
 * get a transaction each. SQLite has one writer at a time (BEGIN IMMEDIATE),
 * so the row read here cannot change before the write. The hot path's
 * statements are prepared once (docs/decisions/051-prepared-statements-on-hot-paths.md,
 * 181-every-hot-statement-prepared.md).
 */
export function sqliteOrderStore(handle: SqliteHandle, context: () => Context) {
  const db = handle.sqliteDb;
  const p = sql.placeholder;
  // .set() takes no bare placeholder in Drizzle's types; wrapped in sql`` it binds the same.
  const v = (name: string) => sql`${p(name)}`;
  const st = {
    insertEvent: db
      .insert(t.stripeEvents)
      .values(eventRowPlaceholders())
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
    refundsOf: db
      .select({ id: t.refunds.id, amount: t.refunds.amount, status: t.refunds.status })
      .from(t.refunds)
      .where(eq(t.refunds.checkoutSessionId, p("id")))
      .prepare(),
    // Every first completion asks (its payment intent or subscription is newly linked).
    linkedEvents: db
      .select({ payload: t.stripeEvents.payload })
      .from(t.stripeEvents)
      .where(
        and(
          or(eq(t.stripeEvents.linkId, p("linkId")), eq(t.stripeEvents.objectId, p("linkId"))),
          inArray(t.stripeEvents.type, LINKED_EVENT_TYPES),
        ),
      )
      .orderBy(asc(t.stripeEvents.created), asc(t.stripeEvents.receivedAt))
      .prepare(),
    insertChange: db
      .insert(t.orderChanges)
      .values({
        checkoutSessionId: p("checkoutSessionId"),
        at: p("at"),
        eventId: p("eventId"),
        source: p("source"),
        before: p("before"),
        after: p("after"),
      })
      .prepare(),
  };

  // The order's UPDATE sets the columns its decision changed: one prepared
  // statement per set of columns, made the first time that set is written.
  // transition.ts decides a handful of shapes; the cap only guards the memory.
  const columns = getTableColumns(t.checkoutSessions);
  const updateOrder = (columnNames: string[]) =>
    db
      .update(t.checkoutSessions)
      .set(Object.fromEntries(columnNames.map((name) => [name, v(name)])))
      .where(eq(t.checkoutSessions.id, p("__id")))
      .returning()
      .prepare();
  const orderUpdates = new Map<string, ReturnType<typeof updateOrder>>();
  function writeOrder(id: string, set: Partial<CheckoutSession>): CheckoutSession | undefined {
    const names = Object.keys(set)
      .filter((name) => set[name as keyof CheckoutSession] !== undefined)
      .sort();
    const shape = names.join(",");
    let statement = orderUpdates.get(shape);
    if (!statement) {
      statement = updateOrder(names);
      if (orderUpdates.size < 64) orderUpdates.set(shape, statement);
    }
    // The values bind as Drizzle would bind them: through each column's encoder, null as NULL.
    const values: Record<string, unknown> = { __id: id };
    for (const name of names) {
      const value = set[name as keyof CheckoutSession];
      values[name] = value === null ? null : columns[name as keyof typeof columns].mapToDriverValue(value);
    }
    return statement.get(values);
  }

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
    const refunds: RefundFact[] =
      news.kind === "charge" || news.kind === "refund" ? st.refundsOf.all({ id: row.id }) : [];
    const decision = transition(row, news, context(), refunds);
    const now = Date.now();
    const changed = changes(decision);
    // Fulfillment wins here or not at all: one writer at a time (BEGIN IMMEDIATE), and the row was read in this transaction.
    const fulfill = decision.fulfill && row.fulfilledAt == null;
    // One UPDATE of the order per piece of news: its changes and, when it wins, fulfilled_at.
    let current: CheckoutSession | undefined;
    if (Object.keys(decision.update).length > 0 || fulfill) {
      current = writeOrder(row.id, { ...decision.update, updatedAt: now, ...(fulfill ? { fulfilledAt: now } : {}) });
    }
    const fulfilled = fulfill && current !== undefined;
    // The order's timeline: what changed, when, and which news did it (app/lib/orders/history.ts).
    const history = changeRow(row, decision.update, fulfilled ? now : null, cause, now);
    if (history) st.insertChange.run(history);
    if (decision.refund) {
      const { status, eventAt } = decision.refund;
      tx.tx
        .insert(t.refunds)
        .values({ ...decision.refund, updatedAt: now })
        .onConflictDoUpdate({ target: t.refunds.id, set: { status, eventAt, updatedAt: now } })
        .run();
    }
    // Subscription, invoice, charge, refund and dispute events can land before
    // the completion that links their subscription or payment intent to this
    // checkout; they were recorded, so apply them now.
    if (decision.linkedSubscription) replayLinked(tx, decision.linkedSubscription, cause);
    if (decision.linkedPaymentIntent) replayLinked(tx, decision.linkedPaymentIntent, cause);
    // The fulfillment hooks see the order as the replays left it.
    if ((decision.linkedSubscription || decision.linkedPaymentIntent) && current) {
      current = st.checkoutById.get({ id: row.id });
    }
    if (decision.linkCustomer && !st.shopperByCustomer.get({ customer: decision.linkCustomer })) {
      st.linkCustomer.run({ customer: decision.linkCustomer, now, shopper: row.shopperId });
    }
    if (decision.raisedFlag) {
      logger.warn(
        { checkoutId: row.id, flag: decision.raisedFlag },
        `checkout not fulfilled: ${decision.raisedFlag} session=${row.id} shopper=${row.shopperId}`,
      );
    }
    if (fulfill && current) {
      fulfillSync(tx, current);
      settleCartSync(tx, current);
    }
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

  /** The events stored under `linkId` (a subscription or payment intent; object_id for rows from before link_id). */
  function replayLinked(tx: SqliteTx, linkId: string, cause: Cause) {
    for (const stored of st.linkedEvents.all({ linkId })) {
      const news = storedNews(stored);
      if (news) apply(tx, news, cause);
    }
  }

  /** One event: stored once (its id is the key) and its effect applied, in the transaction (or savepoint) it is given. */
  function record(tx: SqliteTx["tx"], { event, payload, source }: Delivery): ApplyResult {
    const news = newsOf(event);
    const inserted = st.insertEvent.get(eventRow(event, news, payload, source));
    if (!inserted) return { ...nothing(), duplicate: true };
    return news ? apply({ dialect: "sqlite", tx }, news, { eventId: event.id, source }) : nothing();
  }

  // Group commit (docs/decisions/180-group-commit-on-sqlite.md): the events
  // that arrive while the one writer is busy share the next transaction, each
  // in its own savepoint (better-sqlite3 nests a transaction function as a
  // SAVEPOINT, its statements prepared once), so an event whose effect throws
  // rolls back alone. Every promise settles only after the shared COMMIT: no
  // delivery is answered before its event is durable, and a COMMIT that fails
  // rejects every event in it.
  const inSavepoint = handle.sqlite.transaction((tx: SqliteTx["tx"], delivery: Delivery) => record(tx, delivery));
  const waiting: Pending[] = [];
  let scheduled = false;

  function flush() {
    scheduled = false;
    const batch = waiting.splice(0, MAX_BATCH);
    if (waiting.length > 0) schedule();
    const outcomes: ({ ok: true; result: ApplyResult } | { ok: false; error: unknown })[] = [];
    try {
      db.transaction(
        (tx) => {
          for (const pending of batch) {
            try {
              outcomes.push({ ok: true, result: inSavepoint(tx, pending) });
            } catch (error: unknown) {
              outcomes.push({ ok: false, error });
            }
          }
        },
        { behavior: "immediate" },
      );
    } catch (error: unknown) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    // The events this commit stored (or found stored): an event whose savepoint rolled back is not one of them.
    const recorded = outcomes.filter((outcome) => outcome.ok).length;
    if (recorded > 0) groupCommitted(recorded);
    batch.forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) pending.resolve(outcome.result);
      else pending.reject(outcome.error);
    });
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // After the I/O callbacks of this turn of the event loop: the deliveries read meanwhile join.
    setImmediate(flush);
  }

  return {
    processEvent(event: Stripe.Event, payload: string | undefined, source: EventSource): Promise<ApplyResult> {
      return new Promise<ApplyResult>((resolve, reject) => {
        waiting.push({ event, payload, source, resolve, reject });
        schedule();
      });
    },
    async applyNews(news: StoredNews, source: EventSource): Promise<ApplyResult> {
      return db.transaction((tx) => apply({ dialect: "sqlite", tx }, news, { eventId: null, source }), {
        behavior: "immediate",
      });
    },
  };
}

export type OrderStore = ReturnType<typeof sqliteOrderStore>;
