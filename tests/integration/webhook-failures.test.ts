import { count, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { db, schema, sqliteConnection, testDialect } from "../support/db";
import { onFulfill, type FulfillmentHook } from "~/lib/fulfillment.server";
import { unresolvedWebhookFailures, webhookFailureList } from "~/lib/webhook-failures.server";
import { action } from "~/routes/stripe.webhook";

import { expectConsoleError } from "../support/console";
import { ORIGIN, settle } from "../support/http";
import { CHECKOUT_EVENT, sessionFor, signed, storeCheckout, stripeEvent } from "../support/stripe-fixtures";

/**
 * The database cannot take the write: the webhook answers 5xx so that Stripe
 * retries, stores nothing of the event, and the retry succeeds once the
 * database is back. These faults are injected into this process's connection
 * (a throwing fulfill hook, query_only, max_page_count), so they run against
 * the action only; the held write lock also runs through the built server in
 * webhook.test.ts.
 */

const fulfilled = new Map<string, number>();
const counter: FulfillmentHook = (_tx, checkout) =>
  void fulfilled.set(checkout.id, (fulfilled.get(checkout.id) ?? 0) + 1);
let unhook: () => void;
let logged: string[];

beforeEach(async () => {
  await db.delete(schema.webhookFailures);
  fulfilled.clear();
  unhook = onFulfill(counter);
  logged = [];
  for (const level of ["info", "warn"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(" ")));
  }
});
afterEach(async () => unhook());

function post(payload: string, header: string) {
  const request = new Request(`${ORIGIN}/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": header },
    body: payload,
  });
  return settle(() => action({ request, params: {}, context: {} }));
}

const eventRows = async (id: string) =>
  (await db.select({ n: count() }).from(schema.stripeEvents).where(eq(schema.stripeEvents.id, id)))[0]!.n;
const checkoutRow = async (id: string) =>
  (await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id)))[0]!;
const shopperRow = async (id: string) =>
  (await db.select().from(schema.shoppers).where(eq(schema.shoppers.id, id)))[0]!;
const errorLines = () => vi.mocked(console.error).mock.calls.map((args) => args.map(String).join(" "));

/** A paid completion for a fresh checkout, signed; `padding` makes the stored payload larger. */
async function paidCompletion(padding = 0) {
  const checkout = await storeCheckout(db);
  const event = stripeEvent(
    CHECKOUT_EVENT.completed,
    sessionFor(checkout, "paid"),
    padding ? { padding: "x".repeat(padding) } : {},
  );
  return { checkout, event, ...signed(event) };
}

async function expectNothingStored(checkout: Awaited<ReturnType<typeof storeCheckout>>, eventId: string) {
  expect(await eventRows(eventId)).toBe(0);
  expect(await checkoutRow(checkout.id)).toEqual(checkout);
  expect((await shopperRow(checkout.shopperId)).stripeCustomerId).toBeNull();
}

async function expectRedeliverySucceeds(
  checkout: Awaited<ReturnType<typeof storeCheckout>>,
  payload: string,
  header: string,
) {
  const response = await post(payload, header);
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ received: true });
  expect(await checkoutRow(checkout.id)).toMatchObject({
    status: "complete",
    paymentStatus: "paid",
    fulfilledAt: expect.any(Number),
  });
  expect(fulfilled.get(checkout.id)).toBe(1);
}

describe("a failure after the event is inserted", () => {
  it("a fulfill hook that throws: 500, the whole event rolled back; the retry succeeds with one fulfillment", async () => {
    const { checkout, event, payload, header } = await paidCompletion();
    // Registered before the counter, as a shop's hook would be: the counter
    // then only sees calls that commit.
    unhook();
    const failOnce = onFulfill(() => {
      failOnce();
      throw new Error("outbox table missing: secret details here");
    });
    unhook = onFulfill(counter);
    expectConsoleError(new RegExp(`^webhook not stored id=${event.id} type=checkout.session.completed error=Error$`));

    const response = await post(payload, header);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toMatch(/outbox|secret details|Error/);
    await expectNothingStored(checkout, event.id);
    expect(errorLines().join("\n")).not.toMatch(/secret details|shopper@example\.com|whsec_/);
    // Kept for the console outside the rolled-back transaction: ids, type and the error's class only.
    expect(await webhookFailureList()).toEqual([
      expect.objectContaining({
        eventId: event.id,
        type: "checkout.session.completed",
        error: "Error",
        count: 1,
        resolvedAt: null,
      }),
    ]);
    expect(await unresolvedWebhookFailures()).toBe(1);

    await expectRedeliverySucceeds(checkout, payload, header);
    expect(await webhookFailureList()).toEqual([
      expect.objectContaining({ eventId: event.id, count: 1, resolvedAt: expect.any(Number) }),
    ]);
    expect(await unresolvedWebhookFailures()).toBe(0);
  });

  it("each failed delivery of one event adds to its one row; a bad signature adds none", async () => {
    const { event, payload, header } = await paidCompletion();
    unhook();
    unhook = onFulfill(() => {
      throw new Error("still down");
    });
    expectConsoleError(/webhook not stored/);
    for (let i = 0; i < 3; i++) expect((await post(payload, header)).status).toBe(500);
    expect((await post(payload, `${header.slice(0, -4)}0000`)).status).toBe(400);
    const forged = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(await storeCheckout(db), "paid"));
    expect((await post(JSON.stringify(forged), header)).status).toBe(400);
    const rows = await db.select().from(schema.webhookFailures);
    expect(rows).toEqual([expect.objectContaining({ eventId: event.id, count: 3, error: "Error" })]);
    expect(JSON.stringify(rows)).not.toMatch(/still down|cs_test_|payload/);
  });
});

// Read-only and full are made with SQLite's own pragmas; PostgreSQL's failure
// modes (a dropped connection, a failover) are another issue's tests.
describe.runIf(testDialect === "sqlite")(
  "[SQLite only: made with its pragmas] the database cannot take the write",
  () => {
    const sqlite = testDialect === "sqlite" ? sqliteConnection() : (null as never);
    it("read-only: 503, nothing stored; the retry succeeds once it is writable", async () => {
      const { checkout, event, payload, header } = await paidCompletion();
      expectConsoleError(
        new RegExp(`webhook not stored id=${event.id} type=checkout.session.completed error=SQLITE_READONLY`),
      );
      sqlite.pragma("query_only = ON");
      try {
        const response = await post(payload, header);
        expect(response.status).toBe(503);
        expect(await response.text()).not.toMatch(/SQLITE|readonly/i);
      } finally {
        sqlite.pragma("query_only = OFF");
      }
      expect(errorLines()).toEqual([expect.stringMatching(/error=SQLITE_READONLY$/)]);
      await expectNothingStored(checkout, event.id);
      await expectRedeliverySucceeds(checkout, payload, header);
    });

    it("full: 503, nothing stored; the retry succeeds once there is room", async () => {
      const pageSize = sqlite.pragma("page_size", { simple: true }) as number;
      const free = sqlite.pragma("freelist_count", { simple: true }) as number;
      // A payload bigger than every free page, so that storing it needs new ones.
      const { checkout, event, payload, header } = await paidCompletion((free + 8) * pageSize);
      expectConsoleError(
        new RegExp(`webhook not stored id=${event.id} type=checkout.session.completed error=SQLITE_FULL`),
      );
      const limit = sqlite.pragma("max_page_count", { simple: true }) as number;
      sqlite.pragma(`max_page_count = ${sqlite.pragma("page_count", { simple: true }) as number}`);
      try {
        const response = await post(payload, header);
        expect(response.status).toBe(503);
      } finally {
        sqlite.pragma(`max_page_count = ${limit}`);
      }
      expect(errorLines()).toEqual([expect.stringMatching(/error=SQLITE_FULL$/)]);
      await expectNothingStored(checkout, event.id);
      await expectRedeliverySucceeds(checkout, payload, header);
    });

    it("logs only the event's id, its type and the error code", async () => {
      const { event, payload, header } = await paidCompletion();
      expectConsoleError(/webhook not stored/);
      sqlite.pragma("query_only = ON");
      try {
        expect((await post(payload, header)).status).toBe(503);
      } finally {
        sqlite.pragma("query_only = OFF");
      }
      expect(errorLines()).toEqual([
        `webhook not stored id=${event.id} type=checkout.session.completed error=SQLITE_READONLY`,
      ]);
      // The failure could not be kept either (the database is read-only): said, with the same ids.
      expect(logged).toEqual([
        `webhook received id=${event.id} type=checkout.session.completed`,
        `webhook failure not recorded id=${event.id} error=SQLITE_READONLY`,
      ]);
    });
  },
);
