import Database from "better-sqlite3";

import { serverQuery, testDialect } from "../support/db";
import { afterAll, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { startBuiltServer, tempDatabase, type Proc } from "../support/server";
import { paidCheckoutEventPayload, sign } from "../support/stripe-fixtures";

/**
 * Crash safety: SIGKILL the server while webhooks pour in. Every event it
 * answered 2xx for must be on disk after a restart, the file must pass
 * integrity_check, and redelivering the unanswered ones must succeed.
 */

const emu = emulatorControl();
const EVENTS = 300;
const SHOPPER = "CRASHTESTSHOPPER000000";
let server: (Proc & { databasePath: string; databaseUrl?: string }) | undefined;
afterAll(() => server?.stop("SIGKILL"));

async function seed(target: { databasePath: string; databaseUrl?: string }) {
  await serverQuery(target, "INSERT INTO shoppers (id) VALUES (?)", [SHOPPER]);
  const [product] = await serverQuery<{ id: number }>(
    target,
    "SELECT id FROM products WHERE slug = 'ceramic-pour-over'",
  );
  const values = Array.from({ length: EVENTS }, (_, i) => [
    sessionId(i),
    SHOPPER,
    product!.id,
    `crash-token-${String(i).padStart(6, "0")}`,
  ]);
  await serverQuery(
    target,
    `INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, amount_total, currency, form_token) VALUES ${values.map(() => "(?, ?, ?, 1, 'payment', 3200, 'usd', ?)").join(", ")}`,
    values.flat(),
  );
}

const sessionId = (i: number) => `cs_test_crash${String(i).padStart(6, "0")}`;

function signedEvent(i: number) {
  const id = `evt_crash${String(i).padStart(6, "0")}`;
  const payload = paidCheckoutEventPayload({
    eventId: id,
    sessionId: sessionId(i),
    shopper: SHOPPER,
    email: "crash@example.com",
    paymentIntent: `pi_crash${i}`,
  });
  return { id, payload };
}

async function deliver(url: string, event: { payload: string }) {
  const signature = sign(event.payload);
  const response = await fetch(`${url}/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
    body: event.payload,
  });
  await response.arrayBuffer();
  return response.status;
}

describe("SIGKILL while webhooks are delivered", () => {
  it("loses no acknowledged event, keeps the file intact, and takes the redeliveries", async () => {
    const databasePath = tempDatabase();
    // A first start migrates and seeds the catalog; then the checkouts go in.
    server = await startBuiltServer({ stripeApiBase: emu.url, databasePath });
    await server.stop();
    // The same database on every restart: the file, or the PostgreSQL database the first start got.
    const target = { databasePath, databaseUrl: server.databaseUrl };
    const env: Record<string, string> = target.databaseUrl ? { DATABASE_URL: target.databaseUrl } : {};
    await seed(target);
    server = await startBuiltServer({ stripeApiBase: emu.url, databasePath, env });

    const events = Array.from({ length: EVENTS }, (_, i) => signedEvent(i));
    const acknowledged = new Set<string>();
    let next = 0;
    let killed = false;
    const running = server;
    const worker = async () => {
      while (next < events.length) {
        const event = events[next++]!;
        try {
          const status = await deliver(running.url, event);
          if (status >= 200 && status < 300) acknowledged.add(event.id);
        } catch {
          // The connection died with the server: not acknowledged.
        }
        if (!killed && acknowledged.size >= EVENTS / 3) {
          killed = true;
          running.child.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(killed).toBe(true);
    expect(acknowledged.size).toBeGreaterThan(0);
    expect(acknowledged.size).toBeLessThan(EVENTS);

    if (testDialect === "sqlite") {
      const db = new Database(databasePath);
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      db.close();
    }
    const stored = new Set(
      (await serverQuery<{ id: string }>(target, "SELECT id FROM stripe_events")).map((r) => r.id),
    );
    for (const id of acknowledged) expect(stored.has(id), `${id} was answered 2xx but is not stored`).toBe(true);

    // Stripe redelivers what was not acknowledged: all of it now succeeds.
    server = await startBuiltServer({ stripeApiBase: emu.url, databasePath, env });
    const unanswered = events.filter((e) => !acknowledged.has(e.id));
    for (const event of unanswered) expect(await deliver(server.url, event)).toBe(200);

    const [counts] = await serverQuery<{ events: number; fulfilled: number }>(
      target,
      "SELECT (SELECT count(*) FROM stripe_events) AS events, (SELECT count(*) FROM checkout_sessions WHERE fulfilled_at IS NOT NULL AND payment_status = 'paid') AS fulfilled",
    );
    expect(counts).toEqual({ events: EVENTS, fulfilled: EVENTS });
  });
});
