import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { stateInWords } from "~/lib/orders.server";
import { formatReport, reconcile } from "~/lib/reconcile.server";
import { db, schema } from "../support/db";

import { cleanSlate, emu, snapshot } from "./reconcile-support";
import { buy, newShopper } from "./success-support";

/**
 * Refunds through reconcile, against the in-process emulator with webhook
 * delivery off: the refund.* events are listed and applied with the others,
 * and a refund still pending is asked about (GET /v1/refunds/:id) even when
 * no event about it is listed. Runs on both databases.
 */

beforeEach(async () => {
  await cleanSlate();
  vi.spyOn(console, "info").mockImplementation(() => {});
});

const checkout = async (id: string) =>
  (await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id)))[0]!;
const refunds = async (id: string) =>
  await db
    .select({ id: schema.refunds.id, amount: schema.refunds.amount, status: schema.refunds.status })
    .from(schema.refunds)
    .where(eq(schema.refunds.checkoutSessionId, id));
/** A window that lists no event: only what reconcile asks Stripe about can change anything. */
const noEvents = () => ({ since: Math.floor(Date.now() / 1000) + 3600 });

async function paid() {
  const id = await buy("ceramic-pour-over", await newShopper(), 2);
  await emu.pay(id);
  return id;
}

describe("refunds through reconcile", () => {
  it("a partial then a full refund: listed with the payment, refunded in full, a second run changes nothing", async () => {
    const id = await paid();
    const first = await emu.refund(id, { amount: 1200 });
    const second = await emu.refund(id);
    const report = await reconcile();
    expect(report.ok).toBe(true);
    const row = await checkout(id);
    expect(row).toMatchObject({ paymentStatus: "paid", amountRefunded: 6400, amountRefundPending: 0 });
    expect(stateInWords(row)).toBe("Refunded");
    expect((await refunds(id)).sort((a, b) => a.amount - b.amount)).toEqual([
      { id: first.id, amount: 1200, status: "succeeded" },
      { id: second.id, amount: 5200, status: "succeeded" },
    ]);
    const revoked = await db
      .select()
      .from(schema.jobs)
      .where(eq(schema.jobs.key, `order.revoked:${id}:refund`));
    expect(revoked).toHaveLength(1);

    const before = await snapshot();
    const again = await reconcile();
    expect(again.events.new).toBe(0);
    expect(await snapshot()).toEqual({ ...before, job_checkpoints: expect.anything(), job_runs: expect.anything() });
  });

  it("a pending refund whose settling was never delivered: reconcile asks Stripe and records it succeeded", async () => {
    const id = await paid();
    const refund = await emu.refund(id, { amount: 1200, pending: true });
    await reconcile();
    expect(await refunds(id)).toEqual([{ id: refund.id, amount: 1200, status: "pending" }]);
    expect(stateInWords(await checkout(id))).toBe("Refund pending: $12.00 of $64.00");

    await emu.settleRefund(refund.id);
    const dry = await reconcile({ ...noEvents(), dryRun: true });
    expect(dry.refunds).toEqual({ checked: 1, corrected: 1, notFound: 0, failed: 0 });
    expect(await refunds(id)).toEqual([{ id: refund.id, amount: 1200, status: "pending" }]);

    const report = await reconcile(noEvents());
    expect(report.events.seen).toBe(0);
    expect(report.refunds).toEqual({ checked: 1, corrected: 1, notFound: 0, failed: 0 });
    expect(formatReport(report)).toContain("pending refunds: 1 checked, 1 corrected");
    // Asked by each of the three runs: the first (still pending then), the dry run, this one.
    expect(await emu.requestsTo("GET", `/v1/refunds/${refund.id}`)).toHaveLength(3);
    expect(await refunds(id)).toEqual([{ id: refund.id, amount: 1200, status: "succeeded" }]);
    expect(stateInWords(await checkout(id))).toBe("Refunded $12.00 of $64.00");

    // Nothing pending any more: Stripe is not asked again.
    const after = await reconcile(noEvents());
    expect(after.refunds.checked).toBe(0);
    expect(await emu.requestsTo("GET", `/v1/refunds/${refund.id}`)).toHaveLength(3);
  });

  it("a pending refund that failed: asked about, its amount given back", async () => {
    const id = await paid();
    const refund = await emu.refund(id, { amount: 2000, pending: true });
    await reconcile();
    expect(await checkout(id)).toMatchObject({ amountRefunded: 2000, amountRefundPending: 2000 });
    await emu.failRefund(refund.id);
    await reconcile(noEvents());
    expect(await refunds(id)).toEqual([{ id: refund.id, amount: 2000, status: "failed" }]);
    expect(await checkout(id)).toMatchObject({ amountRefunded: 0, amountRefundPending: 0 });
    expect(stateInWords(await checkout(id))).toBe("Paid");
  });

  it("a pending refund that failed, listed as events: refund.updated and refund.failed applied, the same end", async () => {
    const id = await paid();
    const refund = await emu.refund(id, { amount: 2000, pending: true });
    await emu.failRefund(refund.id);
    const report = await reconcile();
    expect(report.ok).toBe(true);
    const types = (await db.select({ type: schema.stripeEvents.type }).from(schema.stripeEvents)).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(["refund.created", "charge.refunded", "refund.updated", "refund.failed"]),
    );
    expect(await refunds(id)).toEqual([{ id: refund.id, amount: 2000, status: "failed" }]);
    expect(await checkout(id)).toMatchObject({ amountRefunded: 0, amountRefundPending: 0 });
    expect(report.refunds.checked).toBe(0);
  });

  it("a renewal that fails, then is paid on retry, and a won dispute: one run, each job once; a second run adds none", async () => {
    const shopper = await newShopper();
    const subscription = await buy("coffee-club", shopper);
    const { subscription: sub } = (await emu.pay(subscription)) as { subscription: string };
    const failed = await emu.advanceSubscription(sub, "failed");
    const retried = await emu.advanceSubscription(sub, "paid");
    expect(retried.invoice.id).toBe(failed.invoice.id);
    const disputed = await paid();
    const dispute = await emu.dispute(disputed);
    await emu.closeDispute(dispute.id, "won");

    expect((await reconcile()).ok).toBe(true);
    expect(await checkout(subscription)).toMatchObject({ invoiceStatus: "paid", subscriptionStatus: "active" });
    expect(await checkout(disputed)).toMatchObject({ paymentStatus: "paid", disputeStatus: "won" });
    const keys = [`subscription.renewed:${failed.invoice.id}`, `order.reinstated:${disputed}:${dispute.id}`];
    const jobs = async () =>
      (await db.select({ key: schema.jobs.key }).from(schema.jobs)).map((j) => j.key).filter((k) => keys.includes(k));
    expect((await jobs()).sort()).toEqual([...keys].sort());
    await reconcile();
    expect((await jobs()).sort()).toEqual([...keys].sort());
  });
});
