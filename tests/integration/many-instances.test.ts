import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";

import { createCookieSessionStorage } from "@remix-run/node";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createTestDatabase, postgresUnavailable, type TestDatabase, testPool } from "../support/pg-database";
import { root, spawnNode } from "../support/processes";
import { BUILT_SERVER_ENV, type Proc, snapshotBuild, startBuiltServer } from "../support/server";
import { SESSION_SECRET, WEBHOOK_SECRET } from "../support/test-env";

/**
 * Many instances, one database: three built servers on one PostgreSQL
 * database take every event of 1,000 checkouts, each delivered at least
 * twice and one in ten fifty times, shuffled, round-robin over the three,
 * while a fourth process runs `stripe:reconcile` in a loop and every
 * checkout's success page is fetched from a random instance. One instance
 * is SIGKILLed halfway; what it did not acknowledge is redelivered to the
 * others, as Stripe would. Then the guessing bound, counted across them.
 *
 * MANY_INSTANCES_CHECKOUTS scales the load down (for a slow CI machine only;
 * the test says so in its name).
 */

const unavailable = await postgresUnavailable();
const CHECKOUTS = Number(process.env.MANY_INSTANCES_CHECKOUTS ?? 1000);
const SHOPPERS = 50;
const CONCURRENCY = 24;
const scaled = CHECKOUTS === 1000 ? "" : ` (scaled down to ${CHECKOUTS} checkouts by MANY_INSTANCES_CHECKOUTS)`;
const title = unavailable
  ? `many instances on one PostgreSQL database: DID NOT RUN, ${unavailable}`
  : `three instances on one PostgreSQL database${scaled}`;

type Kind = "subscription" | "delayed_paid" | "delayed_failed" | "card" | "abandoned";
type Checkout = { id: string; kind: Kind; shopper: string; subscription: string | null; longer: boolean };
type Event = { id: string; type: string; checkout: string; payload: string };

const hex = (n: number) => randomBytes(n).toString("hex");
const shopperId = (i: number) => `manyshopper${String(i).padStart(11, "0")}`;
const run = hex(4);

/** Every 4 checkouts: two subscriptions (5 and 4 events), a delayed payment (2), a card or an abandoned one (1): 3 events a checkout. */
function kindOf(i: number): Kind {
  const slot = i % 4;
  if (slot <= 1) return "subscription";
  if (slot === 2) return Math.floor(i / 4) % 2 === 0 ? "delayed_paid" : "delayed_failed";
  return Math.floor(i / 4) % 2 === 0 ? "card" : "abandoned";
}

function session(c: Checkout, status: string, paymentStatus: string) {
  const complete = status === "complete";
  return {
    id: c.id,
    object: "checkout.session",
    mode: c.kind === "subscription" ? "subscription" : "payment",
    status,
    payment_status: paymentStatus,
    amount_subtotal: c.kind === "subscription" ? 1800 : 3200,
    amount_total: c.kind === "subscription" ? 1800 : 3200,
    currency: "usd",
    livemode: false,
    client_reference_id: c.shopper,
    customer: complete ? `cus_${c.id.slice(-12)}` : null,
    customer_details: complete ? { email: "many@example.com" } : null,
    payment_intent: complete && c.kind !== "subscription" ? `pi_${c.id.slice(-12)}` : null,
    subscription: complete ? c.subscription : null,
  };
}

const subscription = (c: Checkout, status: string) => ({
  id: c.subscription,
  object: "subscription",
  status,
  customer: `cus_${c.id.slice(-12)}`,
  livemode: false,
});

/** The events Stripe sends for one checkout, by how it ends (created seconds apart, in the order Stripe made them). */
function eventsOf(c: Checkout, t0: number): Event[] {
  const objects: [string, object][] =
    c.kind === "subscription"
      ? [
          ["checkout.session.completed", session(c, "complete", "paid")],
          ["customer.subscription.updated", subscription(c, "past_due")],
          ["customer.subscription.updated", subscription(c, "active")],
          ...(!c.longer
            ? []
            : ([["customer.subscription.updated", subscription(c, "past_due")]] as [string, object][])),
          ["customer.subscription.deleted", subscription(c, "canceled")],
        ]
      : c.kind === "delayed_paid"
        ? [
            ["checkout.session.completed", session(c, "complete", "unpaid")],
            ["checkout.session.async_payment_succeeded", session(c, "complete", "paid")],
          ]
        : c.kind === "delayed_failed"
          ? [
              ["checkout.session.completed", session(c, "complete", "unpaid")],
              ["checkout.session.async_payment_failed", session(c, "complete", "unpaid")],
            ]
          : c.kind === "card"
            ? [["checkout.session.completed", session(c, "complete", "paid")]]
            : [["checkout.session.expired", session(c, "expired", "unpaid")]];
  return objects.map(([type, object], n) => {
    const id = `evt_many${run}${hex(8)}`;
    const payload = JSON.stringify({
      id,
      object: "event",
      api_version: "2026-10-28.endive",
      created: t0 + n * 10,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      data: { object },
    });
    return { id, type, checkout: c.id, payload };
  });
}

/** What the stored order must say once all its events are in. */
function expected(c: Checkout) {
  switch (c.kind) {
    case "subscription":
      return { status: "complete", payment_status: "paid", subscription_status: "canceled", fulfilled: true };
    case "delayed_paid":
    case "card":
      return { status: "complete", payment_status: "paid", subscription_status: null, fulfilled: true };
    case "delayed_failed":
      return { status: "complete", payment_status: "failed", subscription_status: null, fulfilled: false };
    case "abandoned":
      return { status: "expired", payment_status: "unpaid", subscription_status: null, fulfilled: false };
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

async function deliver(url: string, event: Event) {
  const signature = Stripe.webhooks.generateTestHeaderString({ payload: event.payload, secret: WEBHOOK_SECRET });
  const response = await fetch(`${url}/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
    body: event.payload,
  });
  await response.arrayBuffer();
  return { status: response.status, retryAfter: response.headers.get("Retry-After") };
}

const cookieStorage = createCookieSessionStorage({
  cookie: {
    name: "__Host-shopper",
    secrets: [SESSION_SECRET],
    httpOnly: true,
    sameSite: "lax",
    secure: true,
    path: "/",
  },
});
async function cookieFor(shopper: string) {
  const session = await cookieStorage.getSession();
  session.set("shopperId", shopper);
  session.set("issuedAt", Date.now());
  return (await cookieStorage.commitSession(session)).split(";")[0]!;
}

const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

describe.skipIf(unavailable !== null)(title, () => {
  let database: TestDatabase;
  let appDir: string;
  const servers: Proc[] = [];
  let pool: ReturnType<typeof testPool>;
  let start: () => Promise<Proc>;

  beforeAll(async () => {
    database = await createTestDatabase("shop_many");
    pool = testPool(database.url);
    appDir = await snapshotBuild();
    const env = { DATABASE_URL: database.url, DATABASE_POOL_MAX: "5" };
    const stripeApiBase = process.env.STRIPE_API_BASE!;
    start = () => startBuiltServer({ stripeApiBase, appDir, env, keepLines: 20_000 });
    servers.push(...(await Promise.all([0, 1, 2].map(() => start()))));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    await pool?.end();
    await database?.drop();
    if (appDir) rmSync(appDir, { recursive: true, force: true });
  });

  it("ends every checkout in the state its events say, fulfilled once, with no 5xx but retried 503s, through a SIGKILL", async () => {
    // The checkouts, as the Buy action would have stored them.
    const product = async (slug: string) =>
      Number((await pool.query("SELECT id FROM products WHERE slug = $1", [slug])).rows[0].id);
    const [payment, plan] = [await product("ceramic-pour-over"), await product("coffee-club")];
    const shoppers = Array.from({ length: SHOPPERS }, (_, i) => shopperId(i));
    await pool.query("INSERT INTO shoppers (id) SELECT unnest($1::text[])", [shoppers]);
    const checkouts: Checkout[] = Array.from({ length: CHECKOUTS }, (_, i) => {
      const kind = kindOf(i);
      const id = `cs_test_many${run}${String(i).padStart(6, "0")}`;
      return {
        id,
        kind,
        shopper: shoppers[i % SHOPPERS]!,
        subscription: kind === "subscription" ? `sub_${run}${i}` : null,
        longer: i % 4 === 0,
      };
    });
    await pool.query(
      `INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, amount_total, currency, form_token)
       SELECT id, shopper, product, 1, mode, amount, 'usd', 'many-' || id
       FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[]) AS t(id, shopper, product, mode, amount)`,
      [
        checkouts.map((c) => c.id),
        checkouts.map((c) => c.shopper),
        checkouts.map((c) => (c.kind === "subscription" ? plan : payment)),
        checkouts.map((c) => (c.kind === "subscription" ? "subscription" : "payment")),
        checkouts.map((c) => (c.kind === "subscription" ? 1800 : 3200)),
      ],
    );

    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const events = checkouts.flatMap((c) => eventsOf(c, t0));
    // Each event twice, one in ten fifty times; all of it shuffled.
    const deliveries = shuffle(events.flatMap((e, i) => Array.from({ length: i % 10 === 0 ? 50 : 2 }, () => e)));
    console.info(
      `many instances: ${checkouts.length} checkouts, ${events.length} events, ${deliveries.length} deliveries`,
    );

    // The fourth process: reconcile, over and over, until the load is done.
    let loading = true;
    const reconcileExits: number[] = [];
    const reconcileLoop = (async () => {
      while (loading) {
        const proc = spawnNode("stripe:reconcile", ["--import", "tsx", path.join(root, "scripts/reconcile.ts")], {
          env: {
            ...BUILT_SERVER_ENV,
            APP_ORIGIN: servers[0]!.url,
            DATABASE_URL: database.url,
            DATABASE_POOL_MAX: "2",
            STRIPE_API_BASE: process.env.STRIPE_API_BASE!,
          },
          keepLines: 200,
        });
        const code = await new Promise<number>((resolve) => proc.child.once("exit", (c) => resolve(c ?? -1)));
        reconcileExits.push(code);
        if (code !== 0 && code !== 3) throw new Error(`reconcile exited with ${code}:\n${proc.output.join("\n")}`);
        // A schedule, not a busy loop: each run starts a TypeScript process, a core's worth.
        await new Promise((r) => setTimeout(r, 2_000));
      }
    })();

    // The success pages, each from a random instance, while events pour in.
    const pages: { checkout: string; status: number }[] = [];
    const successLoop = (async () => {
      for (const c of shuffle([...checkouts])) {
        const cookie = await cookieFor(c.shopper);
        for (;;) {
          const live = servers.filter(alive);
          const server = live[Math.floor(Math.random() * live.length)]!;
          try {
            const response = await fetch(`${server.url}/checkout/success?session_id=${c.id}`, {
              headers: { Cookie: cookie },
            });
            await response.arrayBuffer();
            pages.push({ checkout: c.id, status: response.status });
            break;
          } catch {
            // That instance was just killed: the proxy sends the shopper to another.
          }
        }
      }
    })();

    // Round-robin over the three; what fails is redelivered later, to the live ones.
    const acknowledged = new Set<string>();
    const answers: { event: string; status: number; retryAfter: string | null }[] = [];
    const retries: Event[] = [];
    let next = 0;
    let killed: Proc | undefined;
    const ackedWhenKilled = new Set<string>();
    const firstAck: string[] = [];
    const worker = async () => {
      for (;;) {
        const event = next < deliveries.length ? deliveries[next] : retries.shift();
        const index = next < deliveries.length ? next++ : -1;
        if (!event) {
          if (next >= deliveries.length && retries.length === 0) return;
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        if (!killed && index >= deliveries.length / 2) {
          killed = servers[2]!;
          killed.child.kill("SIGKILL");
          for (const id of acknowledged) ackedWhenKilled.add(id);
        }
        const target = index >= 0 ? servers[index % 3]! : servers.filter(alive)[retries.length % 2]!;
        try {
          const answer = await deliver(target.url, event);
          answers.push({ event: event.id, ...answer });
          if (answer.status >= 200 && answer.status < 300) {
            if (!acknowledged.has(event.id)) firstAck.push(event.id);
            acknowledged.add(event.id);
          } else retries.push(event);
        } catch {
          // No answer (the killed instance): Stripe retries.
          retries.push(event);
        }
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.info(
      `many instances: ${answers.length} answers in ${Date.now() - started} ms, ${answers.filter((a) => a.status === 503).length} of them 503, ${reconcileExits.length} reconcile runs`,
    );
    await successLoop;
    loading = false;
    await reconcileLoop;

    expect(killed, "one instance was killed halfway").toBeDefined();
    // Every answer a 2xx, or a 503 with Retry-After for an event a redelivery then took.
    const bad = answers.filter((a) => a.status >= 300 && !(a.status === 503 && a.retryAfter));
    expect(bad, "answers other than 2xx and 503 with Retry-After").toEqual([]);
    expect(acknowledged.size).toBe(events.length);
    expect(pages.filter((p) => p.status !== 200)).toEqual([]);
    expect(pages).toHaveLength(checkouts.length);
    expect(reconcileExits.length).toBeGreaterThan(0);

    // What the killed instance (and the others) acknowledged before the kill is stored.
    const stored = new Set((await pool.query("SELECT id FROM stripe_events")).rows.map((r: { id: string }) => r.id));
    for (const id of ackedWhenKilled) expect(stored.has(id), `${id} was acknowledged but is not stored`).toBe(true);
    expect(stored.size).toBe(events.length);

    // The shuffle did put news before the news it follows, on some checkouts.
    const position = new Map(firstAck.map((id, i) => [id, i]));
    const early = checkouts.filter((c) => {
      const [first, second] = events.filter((e) => e.checkout === c.id);
      return second && position.get(second.id)! < position.get(first!.id)!;
    });
    expect(early.length).toBeGreaterThan(0);

    // Every checkout in the state its events say; fulfilled exactly when it was paid.
    const rows = new Map(
      (
        await pool.query(
          "SELECT id, status, payment_status, subscription_status, fulfilled_at FROM checkout_sessions WHERE id LIKE $1",
          [`cs_test_many${run}%`],
        )
      ).rows.map((r) => [r.id as string, r]),
    );
    const wrong = checkouts
      .map((c) => {
        const row = rows.get(c.id);
        const got = {
          status: row?.status,
          payment_status: row?.payment_status,
          subscription_status: row?.subscription_status ?? null,
          fulfilled: row?.fulfilled_at != null,
        };
        return { id: c.id, kind: c.kind, got, want: expected(c) };
      })
      .filter((r) => JSON.stringify(r.got) !== JSON.stringify(r.want));
    expect(wrong).toEqual([]);

    // Fulfilled once: one "fulfilled" line per paid checkout over the instances that lived
    // (the killed one may have logged inside a transaction the kill rolled back).
    const fulfilledLines = new Map<string, number>();
    for (const server of servers.filter((s) => s !== killed)) {
      for (const line of server.output) {
        const id = /fulfilled checkout_session=(cs_\w+)/.exec(line)?.[1];
        if (id) fulfilledLines.set(id, (fulfilledLines.get(id) ?? 0) + 1);
      }
    }
    expect([...fulfilledLines.values()].filter((n) => n > 1)).toEqual([]);
  }, 420_000);

  it("counts failed success-page look-ups across the instances: the eleventh gets 429 wherever it lands", async () => {
    // The killed instance back: three again.
    if (!alive(servers[2]!)) servers[2] = await start();
    const live = servers;
    const guess = () => `cs_test_guess${hex(12)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await fetch(`${live[i % live.length]!.url}/checkout/success?session_id=${guess()}`);
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    expect(statuses).toEqual(Array(10).fill(404));
    for (const server of live) {
      const response = await fetch(`${server.url}/checkout/success?session_id=${guess()}`);
      expect(response.status).toBe(429);
      expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
      expect(await response.text()).toContain("Nothing was looked up.");
    }
  });
});
