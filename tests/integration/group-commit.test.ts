import { eq, inArray, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { onFulfill } from "~/lib/fulfillment.server";
import { onGroupCommit } from "~/lib/orders/commits";
import { action } from "~/routes/stripe.webhook";
import { expectConsoleError } from "../support/console";
import { db, schema, sqliteConnection, testDialect } from "../support/db";
import { ORIGIN, settle } from "../support/http";
import { CHECKOUT_EVENT, sessionFor, signed, storeCheckout, stripeEvent } from "../support/stripe-fixtures";

/**
 * Deliveries that arrive together share one commit: on SQLite each event in
 * its own savepoint (docs/decisions/180-group-commit-on-sqlite.md); on
 * PostgreSQL one after another in one transaction, which, when one of them
 * fails, rolls back whole and runs each again alone
 * (docs/decisions/184-group-commit-on-postgresql.md). Either way every
 * delivery is answered for its own event: one whose effect throws is the only
 * one answered 5xx and the only one not stored, and copies of one event give
 * one row. The events-per-commit listener shows the sharing happened.
 */

const fulfilled: string[] = [];
const commits: number[] = [];
let failFor: string | null = null;
const cleanups: (() => void)[] = [];

beforeEach(() => {
  fulfilled.length = 0;
  commits.length = 0;
  failFor = null;
  cleanups.push(
    onFulfill((_tx, checkout) => {
      if (checkout.id === failFor) throw new Error(`the shop's hook failed for ${checkout.id}`);
      fulfilled.push(checkout.id);
    }),
    onGroupCommit((events) => void commits.push(events)),
  );
  vi.spyOn(console, "info").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function deliver(event: object) {
  const { payload, header } = signed(event);
  const request = new Request(`${ORIGIN}/stripe/webhook`, {
    method: "POST",
    body: payload,
    headers: { "Content-Type": "application/json", "Stripe-Signature": header },
  });
  return settle(() => action({ request, params: {}, context: {} }));
}

async function paidCheckouts(n: number) {
  const checkouts = [];
  for (let i = 0; i < n; i++) checkouts.push(await storeCheckout(db));
  return checkouts.map((checkout) => ({
    checkout,
    event: stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid")),
  }));
}

/** The order.paid jobs of these orders. */
const paidJobs = (orders: string[]) =>
  db
    .select({ key: schema.jobs.key })
    .from(schema.jobs)
    .where(
      inArray(
        schema.jobs.key,
        orders.map((id) => `order.paid:${id}`),
      ),
    );

/** The orders among these ids. */
const ordersOf = (ids: string[]) =>
  db.select().from(schema.checkoutSessions).where(inArray(schema.checkoutSessions.id, ids));

/** A trigger that fails every UPDATE of this order, as a database refusing one row would. */
async function refuseUpdatesOf(orderId: string) {
  if (testDialect === "sqlite") {
    sqliteConnection().exec(
      `CREATE TRIGGER refuse_update BEFORE UPDATE ON checkout_sessions WHEN OLD.id = '${orderId}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
    );
    return;
  }
  await db.execute(
    sql.raw(
      `CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`,
    ),
  );
  await db.execute(
    sql.raw(
      `CREATE TRIGGER refuse_update BEFORE UPDATE ON checkout_sessions FOR EACH ROW WHEN (OLD.id = '${orderId}') EXECUTE FUNCTION refuse_update()`,
    ),
  );
}

async function allowUpdates() {
  if (testDialect === "sqlite") {
    sqliteConnection().exec("DROP TRIGGER refuse_update");
    return;
  }
  await db.execute(sql.raw("DROP TRIGGER refuse_update ON checkout_sessions"));
  await db.execute(sql.raw("DROP FUNCTION refuse_update()"));
}

/** The stored events among these ids. */
const storedEvents = (ids: string[]) =>
  db.select({ id: schema.stripeEvents.id }).from(schema.stripeEvents).where(inArray(schema.stripeEvents.id, ids));

describe("webhook deliveries arriving together", () => {
  it("one whose effect throws is answered 500 and stored not at all; the others are answered 200 and stored", async () => {
    const deliveries = await paidCheckouts(6);
    const bad = deliveries[2]!;
    failFor = bad.checkout.id;
    expectConsoleError(/webhook not stored/);

    const responses = await Promise.all(deliveries.map(({ event }) => deliver(event)));

    expect(responses.map((r) => r.status)).toEqual([200, 200, 500, 200, 200, 200]);
    const ids = deliveries.map(({ event }) => event.id);
    const stored = await storedEvents(ids);
    expect(new Set(stored.map((r) => r.id))).toEqual(new Set(ids.filter((id) => id !== bad.event.id)));
    const [badOrder] = await db
      .select()
      .from(schema.checkoutSessions)
      .where(eq(schema.checkoutSessions.id, bad.checkout.id));
    expect(badOrder).toMatchObject({ status: "open", fulfilledAt: null });
    const badJobs = await db
      .select()
      .from(schema.jobs)
      .where(eq(schema.jobs.key, `order.paid:${bad.checkout.id}`));
    expect(badJobs).toEqual([]);
    const good = deliveries.filter((d) => d !== bad).map((d) => d.checkout.id);
    // On SQLite the others' hooks ran once, in the commit they share. On PostgreSQL the
    // shared transaction rolled back at the bad event and each ran again alone: a hook
    // may have run in the rolled-back one too, and what it wrote through tx went with it.
    if (testDialect === "sqlite") expect(fulfilled.sort()).toEqual(good.sort());
    else expect([...new Set(fulfilled)].sort()).toEqual(good.sort());
    const goodOrders = await db.select().from(schema.checkoutSessions).where(inArray(schema.checkoutSessions.id, good));
    expect(goodOrders.map((o) => o.status)).toEqual(Array(5).fill("complete"));
    expect(goodOrders.every((o) => o.fulfilledAt !== null)).toBe(true);
    const goodJobs = await paidJobs(good);
    expect(goodJobs).toHaveLength(5);
    // SQLite committed them together around the bad one's savepoint; PostgreSQL's shared
    // transaction rolled back, and each committed alone.
    if (testDialect === "sqlite") expect(Math.max(...commits)).toBeGreaterThan(1);
    // Either way each of the five stored events is counted in exactly one commit, and the bad one in none.
    expect(commits.reduce((sum, n) => sum + n, 0)).toBe(5);

    // Stripe delivers the failed one again once the shop's hook works: stored and fulfilled once.
    failFor = null;
    expect((await deliver(bad.event)).status).toBe(200);
    expect(fulfilled.filter((id) => id === bad.checkout.id)).toHaveLength(1);
  });

  it("one whose order the database refuses to update is answered 500 and stored not at all; the others, written with it and after it, are answered 200 and stored", async () => {
    const deliveries = await paidCheckouts(5);
    // On PostgreSQL a batch writes its orders in the order of the first lock each event takes
    // (a paid session's payment intent) and sends the writes together: the refused one goes
    // first, so that every other write of the batch was sent behind it.
    const intent = ({ event }: (typeof deliveries)[number]) =>
      String((event.data.object as Stripe.Checkout.Session).payment_intent);
    const [bad] = [...deliveries].sort((a, b) => (intent(a) < intent(b) ? -1 : 1));
    await refuseUpdatesOf(bad!.checkout.id);
    try {
      expectConsoleError(/webhook not stored/);

      const responses = await Promise.all(deliveries.map(({ event }) => deliver(event)));

      expect(responses.map((r) => r.status)).toEqual(deliveries.map((d) => (d === bad ? 500 : 200)));
      const ids = deliveries.map(({ event }) => event.id);
      const stored = await storedEvents(ids);
      expect(new Set(stored.map((r) => r.id))).toEqual(new Set(ids.filter((id) => id !== bad!.event.id)));
      const good = deliveries.filter((d) => d !== bad).map((d) => d.checkout.id);
      const orders = await ordersOf(deliveries.map((d) => d.checkout.id));
      for (const order of orders) {
        if (order.id === bad!.checkout.id) expect(order).toMatchObject({ status: "open", fulfilledAt: null });
        else expect(order).toMatchObject({ status: "complete", fulfilledAt: expect.any(Number) });
      }
      expect((await paidJobs(good)).length).toBe(4);
      expect(await paidJobs([bad!.checkout.id])).toEqual([]);
      expect([...new Set(fulfilled)].sort()).toEqual([...good].sort());
      expect(commits.reduce((sum, n) => sum + n, 0)).toBe(4);
    } finally {
      await allowUpdates();
    }
    // Once the database takes it, Stripe's retry is stored and paid once.
    expect((await deliver(bad!.event)).status).toBe(200);
    expect(fulfilled.filter((id) => id === bad!.checkout.id)).toHaveLength(1);
  });

  it("copies of one event arriving together give one row, one fulfillment and one job", async () => {
    const { checkout, event } = (await paidCheckouts(1))[0]!;

    const responses = await Promise.all(Array.from({ length: 10 }, () => deliver(event)));
    const bodies = await Promise.all(responses.map((r) => r.json()));

    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(bodies.filter((b) => b.duplicate === true)).toHaveLength(9);
    const rows = await db.select().from(schema.stripeEvents).where(eq(schema.stripeEvents.id, event.id));
    expect(rows).toHaveLength(1);
    expect(fulfilled).toEqual([checkout.id]);
    const jobs = await db
      .select()
      .from(schema.jobs)
      .where(eq(schema.jobs.key, `order.paid:${checkout.id}`));
    expect(jobs).toHaveLength(1);
    expect(Math.max(...commits)).toBeGreaterThan(1);
  });

  it("a batch holding an event already stored and an order this shop does not have: a duplicate, a stored event that pays nothing, and the others paid, in one commit", async () => {
    const deliveries = await paidCheckouts(4);
    const stored = deliveries[0]!;
    expect((await deliver(stored.event)).status).toBe(200);
    fulfilled.length = 0;
    commits.length = 0;
    const foreignCheckout = { ...deliveries[1]!.checkout, id: "cs_test_not_this_shops_batch" };
    const foreign = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(foreignCheckout, "paid"));
    const batch = [stored.event, foreign, ...deliveries.slice(1).map((d) => d.event)];

    const responses = await Promise.all(batch.map((event) => deliver(event)));
    const bodies = await Promise.all(responses.map((r) => r.json()));

    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(bodies.map((b) => b.duplicate === true)).toEqual([true, false, false, false, false]);
    expect(commits).toEqual([5]);
    const rows = await storedEvents(batch.map((event) => event.id));
    expect(rows).toHaveLength(5);
    const others = deliveries.slice(1).map((d) => d.checkout.id);
    expect([...fulfilled].sort()).toEqual([...others].sort());
    const orders = await ordersOf(deliveries.map((d) => d.checkout.id));
    expect(orders.every((o) => o.status === "complete" && o.fulfilledAt !== null)).toBe(true);
    const jobs = await paidJobs(deliveries.map((d) => d.checkout.id));
    expect(jobs).toHaveLength(4);
  });

  it("two orders of two shoppers naming one Stripe customer, paid together: both paid in one commit, the customer given to one shopper", async () => {
    const deliveries = await paidCheckouts(2);
    const events = deliveries.map(({ checkout }) =>
      stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid", { customer: "cus_test_shared_batch" })),
    );

    const responses = await Promise.all(events.map((event) => deliver(event)));

    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(commits).toEqual([2]);
    const ids = deliveries.map(({ checkout }) => checkout.id);
    expect([...fulfilled].sort()).toEqual([...ids].sort());
    const owners = await db
      .select({ id: schema.shoppers.id })
      .from(schema.shoppers)
      .where(eq(schema.shoppers.stripeCustomerId, "cus_test_shared_batch"));
    expect(owners).toHaveLength(1);
    expect(deliveries.map(({ checkout }) => checkout.shopperId)).toContain(owners[0]!.id);
  });

  it("the order a fulfillment hook is given is the order as stored, field for field and type for type, alone and together", async () => {
    const given = new Map<string, unknown>();
    cleanups.push(onFulfill((_tx, checkout) => void given.set(checkout.id, { ...checkout })));
    const alone = (await paidCheckouts(1))[0]!;
    expect((await deliver(alone.event)).status).toBe(200);
    // A delivery that arrives alone is a commit of one event (counted on both databases).
    expect(commits).toEqual([1]);
    const together = await paidCheckouts(3);
    const responses = await Promise.all(together.map(({ event }) => deliver(event)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(Math.max(...commits)).toBeGreaterThan(1);

    const ids = [alone, ...together].map(({ checkout }) => checkout.id);
    const stored = await db.select().from(schema.checkoutSessions).where(inArray(schema.checkoutSessions.id, ids));
    expect(stored).toHaveLength(4);
    for (const row of stored) {
      expect(row.fulfilledAt).toEqual(expect.any(Number));
      expect(given.get(row.id)).toStrictEqual({ ...row });
    }
  });

  // SQLite has one writer: its batches run one after another and cannot hold each other's locks.
  it.skipIf(testDialect !== "postgres")(
    "on PostgreSQL (skipped on SQLite, whose one writer never overlaps two batches), two batches on two lanes naming the same two orders in crossed event-id order both commit whole: no deadlock, every delivery 200, each order paid once",
    async () => {
      const [x, y] = await paidCheckouts(2);
      // Batch A: X's event sorts before Y's by event id; batch B the other way round. Taken in
      // event-id order, A would hold X and wait for Y while B held Y and waited for X.
      const a = [
        stripeEvent(CHECKOUT_EVENT.completed, sessionFor(x!.checkout, "paid"), { id: "evt_test_cross_a1" }),
        stripeEvent(CHECKOUT_EVENT.completed, sessionFor(y!.checkout, "paid"), { id: "evt_test_cross_a2" }),
      ];
      const b = [
        stripeEvent(CHECKOUT_EVENT.completed, sessionFor(y!.checkout, "paid"), { id: "evt_test_cross_b1" }),
        stripeEvent(CHECKOUT_EVENT.completed, sessionFor(x!.checkout, "paid"), { id: "evt_test_cross_b2" }),
      ];
      // While A is inside the transaction that paid the first of its orders (holding that
      // order's lock), B's deliveries arrive and a second lane takes them.
      let second: Promise<Response[]> | undefined;
      cleanups.push(
        onFulfill(async () => {
          if (second) return;
          second = Promise.all(b.map((event) => deliver(event)));
          await new Promise((resolve) => setTimeout(resolve, 300));
        }),
      );

      const first = await Promise.all(a.map((event) => deliver(event)));
      const later = await second!;

      expect([...first, ...later].map((r) => r.status)).toEqual([200, 200, 200, 200]);
      // Both batches committed as batches: neither was rolled back and run again alone.
      expect(commits).toEqual([2, 2]);
      const ids = [...a, ...b].map((event) => event.id);
      const stored = await storedEvents(ids);
      expect(stored.map((r) => r.id).sort()).toEqual([...ids].sort());
      const orders = [x!.checkout.id, y!.checkout.id];
      expect([...fulfilled].sort()).toEqual([...orders].sort());
      const jobs = await paidJobs(orders);
      expect(jobs).toHaveLength(2);
    },
  );
});
