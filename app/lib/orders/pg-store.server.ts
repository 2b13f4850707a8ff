import { and, asc, eq, getTableColumns, inArray, isNull, or, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as t from "../../../db/schema/pg";
import type { CheckoutSession } from "../../../db/schema/types";
import type { DatabaseHandle } from "../db.server";
import { retryingSerialization } from "../db-errors.server";
import { logger } from "../logger.server";
import { decoder, type Named, named, runNamed } from "../pg-named.server";
import { enqueueInTransaction, fulfillAsync, type Tx } from "../fulfillment.server";
import { settleCartAsync } from "./cart-settle.server";
import { LINKED_EVENT_TYPES } from "./events";
import { type Cause, changeRow } from "./history";
import { linkIdOf } from "./link";
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
  const p = sql.placeholder;
  // .set() takes no bare placeholder in Drizzle's types; wrapped in sql`` it binds as given.
  const v = (name: string) => sql`${p(name)}`;
  const orderColumns = getTableColumns(t.checkoutSessions);
  const order = decoder<CheckoutSession>(orderColumns);
  const orderWhere = (where: ReturnType<typeof eq>) =>
    db.select().from(t.checkoutSessions).where(where).limit(1).for("update");
  // Every statement of a first completion, built once and run as a named statement
  // (app/lib/pg-named.server.ts, docs/decisions/183-pg-store-named-statements.md).
  const st = {
    insertEvent: named(
      "event_insert",
      db
        .insert(t.stripeEvents)
        .values({
          id: p("id"),
          type: p("type"),
          created: p("created"),
          livemode: p("livemode"),
          payload: p("payload"),
          objectId: p("objectId"),
          linkId: p("linkId"),
          source: p("source"),
        })
        .onConflictDoNothing()
        .returning({ id: t.stripeEvents.id }),
    ),
    lockLink: named("lock_link", sql`select pg_advisory_xact_lock(hashtext(${p("linkId")}))`),
    orderById: named("order_by_id", orderWhere(eq(t.checkoutSessions.id, p("id"))), order),
    orderBySubscription: named(
      "order_by_subscription",
      orderWhere(eq(t.checkoutSessions.stripeSubscriptionId, p("id"))),
      order,
    ),
    // The order a charge, refund or dispute belongs to (link.ts's moneyLink): its payment
    // intent, or the charge an earlier refund or dispute linked. A null id matches nothing.
    orderByMoney: named(
      "order_by_money",
      orderWhere(
        or(eq(t.checkoutSessions.paymentIntentId, p("intent")), eq(t.checkoutSessions.stripeChargeId, p("charge")))!,
      ),
      order,
    ),
    reread: named(
      "order_reread",
      db
        .select()
        .from(t.checkoutSessions)
        .where(eq(t.checkoutSessions.id, p("id"))),
      order,
    ),
    refundsOf: named(
      "refunds_of",
      db
        .select({ id: t.refunds.id, amount: t.refunds.amount, status: t.refunds.status })
        .from(t.refunds)
        .where(eq(t.refunds.checkoutSessionId, p("id"))),
      decoder<RefundFact>({ id: t.refunds.id, amount: t.refunds.amount, status: t.refunds.status }),
    ),
    insertChange: named(
      "change_insert",
      db.insert(t.orderChanges).values({
        checkoutSessionId: p("checkoutSessionId"),
        at: p("at"),
        eventId: p("eventId"),
        source: p("source"),
        before: p("before"),
        after: p("after"),
      }),
    ),
    linkedEvents: named(
      "linked_events",
      db
        .select({ payload: t.stripeEvents.payload })
        .from(t.stripeEvents)
        .where(
          and(
            or(eq(t.stripeEvents.linkId, p("linkId")), eq(t.stripeEvents.objectId, p("linkId"))),
            inArray(t.stripeEvents.type, LINKED_EVENT_TYPES),
          ),
        )
        .orderBy(asc(t.stripeEvents.created), asc(t.stripeEvents.receivedAt)),
      decoder<{ payload: string }>({ payload: t.stripeEvents.payload }),
    ),
    shopperByCustomer: named(
      "shopper_by_customer",
      db
        .select({ id: t.shoppers.id })
        .from(t.shoppers)
        .where(eq(t.shoppers.stripeCustomerId, p("customer")))
        .limit(1),
    ),
  };

  // The order's UPDATE sets the columns its decision changed: one named statement
  // per set of columns, made the first time that set is written (as on SQLite,
  // sqlite-store.server.ts). transition.ts decides a handful of shapes; past the
  // cap a shape is built each time, under its own name all the same.
  const updateOrder = (columnNames: string[]) =>
    named(
      "order_update",
      db
        .update(t.checkoutSessions)
        .set(Object.fromEntries(columnNames.map((name) => [name, v(name)])))
        .where(eq(t.checkoutSessions.id, p("__id")))
        .returning(),
      order,
    );
  const orderUpdates = new Map<string, Named<CheckoutSession>>();
  async function writeOrder(tx: PgTx, id: string, set: Partial<CheckoutSession>) {
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
      values[name] = value === null ? null : orderColumns[name as keyof typeof orderColumns].mapToDriverValue(value);
    }
    const { rows } = await runNamed(tx.tx, statement, values);
    return rows[0];
  }

  const lockLink = (tx: PgTx, linkId: string) => runNamed(tx.tx, st.lockLink, { linkId });

  async function rowFor(tx: PgTx, news: StoredNews): Promise<CheckoutSession | undefined> {
    const linkId = linkIdOf(news);
    if (linkId) await lockLink(tx, linkId);
    const { rows } =
      news.kind === "session"
        ? await runNamed(tx.tx, st.orderById, { id: news.session.id })
        : news.kind === "subscription" || news.kind === "invoice"
          ? await runNamed(tx.tx, st.orderBySubscription, { id: news.subscriptionId })
          : await runNamed(tx.tx, st.orderByMoney, {
              intent: news.paymentIntentId ?? null,
              charge: news.chargeId ?? null,
            });
    return rows[0];
  }

  async function apply(tx: PgTx, news: StoredNews, cause: Cause): Promise<ApplyResult> {
    const row = await rowFor(tx, news);
    if (!row) {
      warnForeign(news);
      return nothing();
    }
    const refunds: RefundFact[] =
      news.kind === "charge" || news.kind === "refund"
        ? (await runNamed(tx.tx, st.refundsOf, { id: row.id })).rows
        : [];
    const decision = transition(row, news, context(), refunds);
    const now = Date.now();
    const changed = changes(decision);
    // The row is locked (FOR UPDATE, read after the lock): fulfillment wins here or not at all.
    const fulfill = decision.fulfill && row.fulfilledAt == null;
    // One UPDATE of the order per piece of news: its changes and, when it wins, fulfilled_at.
    let current: CheckoutSession | undefined;
    if (Object.keys(decision.update).length > 0 || fulfill) {
      current = await writeOrder(tx, row.id, {
        ...decision.update,
        updatedAt: now,
        ...(fulfill ? { fulfilledAt: now } : {}),
      });
    }
    const fulfilled = fulfill && current !== undefined;
    // The order's timeline: what changed, when, and which news did it (app/lib/orders/history.ts).
    const history = changeRow(row, decision.update, fulfilled ? now : null, cause, now);
    if (history) await runNamed(tx.tx, st.insertChange, history);
    if (decision.refund) {
      const { status, eventAt } = decision.refund;
      await tx.tx
        .insert(t.refunds)
        .values({ ...decision.refund, updatedAt: now })
        .onConflictDoUpdate({ target: t.refunds.id, set: { status, eventAt, updatedAt: now } });
    }
    let replayed = 0;
    for (const linkId of [decision.linkedSubscription, decision.linkedPaymentIntent]) {
      if (!linkId) continue;
      await lockLink(tx, linkId);
      replayed += await replayLinked(tx, linkId, cause);
    }
    // The fulfillment hooks see the order as the replays left it (unchanged when none applied).
    if (replayed > 0 && current) {
      [current] = (await runNamed(tx.tx, st.reread, { id: row.id })).rows;
    }
    if (decision.linkCustomer) {
      const [owner] = (await runNamed(tx.tx, st.shopperByCustomer, { customer: decision.linkCustomer })).rows;
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
    const { rows: earlier } = await runNamed(tx.tx, st.linkedEvents, { linkId });
    let applied = 0;
    for (const stored of earlier) {
      const news = storedNews(stored);
      if (news) {
        await apply(tx, news, cause);
        applied++;
      }
    }
    return applied;
  }

  return {
    processEvent: (event: Stripe.Event, payload: string | undefined, source: EventSource) =>
      retryingSerialization(() =>
        db.transaction(async (tx): Promise<ApplyResult> => {
          const news = newsOf(event);
          const inserted = await runNamed(tx, st.insertEvent, eventRow(event, news, payload, source));
          if (inserted.rowCount === 0) return { ...nothing(), duplicate: true };
          return news ? apply({ dialect: "postgres", tx }, news, { eventId: event.id, source }) : nothing();
        }),
      ),
    applyNews: (news: StoredNews, source: EventSource) =>
      retryingSerialization(() =>
        db.transaction((tx) => apply({ dialect: "postgres", tx }, news, { eventId: null, source })),
      ),
  };
}
