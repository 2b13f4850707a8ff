import { rmSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  allowConnections,
  createTestDatabase,
  postgresUnavailable,
  type TestDatabase,
  terminateConnections,
  testPool,
} from "../support/pg-database";
import { type Proc, snapshotBuild, startBuiltServer } from "../support/server";
import { paidCheckoutEventPayload, sign } from "../support/stripe-fixtures";

/**
 * The database goes away under webhook load: the server ends every
 * connection of the app's database (pg_terminate_backend) and refuses new
 * ones for a while (ALLOW_CONNECTIONS false), as a restart or a failover
 * would. The app answers 503 with Retry-After, /healthz says the database is
 * down, and once it is back everything answers 2xx again, without a
 * restart, and nothing acknowledged is lost.
 */

const unavailable = await postgresUnavailable();
const EVENTS = 400;
const SHOPPER = "goneshopper00000000000";
const title = unavailable
  ? `the PostgreSQL database goes away: DID NOT RUN, ${unavailable}`
  : "the PostgreSQL database goes away under webhook load";

const sessionId = (i: number) => `cs_test_gone${String(i).padStart(6, "0")}`;
function event(i: number) {
  const id = `evt_gone${String(i).padStart(6, "0")}`;
  const payload = paidCheckoutEventPayload({
    eventId: id,
    sessionId: sessionId(i),
    shopper: SHOPPER,
    email: "gone@example.com",
    paymentIntent: `pi_gone${i}`,
  });
  return { id, payload };
}

async function deliver(url: string, e: { payload: string }) {
  const response = await fetch(`${url}/stripe/webhook`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Stripe-Signature": sign(e.payload),
    },
    body: e.payload,
  });
  const body = await response.text();
  return { status: response.status, retryAfter: response.headers.get("Retry-After"), body };
}

describe.skipIf(unavailable !== null)(title, () => {
  let database: TestDatabase;
  let appDir: string;
  let server: Proc;
  let pool: ReturnType<typeof testPool>;

  beforeAll(async () => {
    database = await createTestDatabase("shop_gone");
    pool = testPool(database.url);
    appDir = await snapshotBuild();
    server = await startBuiltServer({
      stripeApiBase: process.env.STRIPE_API_BASE!,
      appDir,
      env: { DATABASE_URL: database.url, DATABASE_POOL_MAX: "5" },
      keepLines: 5_000,
    });
    const product = (await pool.query("SELECT id FROM products WHERE slug = 'ceramic-pour-over'")).rows[0].id;
    await pool.query("INSERT INTO shoppers (id) VALUES ($1)", [SHOPPER]);
    await pool.query(
      `INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, amount_total, currency, form_token)
       SELECT 'cs_test_gone' || lpad(n::text, 6, '0'), $1, $2, 1, 'payment', 3200, 'usd', 'gone-' || n
       FROM generate_series(0, $3 - 1) AS n`,
      [SHOPPER, product, EVENTS],
    );
  }, 120_000);

  afterAll(async () => {
    await server?.stop("SIGKILL");
    await pool?.end();
    await database?.drop();
    if (appDir) rmSync(appDir, { recursive: true, force: true });
  });

  it("answers 503 with Retry-After while it is gone, 2xx again without a restart, and loses nothing it acknowledged", async () => {
    const events = Array.from({ length: EVENTS }, (_, i) => event(i));
    const acknowledged = new Set<string>();
    const answers: { status: number; retryAfter: string | null; at: number }[] = [];
    const health: { status: number; body: string; down: boolean }[] = [];
    let down = false;
    let next = 0;
    const retries: typeof events = [];

    const worker = async () => {
      for (;;) {
        const e = next < events.length ? events[next++] : retries.shift();
        if (!e) {
          if (next >= events.length && retries.length === 0) return;
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const answer = await deliver(server.url, e).catch((error: unknown) => {
          throw new Error(`no answer (${String(error)}); the server printed:\n${server.output.slice(-40).join("\n")}`);
        });
        answers.push({ status: answer.status, retryAfter: answer.retryAfter, at: Date.now() });
        if (answer.status >= 200 && answer.status < 300) acknowledged.add(e.id);
        else {
          retries.push(e);
          // Stripe backs off; so does this sender.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };

    const outage = (async () => {
      while (acknowledged.size < EVENTS / 4) await new Promise((r) => setTimeout(r, 10));
      down = true;
      await allowConnections(database.name, false);
      const ended = await terminateConnections(database.name);
      expect(ended).toBeGreaterThan(0);
      // Long enough for the webhook and /healthz to notice; then it is back.
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        const response = await fetch(`${server.url}/healthz`);
        health.push({ status: response.status, body: await response.text(), down: true });
        await new Promise((r) => setTimeout(r, 100));
      }
      await allowConnections(database.name, true);
      down = false;
    })();

    await Promise.all([...Array.from({ length: 8 }, worker), outage]);
    const afterwards = await fetch(`${server.url}/healthz`);
    health.push({ status: afterwards.status, body: await afterwards.text(), down });

    // Only 2xx and 503-with-Retry-After; some 503s (the outage was seen), then 2xx again.
    expect(
      answers.filter((a) => a.status >= 300 && !(a.status === 503 && a.retryAfter)).length,
      [...new Set(server.output.filter((l) => /not stored|error/i.test(l)).map((l) => l.replace(/id=\S+/, "")))].join(
        "\n",
      ),
    ).toBe(0);
    const first503 = answers.findIndex((a) => a.status === 503);
    expect(first503).toBeGreaterThanOrEqual(0);
    expect(answers.slice(first503).some((a) => a.status === 200)).toBe(true);
    expect(acknowledged.size).toBe(EVENTS);

    // /healthz: 503 naming the database while it was gone, 200 after, the same process throughout.
    const whileDown = health.filter((h) => h.down);
    expect(whileDown.some((h) => h.status === 503)).toBe(true);
    for (const h of whileDown.filter((x) => x.status === 503)) {
      expect(JSON.parse(h.body)).toMatchObject({ database: "unavailable", dialect: "postgres" });
    }
    expect(afterwards.status).toBe(200);
    expect(JSON.parse(health.at(-1)!.body)).toMatchObject({ database: "ok", dialect: "postgres" });
    expect(server.child.exitCode).toBeNull();

    // Nothing acknowledged lost: every event stored, every order paid and fulfilled.
    const counts = (
      await pool.query(
        "SELECT (SELECT count(*)::int FROM stripe_events) AS events, (SELECT count(*)::int FROM checkout_sessions WHERE payment_status = 'paid' AND fulfilled_at IS NOT NULL) AS fulfilled",
      )
    ).rows[0];
    expect(counts).toEqual({ events: EVENTS, fulfilled: EVENTS });
  }, 120_000);
});
