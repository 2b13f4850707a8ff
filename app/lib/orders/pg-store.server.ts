import { and, asc, eq, getTableColumns, inArray, isNull, or, type SQLWrapper, sql } from "drizzle-orm";
import type Stripe from "stripe";

import * as t from "../../../db/schema/pg";
import type { CheckoutSession } from "../../../db/schema/types";
import type { DatabaseHandle } from "../db.server";
import { isUniqueViolationOf, retryingSerialization } from "../db-errors.server";
import { logger } from "../logger.server";
import { decoder, type Named, named, runNamed, sentTogether } from "../pg-named.server";
import { enqueueInTransaction, fulfillAsync, logFulfilled, type Tx } from "../fulfillment.server";
import { pgEnqueueFolded } from "../jobs/enqueue.server";
import { orderPaidJob } from "../jobs/order-paid.server";
import type { NewJob } from "../jobs/types";
import { settleCartAsync } from "./cart-settle.server";
import { groupCommitted } from "./commits";
import { LINKED_EVENT_TYPES } from "./events";
import { type Cause, changeRow } from "./history";
import { linkIdOf } from "./link";
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
import type { OrderStore } from "./sqlite-store.server";
import { type Context, changes, type RefundFact, type StoredNews, transition } from "./transition";

type PgHandle = Extract<DatabaseHandle, { dialect: "postgres" }>;
type PgTx = Extract<Tx, { dialect: "postgres" }>;

/** At most this many events share one transaction: bounds each delivery's wait for the ones before it. */
const MAX_BATCH = 16;

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
  // The hot statements return an order as one json column, row_to_json(...) as "__order",
  // not its columns: node-postgres builds a parser and an empty row per column for every
  // result (its Result.addFields), 26 to 55 us per result of a row of 46 columns in a loop, against
  // about 5 us for one json value (docs/decisions/190-pg-order-rows-as-json.md). JSON keeps
  // the table's types here (text, integer, bigint milliseconds): each column decodes as before.
  const fromJson = (raw: Record<string, unknown>) => order(raw.__order as Record<string, unknown>);
  const orderOrNull = (raw: Record<string, unknown>) => (raw.__order == null ? null : fromJson(raw));
  const asJson = { __order: sql<unknown>`row_to_json(${t.checkoutSessions})`.as("__order") };
  const changeInsert = (prefix: string) =>
    db.insert(t.orderChanges).values({
      checkoutSessionId: p(`${prefix}checkoutSessionId`),
      at: p(`${prefix}at`),
      eventId: p(`${prefix}eventId`),
      source: p(`${prefix}source`),
      before: p(`${prefix}before`),
      after: p(`${prefix}after`),
    });
  const insertEvent = db.insert(t.stripeEvents).values(eventRowPlaceholders()).onConflictDoNothing();
  // The events stored under a subscription or payment intent (object_id for rows from before link_id).
  const linkedWhere = (name: string) =>
    and(
      or(eq(t.stripeEvents.linkId, p(name)), eq(t.stripeEvents.objectId, p(name))),
      inArray(t.stripeEvents.type, LINKED_EVENT_TYPES),
    );
  const orderWhere = (where: ReturnType<typeof eq>) =>
    db.select(asJson).from(t.checkoutSessions).where(where).limit(1).for("update");
  // Every statement of a first completion, built once and run as a named statement
  // (app/lib/pg-named.server.ts, docs/decisions/183-pg-store-named-statements.md).
  const st = {
    insertEvent: named("event_insert", insertEvent.returning({ id: t.stripeEvents.id })),
    lockLink: named("lock_link", sql`select pg_advisory_xact_lock(hashtext(${p("linkId")}))`),
    orderById: named("order_by_id", orderWhere(eq(t.checkoutSessions.id, p("id"))), fromJson),
    orderBySubscription: named(
      "order_by_subscription",
      orderWhere(eq(t.checkoutSessions.stripeSubscriptionId, p("id"))),
      fromJson,
    ),
    // The order a charge, refund or dispute belongs to (link.ts's moneyLink): its payment
    // intent, or the charge an earlier refund or dispute linked. A null id matches nothing.
    orderByMoney: named(
      "order_by_money",
      orderWhere(
        or(eq(t.checkoutSessions.paymentIntentId, p("intent")), eq(t.checkoutSessions.stripeChargeId, p("charge")))!,
      ),
      fromJson,
    ),
    reread: named(
      "order_reread",
      db
        .select(asJson)
        .from(t.checkoutSessions)
        .where(eq(t.checkoutSessions.id, p("id"))),
      fromJson,
    ),
    refundsOf: named(
      "refunds_of",
      db
        .select({ id: t.refunds.id, amount: t.refunds.amount, status: t.refunds.status })
        .from(t.refunds)
        .where(eq(t.refunds.checkoutSessionId, p("id"))),
      decoder<RefundFact>({ id: t.refunds.id, amount: t.refunds.amount, status: t.refunds.status }),
    ),
    insertChange: named("change_insert", changeInsert("")),
    linkedEvents: named(
      "linked_events",
      db
        .select({ payload: t.stripeEvents.payload })
        .from(t.stripeEvents)
        .where(linkedWhere("linkId"))
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

  // A session's news names its order: the event's INSERT and the order's row lock
  // in one statement, with the advisory locks of the subscription and payment
  // intent the session names (the ids its completion links). They are taken
  // before the row lock (the row's scan waits on them), the order every news
  // takes them in: charge, refund, dispute, subscription and invoice news lock
  // their id, then the order (rowFor). Taken here, before the decision's
  // statement takes its snapshot, they let that statement read the ids' earlier
  // news itself. No row: a duplicate (nothing was inserted, nothing locked); a
  // row whose "__order" is null: a new event for an order this database
  // does not have.
  const insertEventLockOrder = [0, 1, 2].map((locks) => {
    const held = Array.from({ length: locks }, (_, i) => sql`pg_advisory_xact_lock(hashtext(${p(`__lock${i}`)}))`);
    const orderRow = db
      .select()
      .from(t.checkoutSessions)
      .where(
        and(
          eq(t.checkoutSessions.id, p("orderId")),
          sql`exists (select 1 from "ins")`,
          locks > 0 ? sql`exists (select 1 from "held")` : undefined,
        ),
      )
      .limit(1)
      .for("update");
    return named(
      "event_insert_lock_order",
      sql`with ${sql.identifier("ins")} as ${insertEvent.returning({ id: t.stripeEvents.id })}${
        locks > 0 ? sql`, ${sql.identifier("held")} as (select ${sql.join(held, sql`, `)})` : sql``
      }, ${sql.identifier("o")} as ${orderRow} select "ins"."id" as "__event", row_to_json("o") as "__order" from "ins" left join "o" on true`,
      orderOrNull,
    );
  });
  /** The ids a session's completion links, in the order their locks are taken. */
  const sessionLinks = (news: Extract<StoredNews, { kind: "session" }>) =>
    [news.session.subscriptionId, news.session.paymentIntentId].filter((id): id is string => !!id);

  // A batch's session news, every event, order and link its own (docs/decisions/189-pg-batch-in-one-statement.md):
  // insertEventLockOrder for all of them in one statement. The events are inserted in
  // the batch's order; then the advisory locks of every event's links, in the batch's
  // order and each event's own (an InitPlan, before the scan of the orders); then the
  // orders of the events inserted, locked FOR UPDATE in id order. One row per event,
  // in the batch's order: no "__event", a duplicate; no "__order", an order this
  // database does not have. A session's event has no link_id (news.ts's eventRow: linkIdOf).
  // An event alone keeps insertEventLockOrder: run through this statement, one at a time,
  // an event took 1,629 to 1,679 us against 1,174 to 1,236 us (bench/pg-state-machine-costs.ts).
  const insertEventsLockOrders = named(
    "events_insert_lock_orders",
    sql`with "b" as (
      select * from unnest(${p("id")}::text[], ${p("type")}::text[], ${p("created")}::bigint[], ${p("livemode")}::boolean[],
        ${p("payload")}::text[], ${p("objectId")}::text[], ${p("source")}::text[], ${p("orderId")}::text[])
        with ordinality as "b"("id", "type", "created", "livemode", "payload", "object_id", "source", "order_id", "n")
    ), "ins" as (
      insert into ${t.stripeEvents} ("id", "type", "created", "livemode", "payload", "object_id", "link_id", "source")
      select "id", "type", "created", "livemode", "payload", "object_id", null, "source" from "b" order by "n"
      on conflict do nothing returning "id"
    ), "held" as (
      select count(pg_advisory_xact_lock(hashtext("l"."k"))) as "locks"
      from (select "k" from unnest(${p("locks")}::text[]) with ordinality as "l"("k", "i") order by "i") as "l"
    ), "o" as (
      select ${t.checkoutSessions}.* from ${t.checkoutSessions}
      where ${t.checkoutSessions.id} in (select "b"."order_id" from "b" join "ins" on "ins"."id" = "b"."id")
        and (select "locks" from "held") >= 0
      order by ${t.checkoutSessions.id} for update
    )
    select "ins"."id" as "__event", row_to_json("o") as "__order" from "b"
    left join "ins" on "ins"."id" = "b"."id"
    left join "o" on "o"."id" = "b"."order_id" and "ins"."id" is not null
    order by "b"."n"`,
    (raw) => ({ inserted: raw.__event != null, row: orderOrNull(raw) ?? undefined }),
  );
  type SessionNews = Extract<StoredNews, { kind: "session" }>;
  /** The batch's events when each is session news of its own event, order and links, else null. */
  function ownSessions<E extends { pending: Pending; news: StoredNews | null }>(entries: E[]) {
    const seen = new Set<string>();
    const own = (id: string) => !seen.has(id) && !!seen.add(id);
    for (const { pending, news } of entries) {
      if (news?.kind !== "session") return null;
      if (![`event:${pending.event.id}`, `order:${news.session.id}`, ...sessionLinks(news)].every(own)) return null;
    }
    return entries as (E & { news: SessionNews })[];
  }
  /** Each event of ownSessions' batch recorded and applied in `tx`, as record() does it, their first statements as one. */
  async function recordSessions(tx: PgTx["tx"], entries: { pending: Pending; news: SessionNews }[]) {
    const events = entries.map(({ pending, news }) => eventRow(pending.event, news, pending.payload, pending.source));
    const column = <K extends keyof (typeof events)[number]>(name: K) => events.map((row) => row[name]);
    const columns = {
      id: column("id"),
      type: column("type"),
      created: column("created"),
      livemode: column("livemode"),
      payload: column("payload"),
      objectId: column("objectId"),
      source: column("source"),
      orderId: entries.map(({ news }) => news.session.id),
      locks: entries.flatMap(({ news }) => sessionLinks(news)),
    };
    const { rows } = await runNamed(tx, insertEventsLockOrders, columns);
    const locked = { dialect: "postgres" as const, tx };
    // Every event's decision first, then all their UPDATEs sent at once: on the pool's
    // pipelining client (db.server.ts) they go out together and come back in one round
    // trip, where each had waited for the answer to the one before
    // (docs/decisions/195-pg-batch-decisions-pipelined.md). PostgreSQL still runs them one
    // after another, in the batch's order. What follows a decision (replays, hooks, the
    // cart) then runs event by event, in the batch's order, as before.
    type Entry = { duplicate: true } | { foreign: SessionNews } | { step: Step };
    const steps = entries.map(({ pending, news }, i): Entry => {
      const { inserted, row } = rows[i]!;
      if (!inserted) return { duplicate: true };
      if (!row) return { foreign: news };
      return { step: decide(row, news, { eventId: pending.event.id, source: pending.source }, [], sessionLinks(news)) };
    });
    // In one write(2), too (sentTogether): one send for the batch, not one per event.
    const writes = await Promise.allSettled(
      sentTogether(tx, () =>
        steps.map((entry) => ("step" in entry && entry.step.writes ? write(locked, entry.step) : undefined)),
      ),
    );
    // One failed: the transaction is aborted and so are the statements sent after it; the
    // batch rolls back and each event runs again alone (runBatch). Every answer is in by now.
    const failed = writes.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const out: ApplyResult[] = [];
    for (const [i, entry] of steps.entries()) {
      if ("duplicate" in entry) out.push({ ...nothing(), duplicate: true });
      else if ("foreign" in entry) {
        warnForeign(entry.foreign);
        out.push(nothing());
      } else {
        const written = writes[i]!;
        out.push(await finish(locked, entry.step, written.status === "fulfilled" ? written.value : undefined));
      }
    }
    return out;
  }

  // The statement that writes a decision: the order's UPDATE of the columns it
  // changed, and with it, in one data-modifying WITH, what the decision adds (its
  // change-history row, its jobs, the customer's link) and, for each id it links,
  // that id's earlier news when its lock is held, or else its lock (taken before
  // the next statement's snapshot, which then reads the news). One named statement per shape, made
  // the first time that shape is written; transition.ts decides a handful. Past
  // the cap a shape is built each time, under its own name all the same.
  type Shape = {
    columns: string[];
    history: boolean;
    jobs: number;
    locks: number;
    linked: number;
    customer: boolean;
  };
  type Written = CheckoutSession & { linked: string[][] };
  const decisionStatement = (
    { columns, history, locks, linked, customer }: Shape,
    jobsInsert: SQLWrapper | undefined,
  ) => {
    const update = db
      .update(t.checkoutSessions)
      .set(Object.fromEntries(columns.map((name) => [name, v(name)])))
      .where(eq(t.checkoutSessions.id, p("__id")))
      .returning();
    const parts = [sql`with u as ${update}`];
    if (history) parts.push(sql`, h as ${changeInsert("h_")}`);
    if (jobsInsert) parts.push(sql`, j as ${jobsInsert}`);
    // The customer the order links, given to its shopper unless a shopper has it (the
    // unique key keeps one owner). Two orders of two shoppers racing for one customer:
    // the second fails on the key and its whole transaction runs again, and then
    // finds the first's owner and does without (as on SQLite).
    if (customer) {
      const link = db
        .update(t.shoppers)
        .set({ stripeCustomerId: v("__customer"), updatedAt: v("__now") })
        .where(
          and(
            eq(t.shoppers.id, p("__shopper")),
            isNull(t.shoppers.stripeCustomerId),
            sql`not exists (select 1 from ${t.shoppers} as "owner" where "owner"."stripe_customer_id" = ${p("__customer")})`,
          ),
        );
      parts.push(sql`, c as ${link}`);
    }
    const fields = [sql`row_to_json(u) as "__order"`];
    for (let i = 0; i < locks; i++) {
      fields.push(sql`pg_advisory_xact_lock(hashtext(${p(`__lock${i}`)})) as ${sql.identifier(`__lock${i}`)}`);
    }
    // The earlier news of each id it links whose lock this transaction already holds
    // (insertEventLockOrder): read in this statement, whose snapshot follows the lock.
    for (let i = 0; i < linked; i++) {
      const name = `__linked${i}`;
      fields.push(
        sql`(select coalesce(json_agg(${t.stripeEvents.payload} order by ${t.stripeEvents.created}, ${t.stripeEvents.receivedAt}), '[]'::json) from ${t.stripeEvents} where ${linkedWhere(name)}) as ${sql.identifier(name)}`,
      );
    }
    parts.push(sql` select ${sql.join(fields, sql`, `)} from u`);
    return named<Written>("decision", sql.join(parts), (raw) => ({
      ...fromJson(raw),
      linked: Array.from({ length: linked }, (_, i) => raw[`__linked${i}`] as string[]),
    }));
  };
  const decisions = new Map<string, Named<Written>>();
  async function writeDecision(
    tx: PgTx,
    id: string,
    set: Partial<CheckoutSession>,
    extra: {
      history: ReturnType<typeof changeRow>;
      jobs: NewJob[];
      locks: string[];
      linked: string[];
      customer: { id: string; shopperId: string } | null;
    },
    now: number,
  ): Promise<Written> {
    const columns = Object.keys(set)
      .filter((name) => set[name as keyof CheckoutSession] !== undefined)
      .sort();
    const folded = pgEnqueueFolded(db, extra.jobs, now);
    const shape: Shape = {
      columns,
      history: extra.history !== null,
      jobs: folded ? extra.jobs.length : 0,
      locks: extra.locks.length,
      linked: extra.linked.length,
      customer: extra.customer !== null,
    };
    const key = `${columns.join(",")}|${shape.history}|${shape.jobs}|${shape.locks}|${shape.linked}|${shape.customer}`;
    let statement = decisions.get(key);
    if (!statement) {
      statement = decisionStatement(shape, folded?.query());
      if (decisions.size < 64) decisions.set(key, statement);
    }
    // The values bind as Drizzle would bind them: through each column's encoder, null as NULL.
    const values: Record<string, unknown> = { __id: id, ...folded?.values };
    if (extra.customer)
      Object.assign(values, { __customer: extra.customer.id, __shopper: extra.customer.shopperId, __now: now });
    for (const name of columns) {
      const value = set[name as keyof CheckoutSession];
      values[name] = value === null ? null : orderColumns[name as keyof typeof orderColumns].mapToDriverValue(value);
    }
    if (extra.history) {
      for (const [name, value] of Object.entries(extra.history)) values[`h_${name}`] = value;
    }
    for (const [i, linkId] of extra.locks.entries()) values[`__lock${i}`] = linkId;
    for (const [i, linkId] of extra.linked.entries()) values[`__linked${i}`] = linkId;
    const {
      rows: [current],
    } = await runNamed(tx.tx, statement, values);
    // The row is locked FOR UPDATE by this transaction: it cannot have gone.
    if (!current) throw new Error(`the order ${id} vanished under its row lock`);
    return current;
  }

  const lockLink = (tx: PgTx, linkId: string) => runNamed(tx.tx, st.lockLink, { linkId });

  /** The order of a piece of news, locked FOR UPDATE after the advisory locks of its ids (held: the ids locked). */
  async function rowFor(tx: PgTx, news: StoredNews): Promise<{ row: CheckoutSession | undefined; held: string[] }> {
    const held = news.kind === "session" ? sessionLinks(news) : [linkIdOf(news)].filter((id): id is string => !!id);
    for (const linkId of held) await lockLink(tx, linkId);
    const { rows } =
      news.kind === "session"
        ? await runNamed(tx.tx, st.orderById, { id: news.session.id })
        : news.kind === "subscription" || news.kind === "invoice"
          ? await runNamed(tx.tx, st.orderBySubscription, { id: news.subscriptionId })
          : await runNamed(tx.tx, st.orderByMoney, {
              intent: news.paymentIntentId ?? null,
              charge: news.chargeId ?? null,
            });
    return { row: rows[0], held };
  }

  /** What one piece of news decides for its order, before anything of it is written. */
  type Step = {
    row: CheckoutSession;
    cause: Cause;
    decision: ReturnType<typeof transition>;
    now: number;
    fulfill: boolean;
    history: ReturnType<typeof changeRow>;
    jobs: NewJob[];
    links: string[];
    /** The links whose locks this transaction already holds (their earlier news is read with the write) and the others. */
    linked: string[];
    locks: string[];
    writes: boolean;
  };

  /** The decision on `row`, locked FOR UPDATE, of `news` (held: the link ids whose locks are held). */
  function decide(row: CheckoutSession, news: StoredNews, cause: Cause, refunds: RefundFact[], held: string[]): Step {
    const decision = transition(row, news, context(), refunds);
    const now = Date.now();
    // The row is locked (FOR UPDATE, read after the lock): fulfillment wins here or not at all.
    const fulfill = decision.fulfill && row.fulfilledAt == null;
    const links = [decision.linkedSubscription, decision.linkedPaymentIntent].filter((id): id is string => !!id);
    return {
      row,
      cause,
      decision,
      now,
      fulfill,
      // The order's timeline: what changed, when, and which news did it (app/lib/orders/history.ts).
      history: changeRow(row, decision.update, fulfill ? now : null, cause, now),
      // The jobs it enqueues (their keys make each once): order.paid when it wins;
      // revocations, reinstatements, renewals with the news that decides them.
      jobs: [...(fulfill ? [orderPaidJob(row.id)] : []), ...decision.jobs],
      links,
      linked: links.filter((id) => held.includes(id)),
      locks: links.filter((id) => !held.includes(id)),
      writes: Object.keys(decision.update).length > 0 || fulfill,
    };
  }

  /**
   * One UPDATE of the order per piece of news: its changes and, when it wins,
   * fulfilled_at; with it, in the same statement, the history row, the jobs, the
   * links' locks (or, when already held, their earlier news) and the customer's link.
   * The statement is sent before this returns its promise (recordSessions relies on it).
   */
  function write(tx: PgTx, { row, decision, now, fulfill, history, jobs, linked, locks }: Step): Promise<Written> {
    const customer = decision.linkCustomer ? { id: decision.linkCustomer, shopperId: row.shopperId } : null;
    return writeDecision(
      tx,
      row.id,
      { ...decision.update, updatedAt: now, ...(fulfill ? { fulfilledAt: now } : {}) },
      { history, jobs, locks, linked, customer },
      now,
    );
  }

  /**
   * `locked`: the order's row, already read FOR UPDATE (undefined: no such
   * order), and the link ids whose advisory locks this transaction holds; when
   * not given, rowFor takes both here.
   */
  async function apply(
    tx: PgTx,
    news: StoredNews,
    cause: Cause,
    locked?: { row: CheckoutSession | undefined; held: string[] },
  ): Promise<ApplyResult> {
    const { row, held } = locked ?? (await rowFor(tx, news));
    if (!row) {
      warnForeign(news);
      return nothing();
    }
    const refunds: RefundFact[] =
      news.kind === "charge" || news.kind === "refund"
        ? (await runNamed(tx.tx, st.refundsOf, { id: row.id })).rows
        : [];
    const step = decide(row, news, cause, refunds, held);
    return finish(tx, step, step.writes ? await write(tx, step) : undefined);
  }

  /** Everything of a decision after its write (`written`: the order as its UPDATE left it; undefined when it writes nothing). */
  async function finish(tx: PgTx, step: Step, written: Written | undefined): Promise<ApplyResult> {
    const { row, cause, decision, now, fulfill, history, jobs, links, locks, writes } = step;
    let current: CheckoutSession | undefined;
    let replayed = 0;
    if (written) {
      const { linked: earlier, ...order } = written;
      current = order;
      await refundOf(tx, decision, now);
      for (const payloads of earlier) replayed += await replay(tx, payloads, cause);
      for (const linkId of locks) replayed += await replayLinked(tx, linkId, cause);
    } else {
      if (history) await runNamed(tx.tx, st.insertChange, history);
      for (const job of jobs) await enqueueInTransaction(tx, job, now);
      for (const linkId of links) await lockLink(tx, linkId);
      await refundOf(tx, decision, now);
      for (const linkId of links) replayed += await replayLinked(tx, linkId, cause);
    }
    const fulfilled = fulfill && current !== undefined;
    // The fulfillment hooks see the order as the replays left it (unchanged when none applied).
    if (replayed > 0 && current) {
      [current] = (await runNamed(tx.tx, st.reread, { id: row.id })).rows;
    }
    if (decision.linkCustomer && !writes) {
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
    if (fulfilled && current) {
      await fulfillAsync(tx, current);
      paidIn.get(tx.tx)?.push(current);
      await settleCartAsync(tx, current);
    }
    const flag = decision.update.flag !== undefined ? decision.update.flag : row.flag;
    return {
      duplicate: false,
      checkoutId: row.id,
      changed: changes(decision) || fulfilled,
      fulfilled,
      flag,
      jobs: decision.jobs,
    };
  }

  async function refundOf(tx: PgTx, decision: ReturnType<typeof transition>, now: number) {
    if (!decision.refund) return;
    const { status, eventAt } = decision.refund;
    await tx.tx
      .insert(t.refunds)
      .values({ ...decision.refund, updatedAt: now })
      .onConflictDoUpdate({ target: t.refunds.id, set: { status, eventAt, updatedAt: now } });
  }

  /** Applies the earlier news stored under an id just linked (their payloads, oldest first); how many applied. */
  async function replay(tx: PgTx, payloads: string[], cause: Cause) {
    let applied = 0;
    for (const payload of payloads) {
      const news = storedNews({ payload });
      if (news) {
        await apply(tx, news, cause);
        applied++;
      }
    }
    return applied;
  }

  /** The events stored under `linkId` (a subscription or payment intent; object_id for rows from before link_id). */
  async function replayLinked(tx: PgTx, linkId: string, cause: Cause) {
    const { rows } = await runNamed(tx.tx, st.linkedEvents, { linkId });
    return replay(
      tx,
      rows.map((r) => r.payload),
      cause,
    );
  }

  // The race writeDecision's customer link settles by running again.
  const customerRace = (error: unknown) => isUniqueViolationOf(error, "shoppers_stripe_customer_id_unique");

  // The orders first paid in a transaction, logged once it has committed.
  const paidIn = new WeakMap<PgTx["tx"], CheckoutSession[]>();
  /** `work` in a transaction of its own; the fulfillments it made are logged after its commit. */
  async function transaction<T>(work: (tx: PgTx["tx"]) => Promise<T>): Promise<T> {
    const paid: CheckoutSession[] = [];
    const result = await db.transaction((tx) => {
      paidIn.set(tx, paid);
      return work(tx);
    });
    for (const checkout of paid) logFulfilled(checkout);
    return result;
  }

  /** One event recorded and applied in `tx`: a duplicate changes nothing. */
  async function record(
    tx: PgTx["tx"],
    { event, payload, source }: Delivery,
    news: StoredNews | null = newsOf(event),
  ): Promise<ApplyResult> {
    const row = eventRow(event, news, payload, source);
    const cause = { eventId: event.id, source };
    if (news?.kind === "session") {
      const held = sessionLinks(news);
      const values: Record<string, unknown> = { ...row, orderId: news.session.id };
      for (const [i, linkId] of held.entries()) values[`__lock${i}`] = linkId;
      const { rows } = await runNamed(tx, insertEventLockOrder[held.length]!, values);
      if (rows.length === 0) return { ...nothing(), duplicate: true };
      return apply({ dialect: "postgres", tx }, news, cause, { row: rows[0] ?? undefined, held });
    }
    const inserted = await runNamed(tx, st.insertEvent, row);
    if (inserted.rowCount === 0) return { ...nothing(), duplicate: true };
    return news ? apply({ dialect: "postgres", tx }, news, cause) : nothing();
  }

  /** One event in a transaction of its own, retried on a serialization failure or deadlock. */
  const alone = (delivery: Delivery) =>
    retryingSerialization(() => transaction((tx) => record(tx, delivery)), undefined, customerRace);

  // Group commit (docs/decisions/184-group-commit-on-postgresql.md). Webhook
  // events run in batches on at most half the pool's clients (the rest stay
  // free for pages, the success page and the worker). While every lane is busy,
  // the events that arrive wait, and the next free lane takes all of them (up to
  // MAX_BATCH) in one transaction, one after another, ordered by the first lock
  // each takes and then by event id (two batches naming the same orders, or
  // holding copies of the same events, take them in one order; ADR 185):
  // one BEGIN and one COMMIT for all. An event alone runs alone. When any event
  // of a batch fails (its effect threw, a deadlock, a unique race, the commit),
  // the batch rolls back whole and each of its events runs again alone, one
  // after another, so only the failing one fails. Every promise settles after
  // the commit that holds its event.
  const waiting: Pending[] = [];
  const lanes = Math.max(1, Math.floor((handle.pool.options.max ?? 10) / 2));
  let running = 0;
  let scheduled = false;

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // After the I/O callbacks of this turn of the event loop: the deliveries read meanwhile join.
    setImmediate(() => {
      scheduled = false;
      while (running < lanes && waiting.length > 0) void runBatch(waiting.splice(0, MAX_BATCH));
    });
  }

  const settle = (pending: Pending) =>
    alone(pending).then((result) => {
      groupCommitted(1);
      pending.resolve(result);
    }, pending.reject);

  /**
   * The first lock an event's statements take after its own row's key: the
   * advisory lock of the first id it links (a session's subscription or payment
   * intent; the subscription, payment intent or charge of other news), else its
   * order's row (a session names it). Every piece of news of one order takes
   * the same one first, so batches ordered by it take their orders in one order.
   */
  const firstLock = (news: StoredNews | null) =>
    news === null ? "" : news.kind === "session" ? (sessionLinks(news)[0] ?? news.session.id) : (linkIdOf(news) ?? "");
  const byKeys = (a: { lock: string; id: string }, b: { lock: string; id: string }) =>
    a.lock < b.lock ? -1 : a.lock > b.lock ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

  async function runBatch(batch: Pending[]) {
    running++;
    try {
      if (batch.length === 1) return await settle(batch[0]!);
      // Ordered by the first lock each event takes, then by event id (copies of one event
      // in two batches take its key in one order): two batches naming the same orders
      // take them in the same order, and the second waits for the first instead of deadlocking.
      const ordered = batch
        .map((pending) => {
          const news = newsOf(pending.event);
          return { pending, news, lock: firstLock(news), id: pending.event.id };
        })
        .sort(byKeys);
      let results: ApplyResult[];
      try {
        const sessions = ownSessions(ordered);
        results = await transaction(async (tx) => {
          if (sessions) return recordSessions(tx, sessions);
          const out: ApplyResult[] = [];
          for (const { pending, news } of ordered) out.push(await record(tx, pending, news));
          return out;
        });
      } catch {
        for (const { pending } of ordered) await settle(pending);
        return;
      }
      groupCommitted(batch.length);
      for (const [i, { pending }] of ordered.entries()) pending.resolve(results[i]!);
    } finally {
      running--;
      if (waiting.length > 0) schedule();
    }
  }

  return {
    processEvent: (event: Stripe.Event, payload: string | undefined, source: EventSource) =>
      new Promise<ApplyResult>((resolve, reject) => {
        waiting.push({ event, payload, source, resolve, reject });
        schedule();
      }),
    applyNews: (news: StoredNews, source: EventSource) =>
      retryingSerialization(
        () => transaction((tx) => apply({ dialect: "postgres", tx }, news, { eventId: null, source })),
        undefined,
        customerRace,
      ),
  };
}
