import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { processStripeEvent } from "~/lib/checkout.server";
import { orderPaidHandler } from "~/lib/jobs/order-paid.server";
import { configuredJobDatabase } from "~/lib/jobs/start.server";
import { createWorker } from "~/lib/jobs/worker.server";
import { smtpMailer } from "~/lib/mail.server";

import { db } from "../support/db";
import { header, part, startSmtp, type TestSmtp } from "../support/smtp";
import { CHECKOUT_EVENT, sessionFor, storeCheckout, stripeEvent } from "../support/stripe-fixtures";

/**
 * From the payment to the mail on the configured database (this file runs on
 * SQLite and on PostgreSQL): a completed checkout delivered to the state
 * machine enqueues `order.paid`, and a worker over the same database's job
 * store and order reader sends one confirmation over a real SMTP session; a
 * flagged payment (the amount differs) gets none.
 */

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
});
beforeEach(() => {
  vi.spyOn(console, "info").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterAll(async () => {
  await smtp?.stop();
});

const deliver = (event: ReturnType<typeof stripeEvent>) =>
  processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });

describe("a paid order's confirmation through the job queue", () => {
  it("the webhook's payment becomes one mail to the address Stripe collected; a flagged one gets none", async () => {
    const paid = await storeCheckout(db, { quantity: 2 });
    const flagged = await storeCheckout(db);
    expect((await deliver(stripeEvent(CHECKOUT_EVENT.completed, sessionFor(paid, "paid")))).fulfilled).toBe(true);
    const mismatch = sessionFor(flagged, "paid", { amount_total: 1, amount_subtotal: 1 });
    expect((await deliver(stripeEvent(CHECKOUT_EVENT.completed, mismatch))).fulfilled).toBe(false);

    const { store, loadOrder } = configuredJobDatabase();
    const worker = createWorker({
      store,
      log: quiet,
      handlers: [
        orderPaidHandler({
          loadOrder,
          mailer: smtpMailer(`smtp://127.0.0.1:${smtp.port}`),
          appOrigin: "https://shop.example.com",
          from: "orders@shop.example.com",
          log: quiet,
        }),
      ],
    });
    expect(await worker.runOnce()).toBe(1);
    expect(await worker.runOnce()).toBe(0);
    expect(await store.counts()).toMatchObject({ pending: 0, running: 0, done: 1, dead: 0 });

    expect(smtp.received).toHaveLength(1);
    const raw = smtp.received[0]?.raw ?? "";
    expect(smtp.received[0]?.to).toEqual(["shopper@example.com"]);
    expect(header(raw, "Subject")).toBe("Your Field & Kiln order is confirmed");
    expect(header(raw, "Message-ID")).toBe(`<order.paid.${paid.id}@shop.example.com>`);
    const text = part(raw, "text/plain") ?? "";
    expect(text).toContain("2 × Ceramic Pour-Over Dripper ($32.00 each)");
    expect(text).toContain("Total: $64.00");
    expect(text).toContain(`Order reference: ${paid.id}`);
  });
});
