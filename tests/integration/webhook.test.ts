import { createHmac } from "node:crypto";

import Database from "better-sqlite3";
import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import type { Db } from "~/lib/db.server";
import { db as appDb, openServerDb, schema, testDialect } from "../support/db";
import { onFulfill } from "~/lib/fulfillment.server";
import { action, loader } from "~/routes/stripe.webhook";

import { expectConsoleError } from "../support/console";
import { emulatorControl } from "../support/emulator";
import { ORIGIN, settle } from "../support/http";
import { startBuiltServer, type Proc } from "../support/server";
import {
  CHECKOUT_EVENT,
  nowSeconds,
  sessionFor,
  sign,
  signed,
  storeCheckout,
  stripeEvent,
  subscriptionObject,
  type StoredCheckout,
} from "../support/stripe-fixtures";
import { PREVIOUS_WEBHOOK_SECRET, WEBHOOK_SECRET } from "../support/test-env";

/**
 * POST /stripe/webhook as Stripe sees it: every case runs twice, once against
 * the route's action with a real Request (this process's database) and once
 * against the built server over HTTP (`node server.js`, its own database).
 * Bodies are Stripe's example objects, signed with the SDK's
 * generateTestHeaderString.
 */

type DB = Db;
type Send = { method?: string; body?: BodyInit | null; headers?: Record<string, string> };

type Transport = {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  db(): DB;
  send(init: Send): Promise<Response>;
  /** How many times the fulfill hook ran for a checkout (and committed). */
  fulfillments(checkoutId: string): Promise<number>;
  /** Lines the app logged since the transport started. */
  logs(): Promise<string[]>;
  /** The database file, for a second connection. */
  file(): string;
  beforeEach?(): void;
};

function actionTransport(): Transport {
  const fulfilled = new Map<string, number>();
  const lines: string[] = [];
  let unhook = () => {};
  return {
    name: "the action",
    async start() {
      unhook = onFulfill((_tx, checkout) => void fulfilled.set(checkout.id, (fulfilled.get(checkout.id) ?? 0) + 1));
    },
    async stop() {
      unhook();
    },
    db: () => appDb,
    file: () => process.env.DATABASE_PATH!,
    async send({ method = "POST", body = null, headers = {} }) {
      const request = new Request(`${ORIGIN}/stripe/webhook`, { method, body, headers, duplex: "half" } as RequestInit);
      const args = { request, params: {}, context: {} };
      return settle(() => (method === "GET" || method === "HEAD" ? loader() : action(args)));
    },
    fulfillments: async (id) => fulfilled.get(id) ?? 0,
    // console.error is already a spy (tests/support/setup.ts): read its calls.
    logs: async () => [...lines, ...vi.mocked(console.error).mock.calls.map((args) => args.map(String).join(" "))],
    beforeEach() {
      // Renewed per test: vitest restores mocks before each one.
      for (const level of ["log", "info", "warn"] as const) {
        vi.spyOn(console, level).mockImplementation(
          (...args: unknown[]) => void lines.push(args.map(String).join(" ")),
        );
      }
    },
  };
}

function builtServerTransport(): Transport {
  let server: Proc & { databasePath: string };
  let serverDb: Awaited<ReturnType<typeof openServerDb>>;
  const settled = async () => {
    // The server writes its log line before it answers; one more round trip
    // makes sure this process has read it from the pipe.
    await (await fetch(`${server.url}/healthz`)).arrayBuffer();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    name: "the built server",
    async start() {
      server = await startBuiltServer({
        stripeApiBase: emulatorControl().url,
        env: { DATABASE_BUSY_TIMEOUT_MS: "300" },
      });
      serverDb = await openServerDb(server);
    },
    async stop() {
      await serverDb?.close();
      await server?.stop();
    },
    db: () => serverDb.db,
    file: () => server.databasePath,
    async send({ method = "POST", body = null, headers = {} }) {
      return fetch(`${server.url}/stripe/webhook`, { method, body, headers, duplex: "half" } as RequestInit);
    },
    async fulfillments(id) {
      await settled();
      return server.output.filter((line) => line.includes(`fulfilled checkout_session=${id} `)).length;
    },
    async logs() {
      await settled();
      // Production logs are JSON lines (app/lib/logger.server.ts): their messages are what the app said.
      return server.output.map((line) => (line.startsWith("{") ? String(JSON.parse(line).msg) : line));
    },
  };
}

const snapshot = async (db: DB) => ({
  events: await db.select().from(schema.stripeEvents),
  checkouts: await db.select().from(schema.checkoutSessions),
  shoppers: await db.select().from(schema.shoppers),
});

describe.each([actionTransport(), builtServerTransport()])("POST /stripe/webhook through $name", (t) => {
  beforeAll(async () => t.start());
  afterAll(async () => t.stop());
  beforeEach(async () => t.beforeEach?.());

  const row = async (id: string) =>
    (await t.db().select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id)))[0]!;
  const eventCount = async (id: string) =>
    Number((await t.db().select({ n: count() }).from(schema.stripeEvents).where(eq(schema.stripeEvents.id, id)))[0]!.n);

  const post = (payload: string, header: string | null, headers: Record<string, string> = {}) =>
    t.send({
      body: payload,
      headers: {
        "Content-Type": "application/json",
        ...(header === null ? {} : { "Stripe-Signature": header }),
        ...headers,
      },
    });

  async function deliver(event: object, options: Parameters<typeof signed>[1] = {}) {
    const { payload, header } = signed(event, options);
    const response = await post(payload, header);
    return { response, status: response.status, body: await response.text() };
  }

  /** Delivers an event and expects Stripe's 200, as a first delivery. */
  async function accepted(event: object) {
    const { status, body } = await deliver(event);
    expect(status, body).toBe(200);
    expect(JSON.parse(body)).toEqual({ received: true });
  }

  describe("methods and sizes", () => {
    it.each(["GET", "PUT", "DELETE", "PATCH"])("%s: 405 with Allow: POST, nothing stored", async (method) => {
      const before = await snapshot(t.db());
      const response = await t.send({ method });
      expect(response.status).toBe(405);
      expect(response.headers.get("Allow")).toBe("POST");
      expect(await response.text()).toMatch(/POST/);
      expect(await snapshot(t.db())).toEqual(before);
    });

    it("a signed event just under 1 MiB is taken", async () => {
      const checkout = await storeCheckout(t.db());
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
      const size = JSON.stringify(event, null, 2).length;
      const padded = { ...event, padding: "x".repeat(1024 * 1024 - size - 100) };
      const { payload, header } = signed(padded);
      expect(Buffer.byteLength(payload)).toBeLessThan(1024 * 1024);
      expect((await post(payload, header)).status).toBe(200);
      expect((await row(checkout.id)).paymentStatus).toBe("paid");
    });

    it("a declared Content-Length over 1 MiB: 413 before reading, nothing stored", async () => {
      const before = await snapshot(t.db());
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(await storeCheckout(t.db()), "paid"));
      const { payload, header } = signed({ ...event, padding: "x".repeat(1024 * 1024) });
      const response = await post(payload, header, { "Content-Length": String(Buffer.byteLength(payload)) });
      expect(response.status).toBe(413);
      await response.arrayBuffer();
      expect(await eventCount(event.id)).toBe(0);
      expect((await snapshot(t.db())).events).toEqual(before.events);
    });

    it("a chunked body that passes 1 MiB: 413, reading stops, nothing stored", async () => {
      const before = (await snapshot(t.db())).events;
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(await storeCheckout(t.db()), "paid"));
      const { payload, header } = signed({ ...event, padding: "x".repeat(2 * 1024 * 1024) });
      const bytes = new TextEncoder().encode(payload);
      let offset = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(bytes.slice(offset, (offset += 64 * 1024)));
        },
      });
      const response = await t.send({
        body,
        headers: { "Content-Type": "application/json", "Stripe-Signature": header },
      });
      expect(response.status).toBe(413);
      expect(await response.text()).toMatch(/larger than 1048576 bytes/);
      expect((await snapshot(t.db())).events).toEqual(before);
    });
  });

  describe("bad signatures and bodies: 400 and no row anywhere", () => {
    const fresh = async () => {
      const checkout = await storeCheckout(t.db());
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
      return { checkout, event, payload: JSON.stringify(event, null, 2) };
    };
    const hmac = (body: string, ts: number | string, secret = WEBHOOK_SECRET) =>
      createHmac("sha256", secret).update(`${ts}.${body}`).digest("hex");

    const cases: [string, (payload: string) => { body: string; header: string | null }, RegExp][] = [
      ["a missing Stripe-Signature header", (p) => ({ body: p, header: null }), /Missing Stripe-Signature/],
      ["t missing", (p) => ({ body: p, header: `v1=${hmac(p, nowSeconds())}` }), /t=/],
      ["t not a number", (p) => ({ body: p, header: `t=soon,v1=${hmac(p, "soon")}` }), /not a number/],
      ["only v0", (p) => ({ body: p, header: sign(p, { scheme: "v0" }) }), /no v1/],
      [
        "a wrong secret",
        (p) => ({ body: p, header: sign(p, { secret: "whsec_not_this_endpoints" }) }),
        /No signature matches/,
      ],
      [
        "the body changed by one byte after signing",
        (p) => ({ body: p.replace('"livemode": false', '"livemode": fals3'), header: sign(p) }),
        /No signature matches/,
      ],
      [
        "the body re-serialised",
        (p) => ({ body: JSON.stringify(JSON.parse(p)), header: sign(p) }),
        /No signature matches/,
      ],
      [
        "another event's signature",
        (p) => {
          const other = JSON.stringify({ ...JSON.parse(p), id: "evt_test_other000000" }, null, 2);
          return { body: p, header: sign(other) };
        },
        /No signature matches/,
      ],
      ["a timestamp 301 s old", (p) => ({ body: p, header: sign(p, { timestamp: nowSeconds() - 301 }) }), /too old/],
      [
        "a timestamp 10 minutes in the future",
        (p) => ({ body: p, header: sign(p, { timestamp: nowSeconds() + 600 }) }),
        /future/,
      ],
      [
        "a signed body that is not JSON",
        () => ({ body: "event=checkout.session.completed", header: sign("event=checkout.session.completed") }),
        /not JSON/,
      ],
      ["a signed JSON array", () => ({ body: "[]", header: sign("[]") }), /not a Stripe event/],
      [
        "a signed object that is not an event",
        (p) => {
          const body = JSON.stringify(JSON.parse(p).data.object);
          return { body, header: sign(body) };
        },
        /not a Stripe event/,
      ],
      [
        "a signed event without data.object",
        (p) => {
          const body = JSON.stringify({ ...JSON.parse(p), data: null });
          return { body, header: sign(body) };
        },
        /data.object/,
      ],
    ];

    it.each(cases)("%s", async (_name, make, message) => {
      const { checkout, payload } = await fresh();
      const before = await snapshot(t.db());
      const { body, header } = make(payload);
      const response = await post(body, header);
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(message);
      expect(await snapshot(t.db())).toEqual(before);
      expect(await row(checkout.id)).toMatchObject({ status: "open", paymentStatus: "unpaid", fulfilledAt: null });
      expect(await t.fulfillments(checkout.id)).toBe(0);
    });

    it("an empty body", async () => {
      const before = await snapshot(t.db());
      const response = await post("", sign("x"));
      expect(response.status).toBe(400);
      expect(await snapshot(t.db())).toEqual(before);
    });
  });

  describe("good signatures", () => {
    const cases: [string, (payload: string) => string][] = [
      ["the current secret", (p) => sign(p)],
      ["the previous secret, during a rotation", (p) => sign(p, { secret: PREVIOUS_WEBHOOK_SECRET })],
      [
        "a second valid v1 among bad ones",
        (p) => {
          const ts = nowSeconds();
          const good = createHmac("sha256", WEBHOOK_SECRET).update(`${ts}.${p}`).digest("hex");
          return `t=${ts},v1=${"0".repeat(64)},v0=${good},v1=${good},v1=${"f".repeat(64)}`;
        },
      ],
      ["a timestamp 4 minutes old (a slow retry)", (p) => sign(p, { timestamp: nowSeconds() - 240 })],
      ["a timestamp a minute ahead (clock skew)", (p) => sign(p, { timestamp: nowSeconds() + 60 })],
    ];

    it.each(cases)("%s: 200 and the event applied", async (_name, header) => {
      const checkout = await storeCheckout(t.db());
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
      const payload = JSON.stringify(event, null, 2);
      const response = await post(payload, header(payload));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ received: true });
      expect(
        (await t.db().select().from(schema.stripeEvents).where(eq(schema.stripeEvents.id, event.id)))[0],
      ).toMatchObject({
        type: "checkout.session.completed",
        payload,
        source: "webhook",
      });
      expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
      expect(await t.fulfillments(checkout.id)).toBe(1);
    });
  });

  describe("every order the events can come in", () => {
    type Step =
      | "completed paid"
      | "completed unpaid"
      | "completed no payment"
      | "async succeeded"
      | "async failed"
      | "expired"
      | "redeliver";
    const scenarios: [string, Step[], { status: string; paymentStatus: string; fulfillments: number }][] = [
      ["completed, paid", ["completed paid"], { status: "complete", paymentStatus: "paid", fulfillments: 1 }],
      [
        "completed twice (one event delivered twice)",
        ["completed paid", "redeliver"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      [
        "completed twice (two events)",
        ["completed paid", "completed paid"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      [
        "completed, no payment needed",
        ["completed no payment"],
        { status: "complete", paymentStatus: "no_payment_required", fulfillments: 1 },
      ],
      [
        "completed unpaid (delayed method), nothing more yet",
        ["completed unpaid"],
        { status: "complete", paymentStatus: "unpaid", fulfillments: 0 },
      ],
      [
        "completed unpaid, then async success",
        ["completed unpaid", "async succeeded"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      [
        "async success before completed",
        ["async succeeded", "completed unpaid"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      [
        "async success twice, around completed",
        ["async succeeded", "redeliver", "completed unpaid", "redeliver"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      [
        "completed unpaid, then async failure",
        ["completed unpaid", "async failed"],
        { status: "complete", paymentStatus: "failed", fulfillments: 0 },
      ],
      [
        "async failure before completed",
        ["async failed", "completed unpaid"],
        { status: "complete", paymentStatus: "failed", fulfillments: 0 },
      ],
      [
        "async success, then a late async failure",
        ["completed unpaid", "async succeeded", "async failed"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      ["expired", ["expired"], { status: "expired", paymentStatus: "unpaid", fulfillments: 0 }],
      [
        "expired, delivered twice",
        ["expired", "redeliver"],
        { status: "expired", paymentStatus: "unpaid", fulfillments: 0 },
      ],
      [
        "expired after paid",
        ["completed paid", "expired"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
      [
        "expired after async success",
        ["async succeeded", "expired", "completed unpaid"],
        { status: "complete", paymentStatus: "paid", fulfillments: 1 },
      ],
    ];

    it.each(scenarios)("%s", async (_name, steps, expected) => {
      const checkout = await storeCheckout(
        t.db(),
        expected.paymentStatus === "no_payment_required" ? { amountTotal: 0 } : {},
      );
      const sent: string[] = [];
      let last: object | null = null;
      for (const step of steps) {
        if (step === "redeliver") {
          const { status, body } = await deliver(last!);
          expect(status).toBe(200);
          expect(JSON.parse(body)).toEqual({ received: true, duplicate: true });
          continue;
        }
        const [type, state] = {
          "completed paid": [CHECKOUT_EVENT.completed, "paid"],
          "completed unpaid": [CHECKOUT_EVENT.completed, "unpaid"],
          "completed no payment": [CHECKOUT_EVENT.completed, "no_payment_required"],
          "async succeeded": [CHECKOUT_EVENT.asyncSucceeded, "paid"],
          "async failed": [CHECKOUT_EVENT.asyncFailed, "unpaid"],
          expired: [CHECKOUT_EVENT.expired, "expired"],
        }[step] as [string, Parameters<typeof sessionFor>[1]];
        last = stripeEvent(type, sessionFor(checkout, state));
        sent.push((last as { id: string }).id);
        await accepted(last);
      }
      expect(await row(checkout.id)).toMatchObject({ status: expected.status, paymentStatus: expected.paymentStatus });
      expect((await row(checkout.id)).fulfilledAt === null).toBe(expected.fulfillments === 0);
      expect(await t.fulfillments(checkout.id)).toBe(expected.fulfillments);
      for (const id of sent) expect(await eventCount(id)).toBe(1);
    });

    it("a subscription: completed, updated, deleted, and a late update after the end", async () => {
      const checkout = await storeCheckout(t.db(), { slug: "coffee-club" });
      const session = sessionFor(checkout, "paid");
      const subscription = session.subscription as string;
      const ts = nowSeconds();
      await accepted(
        stripeEvent("customer.subscription.updated", subscriptionObject({ id: subscription, status: "active" }), {
          created: ts - 1,
        }),
      );
      await accepted(stripeEvent(CHECKOUT_EVENT.completed, session, { created: ts }));
      expect(await row(checkout.id)).toMatchObject({
        status: "complete",
        paymentStatus: "paid",
        stripeSubscriptionId: subscription,
        subscriptionStatus: "active",
      });
      await accepted(
        stripeEvent("customer.subscription.updated", subscriptionObject({ id: subscription, status: "past_due" }), {
          created: ts + 1,
        }),
      );
      expect((await row(checkout.id)).subscriptionStatus).toBe("past_due");
      await accepted(
        stripeEvent("customer.subscription.deleted", subscriptionObject({ id: subscription, status: "canceled" }), {
          created: ts + 2,
        }),
      );
      await accepted(
        stripeEvent("customer.subscription.updated", subscriptionObject({ id: subscription, status: "active" }), {
          created: ts + 3,
        }),
      );
      expect(await row(checkout.id)).toMatchObject({ subscriptionStatus: "canceled", paymentStatus: "paid" });
      expect(await t.fulfillments(checkout.id)).toBe(1);
    });

    it("other event types are recorded and answered 200", async () => {
      const checkout = await storeCheckout(t.db());
      const event = stripeEvent("payment_intent.succeeded", { id: "pi_123", object: "payment_intent" });
      await accepted(event);
      expect(await eventCount(event.id)).toBe(1);
      expect(await row(checkout.id)).toMatchObject({ status: "open", paymentStatus: "unpaid" });
    });
  });

  describe("what the shop did not ask for", () => {
    it("a completed session the shop did not create: recorded, nothing fulfilled, a warning with its ids", async () => {
      const stranger = sessionFor(await storeCheckout(t.db()), "paid", {
        id: "cs_test_notours0000000001",
        payment_link: "plink_1NotOurs",
      });
      const before = (await snapshot(t.db())).checkouts;
      const event = stripeEvent(CHECKOUT_EVENT.completed, stranger);
      await accepted(event);
      expect(await eventCount(event.id)).toBe(1);
      expect((await snapshot(t.db())).checkouts).toEqual(before);
      expect(await t.logs()).toContainEqual(
        expect.stringMatching(
          /not created by this shop.*session=cs_test_notours0000000001 .*payment_link=plink_1NotOurs/,
        ),
      );
    });

    it.each([
      ["subtotal", { amount_subtotal: 100 }, "amount_mismatch"],
      ["currency", { currency: "eur" }, "currency_mismatch"],
      ["livemode", { livemode: true }, "livemode_mismatch"],
    ] as const)(
      "a completed session whose %s differs: recorded, flagged, not fulfilled, a warning",
      async (_what, overrides, flag) => {
        const checkout = await storeCheckout(t.db());
        await accepted(stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid", overrides)));
        expect(await row(checkout.id)).toMatchObject({
          status: "complete",
          paymentStatus: "paid",
          flag,
          fulfilledAt: null,
        });
        expect(await t.fulfillments(checkout.id)).toBe(0);
        expect(await t.logs()).toContainEqual(
          expect.stringContaining(`not fulfilled: ${flag} session=${checkout.id} shopper=${checkout.shopperId}`),
        );
      },
    );

    it("stores the shopper's Stripe customer on the first completion", async () => {
      const checkout: StoredCheckout = await storeCheckout(t.db());
      const session = sessionFor(checkout, "paid");
      await accepted(stripeEvent(CHECKOUT_EVENT.completed, session));
      const shopper = (
        await t.db().select().from(schema.shoppers).where(eq(schema.shoppers.id, checkout.shopperId))
      )[0]!;
      expect(shopper.stripeCustomerId).toBe(session.customer);
      expect(await row(checkout.id)).toMatchObject({
        stripeCustomerId: session.customer,
        customerEmail: "shopper@example.com",
      });
    });
  });

  describe("concurrency and the database", () => {
    it("50 concurrent deliveries of one event: all 2xx, one event row, one fulfillment", async () => {
      const checkout = await storeCheckout(t.db());
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
      const { payload, header } = signed(event);
      const responses = await Promise.all(Array.from({ length: 50 }, () => post(payload, header)));
      const bodies = await Promise.all(
        responses.map((r) => r.json() as Promise<{ received: boolean; duplicate?: boolean }>),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
      expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
      expect(bodies.filter((b) => b.duplicate)).toHaveLength(49);
      expect(await eventCount(event.id)).toBe(1);
      expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
      expect(await t.fulfillments(checkout.id)).toBe(1);
    });

    it("50 concurrent deliveries of the events of one delayed payment, shuffled: one fulfillment", async () => {
      const checkout = await storeCheckout(t.db());
      const events = [
        stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "unpaid")),
        stripeEvent(CHECKOUT_EVENT.asyncSucceeded, sessionFor(checkout, "paid")),
      ].map((event) => signed(event));
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => post(events[(i * 7) % 2]!.payload, events[(i * 7) % 2]!.header)),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
      expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
      expect(await t.fulfillments(checkout.id)).toBe(1);
    });

    it.runIf(testDialect === "sqlite")(
      "[SQLite only: its file lock] a second connection holding the write lock: 503 within the busy timeout, nothing stored; the redelivery succeeds",
      async () => {
        const checkout = await storeCheckout(t.db());
        const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(checkout, "paid"));
        const { payload, header } = signed(event);
        const locker = new Database(t.file());
        try {
          locker.exec("BEGIN IMMEDIATE");
          expectConsoleError(
            new RegExp(`webhook not stored id=${event.id} type=checkout.session.completed error=SQLITE_BUSY`),
          );
          const response = await post(payload, header);
          expect(response.status).toBe(503);
          expect(await response.text()).not.toMatch(/SQLITE|sqlite|whsec_|evt_/);
        } finally {
          locker.exec("ROLLBACK");
          locker.close();
        }
        expect(await eventCount(event.id)).toBe(0);
        expect(await row(checkout.id)).toMatchObject({ status: "open", paymentStatus: "unpaid", fulfilledAt: null });

        await accepted(event);
        expect(await row(checkout.id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
        expect(await t.fulfillments(checkout.id)).toBe(1);
        expect(await t.logs()).toContainEqual(
          expect.stringMatching(/webhook not stored id=evt_\S+ type=checkout.session.completed error=SQLITE_BUSY$/),
        );
      },
    );
  });

  it("logs the event's id and type, never its payload, the secrets or the signature", async () => {
    const checkout = await storeCheckout(t.db());
    const session = sessionFor(checkout, "paid", {
      customer_details: { email: "private.person@example.com" } as never,
    });
    const event = stripeEvent(CHECKOUT_EVENT.completed, session);
    const { payload, header } = signed(event);
    expect((await post(payload, header)).status).toBe(200);
    expect((await post(payload, sign(payload, { secret: "whsec_wrong" }))).status).toBe(400);
    const logs = (await t.logs()).join("\n");
    expect(logs).toContain(`webhook received id=${event.id} type=checkout.session.completed`);
    expect(logs).not.toContain("private.person@example.com");
    expect(logs).not.toContain(header.split("v1=")[1]);
    expect(logs).not.toMatch(/whsec_|"object": "event"|t=\d{10},v1=/);
  });
});
