import Database from "better-sqlite3";

import { serverQuery, testDialect } from "../support/db";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { startBuiltServer, type Proc } from "../support/server";
import { WEBHOOK_SECRET } from "../support/test-env";

/**
 * The whole path with nothing stubbed: a shopper buys on the built server,
 * "Stripe" (the bundled emulator) takes the payment and delivers its own
 * signed events, with its own retries, duplicates and orderings, to
 * POST /stripe/webhook. What Stripe would see (its deliveries' statuses) and
 * what the shop stored must agree.
 */

const emu = emulatorControl();
let server: Proc & { databasePath: string; databaseUrl?: string };

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url, env: { DATABASE_BUSY_TIMEOUT_MS: "300" } });
  await emu.setWebhook(`${server.url}/stripe/webhook`, WEBHOOK_SECRET);
});
afterAll(async () => {
  await emu.setWebhook(null);
  await server?.stop();
});
beforeEach(async () => {
  await emu.reset();
  await emu.delivery({ mode: "normal", delayMs: 0, duplicate: false, order: "normal" });
});

type Row = {
  status: string;
  payment_status: string;
  fulfilled_at: number | null;
  stripe_customer_id: string | null;
  subscription_status: string | null;
  flag: string | null;
};
const checkout = async (id: string) =>
  (
    await serverQuery<Row>(
      server,
      "SELECT status, payment_status, fulfilled_at, stripe_customer_id, subscription_status, flag FROM checkout_sessions WHERE id = ?",
      [id],
    )
  )[0];
const storedEvents = async (sessionId: string) =>
  (
    await serverQuery<{ type: string }>(
      server,
      `SELECT type FROM stripe_events WHERE object_id = ? ORDER BY received_at, ${testDialect === "sqlite" ? "rowid" : "id"}`,
      [sessionId],
    )
  ).map((r) => r.type);

async function fulfillments(id: string) {
  // The server logs before it answers; a round trip later this process has read it.
  await (await fetch(`${server.url}/healthz`)).arrayBuffer();
  await new Promise((resolve) => setImmediate(resolve));
  return server.output.filter((line) => line.includes(`fulfilled checkout_session=${id} `)).length;
}

/** A shopper opens the product page and submits the Buy form; the Checkout Session id. */
async function buy(slug: string, cookie?: string) {
  const page = await fetch(`${server.url}/products/${slug}`, { headers: cookie ? { Cookie: cookie } : {} });
  const jar = cookie ?? page.headers.get("set-cookie")!.split(";")[0]!;
  const token = /name="token" value="([^"]+)"/.exec(await page.text())![1]!;
  const response = await fetch(`${server.url}/products/${slug}`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: jar, Origin: server.url },
    body: new URLSearchParams({ quantity: "1", token }),
  });
  expect(response.status).toBe(303);
  const id = /\/c\/pay\/(cs_test_\w+)$/.exec(response.headers.get("location")!)![1]!;
  return { id, cookie: jar };
}

describe("Stripe's own deliveries", () => {
  it("a card payment refunded in part, then in full: /orders says how much came back", async () => {
    const { id, cookie } = await buy("ceramic-pour-over");
    await emu.pay(id, "card");
    const ordersPage = async (text: string) => {
      // Stripe's deliveries are asynchronous: read the page until it says `text`, for at most 10 s.
      for (let i = 0; i < 100; i++) {
        const html = await (await fetch(`${server.url}/orders`, { headers: { Cookie: cookie } })).text();
        if (html.includes(text)) return html;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`/orders never said ${text}`);
    };
    await ordersPage("Paid");
    await emu.refund(id, { amount: 1000 });
    const partial = await ordersPage("Refunded $10.00 of $32.00");
    expect(partial).not.toContain(">Refunded<");
    await emu.refund(id);
    expect(await ordersPage(">Refunded<")).not.toContain("Refunded $10.00");
    expect(await checkout(id)).toMatchObject({ payment_status: "paid", fulfilled_at: expect.any(Number) });
  });

  it("a payment, a pending refund and its failure, all held, then delivered newest first and duplicated: paid, nothing refunded", async () => {
    const { id } = await buy("ceramic-pour-over");
    await emu.delivery({ mode: "hold", duplicate: true, order: "reverse" });
    await emu.pay(id, "card");
    const refund = await emu.refund(id, { amount: 1000, pending: true });
    await emu.failRefund(refund.id);
    await emu.delivery({ mode: "normal" });
    await emu.release();
    // completed, refund.created, charge.refunded, refund.updated, refund.failed: each twice.
    const deliveries = await emu.waitForDeliveries(10);
    expect(deliveries.every((d) => d.status === 200)).toBe(true);
    const [money] = await serverQuery<{ amount_refunded: number; amount_refund_pending: number }>(
      server,
      "SELECT amount_refunded, amount_refund_pending FROM checkout_sessions WHERE id = ?",
      [id],
    );
    expect(money).toEqual({ amount_refunded: 0, amount_refund_pending: 0 });
    expect(await serverQuery(server, "SELECT id, status FROM refunds WHERE checkout_session_id = ?", [id])).toEqual([
      { id: refund.id, status: "failed" },
    ]);
    expect(await checkout(id)).toMatchObject({ payment_status: "paid", fulfilled_at: expect.any(Number) });
  });

  it("a card payment: one delivery, answered 200; paid, fulfilled once; the next checkout reuses the customer", async () => {
    const { id, cookie } = await buy("ceramic-pour-over");
    await emu.pay(id, "card");
    const [delivery] = await emu.waitForDeliveries(1);
    expect(delivery).toMatchObject({ type: "checkout.session.completed", status: 200, attempt: 1 });
    expect(await checkout(id)).toMatchObject({
      status: "complete",
      payment_status: "paid",
      fulfilled_at: expect.any(Number),
      flag: null,
    });
    expect(await fulfillments(id)).toBe(1);
    const customer = (await checkout(id))?.stripe_customer_id;
    expect(customer).toMatch(/^cus_/);

    const again = await buy("gift-card", cookie);
    const creates = await emu.requestsTo("POST", "/v1/checkout/sessions");
    expect(creates.at(-1)!.params).toMatchObject({ customer });
    expect(again.id).not.toBe(id);
  });

  it("a delayed payment whose events are held, duplicated and released newest first: paid, fulfilled once", async () => {
    const { id } = await buy("ceramic-pour-over");
    await emu.delivery({ mode: "hold", duplicate: true, order: "reverse" });
    await emu.pay(id, "delayed");
    await emu.asyncSucceed(id);
    await emu.delivery({ mode: "normal" });
    await emu.release();
    const deliveries = await emu.waitForDeliveries(4);
    expect(deliveries.map((d) => d.status)).toEqual([200, 200, 200, 200]);
    // async_payment_succeeded was stored before completed.
    expect(await storedEvents(id)).toEqual(["checkout.session.async_payment_succeeded", "checkout.session.completed"]);
    expect(await checkout(id)).toMatchObject({
      status: "complete",
      payment_status: "paid",
      fulfilled_at: expect.any(Number),
    });
    expect(await fulfillments(id)).toBe(1);
  });

  it("a delayed payment that fails: complete, failed, never fulfilled", async () => {
    const { id } = await buy("linen-apron");
    await emu.pay(id, "delayed");
    await emu.asyncFail(id);
    await emu.waitForDeliveries(2);
    expect(await checkout(id)).toMatchObject({ status: "complete", payment_status: "failed", fulfilled_at: null });
    expect(await fulfillments(id)).toBe(0);
  });

  it("an abandoned checkout expires", async () => {
    const { id } = await buy("gift-card");
    await emu.expire(id);
    await emu.waitForDeliveries(1);
    expect(await checkout(id)).toMatchObject({ status: "expired", payment_status: "unpaid", fulfilled_at: null });
  });

  it("a subscription: paid and active, then canceled", async () => {
    const { id } = await buy("coffee-club");
    const session = (await emu.pay(id, "card")) as { subscription: string };
    await emu.waitForDeliveries(2); // customer.subscription.created, checkout.session.completed
    expect(await checkout(id)).toMatchObject({
      status: "complete",
      payment_status: "paid",
      subscription_status: "active",
    });
    await emu.cancelSubscription(session.subscription);
    await emu.waitForDeliveries(3);
    expect(await checkout(id)).toMatchObject({ subscription_status: "canceled", payment_status: "paid" });
    expect(await fulfillments(id)).toBe(1);
  });

  // A second SQLite connection holding the write lock; PostgreSQL's row locks wait instead (another issue's tests).
  it.runIf(testDialect === "sqlite")(
    "[SQLite only: its file lock] a locked database: Stripe's delivery gets a 5xx, its retry lands once the lock is gone",
    async () => {
      const { id } = await buy("ceramic-pour-over");
      const locker = new Database(server.databasePath);
      locker.exec("BEGIN IMMEDIATE");
      try {
        await emu.pay(id, "card");
        await expect
          .poll(async () => (await emu.deliveries()).map((d) => d.status), { timeout: 10_000 })
          .toContain(503);
        expect(await checkout(id)).toMatchObject({ status: "open", payment_status: "unpaid" });
      } finally {
        locker.exec("ROLLBACK");
        locker.close();
      }
      const deliveries = await emu.waitForDeliveries(1);
      expect(deliveries.at(-1)).toMatchObject({ status: 200 });
      expect(deliveries[0]).toMatchObject({ status: 503, attempt: 1 });
      expect(await checkout(id)).toMatchObject({
        status: "complete",
        payment_status: "paid",
        fulfilled_at: expect.any(Number),
      });
      expect(await fulfillments(id)).toBe(1);
    },
  );
});
