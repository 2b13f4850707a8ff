import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loader as metricsLoader } from "~/routes/metrics";
import { emulatorControl } from "../support/emulator";
import { getRequest, settle } from "../support/http";
import { startBuiltServer, type Proc } from "../support/server";
import { eq } from "drizzle-orm";

import { openServerDb, schema } from "../support/db";
import { CHECKOUT_EVENT, sessionFor, sign, stripeEvent, storeCheckout } from "../support/stripe-fixtures";

/** /metrics on the built server: the token, then the numbers after a known sequence of requests. */

const emu = emulatorControl();
const TOKEN = "metrics-token-for-tests-0123456789";
let server: Proc & { databasePath: string };

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url, env: { METRICS_TOKEN: TOKEN } });
});
afterAll(() => server?.stop());

const scrape = (authorization?: string) =>
  fetch(`${server.url}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });

function postWebhook(payload: string, signature: string) {
  return fetch(`${server.url}/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
    body: payload,
  });
}

/** The value of one sample line (name with its labels exactly as prom-client prints them). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  it("answers 404 when METRICS_TOKEN is unset (the test environment has none)", async () => {
    const response = await settle(() =>
      metricsLoader({
        request: getRequest("/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } }),
        params: {},
        context: {},
      }),
    );
    expect(response.status).toBe(404);
  });

  it("answers 401 without the right bearer token", async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape(`Bearer ${TOKEN}x`)).status).toBe(401);
    expect((await scrape(TOKEN)).status).toBe(401);
    expect((await scrape("Bearer wrong")).headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
  });

  it("counts webhook deliveries, handling time and requests by route after a known sequence", async () => {
    expect((await fetch(`${server.url}/`)).status).toBe(200);
    expect((await fetch(`${server.url}/products/no-such-thing`)).status).toBe(404);

    // Two orders in the server's database: one paid through the webhook, one left open and flagged.
    const serverDb = await openServerDb(server);
    const paid = await storeCheckout(serverDb.db);
    const flagged = await storeCheckout(serverDb.db);
    await serverDb.db
      .update(schema.checkoutSessions)
      .set({ flag: "amount differs" })
      .where(eq(schema.checkoutSessions.id, flagged.id));
    // Two deliveries that failed (answered 5xx, kept in webhook_failures): one a later delivery stored, one not.
    const completedEvent = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(paid, "paid"));
    await serverDb.db.insert(schema.webhookFailures).values([
      { eventId: completedEvent.id, type: completedEvent.type, error: "SQLITE_BUSY", count: 1, firstAt: 1, lastAt: 1 },
      { eventId: "evt_test_still_failing", type: completedEvent.type, error: "Error", count: 2, firstAt: 1, lastAt: 2 },
    ]);
    await serverDb.close();
    const completed = JSON.stringify(completedEvent, null, 2);
    const other = JSON.stringify(stripeEvent("customer.created", { id: "cus_test_1", object: "customer" }), null, 2);
    expect((await postWebhook(other, sign(other))).status).toBe(200);
    expect((await postWebhook(other, sign(other))).status).toBe(200); // a duplicate
    expect((await postWebhook(other, "t=1,v1=00")).status).toBe(400);
    expect((await postWebhook(completed, sign(completed))).status).toBe(200);

    const response = await scrape(`Bearer ${TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(sample(text, 'shop_webhook_deliveries_total{type="other",outcome="stored"}')).toBe(1);
    expect(sample(text, 'shop_webhook_deliveries_total{type="other",outcome="duplicate"}')).toBe(1);
    expect(sample(text, 'shop_webhook_deliveries_total{type="other",outcome="rejected"}')).toBe(1);
    // A handled type keeps its name; it is one of a closed set.
    expect(sample(text, 'shop_webhook_deliveries_total{type="checkout.session.completed",outcome="stored"}')).toBe(1);
    expect(text).not.toContain("customer.created");
    expect(sample(text, 'shop_webhook_handling_seconds_count{outcome="stored"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'shop_http_requests_total{route="routes/_index",method="GET",status="200"}')).toBe(1);
    expect(sample(text, 'shop_http_requests_total{route="routes/products.$slug",method="GET",status="404"}')).toBe(1);
    expect(sample(text, 'shop_http_requests_total{route="routes/metrics",method="GET",status="401"}')).toBe(4);
    expect(text).not.toContain("no-such-thing");
    // Queried from the database at scrape time.
    expect(sample(text, 'shop_orders{status="complete",payment_status="paid"}')).toBe(1);
    expect(sample(text, 'shop_orders{status="open",payment_status="unpaid"}')).toBe(1);
    expect(sample(text, "shop_orders_fulfilled")).toBe(1);
    expect(sample(text, "shop_orders_flagged")).toBe(1);
    expect(sample(text, "shop_reconcile_checkpoint_age_seconds")).toBe(-1);
    expect(sample(text, "shop_webhook_failures_unresolved")).toBe(1);
  });
});
