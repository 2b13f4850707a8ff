import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { HANDLED_EVENT_TYPES } from "~/lib/checkout.server";
import { db, schema, testDialect } from "../support/db";
import { onFulfill } from "~/lib/fulfillment.server";
import { currentHolder, tryAcquire } from "~/lib/locks.server";
import { getCheckpoint, LockHeldError, reconcile, ReconcileError, RECONCILE_JOB } from "~/lib/reconcile.server";

import { expectConsoleError } from "../support/console";
import { at, cleanSlate, DAY, emu, snapshot } from "./reconcile-support";
import { buy, newShopper } from "./success-support";

/**
 * The reconcile run, called in-process against the emulator. Webhook
 * delivery is off (the in-process emulator has no endpoint), so every
 * payment below is known to Stripe only until reconcile brings it in.
 */

const checkout = async (id: string) =>
  (await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id)))[0]!;
const checkouts = async () => await db.select().from(schema.checkoutSessions).orderBy(schema.checkoutSessions.id);
const recordedEvents = async () => await db.select().from(schema.stripeEvents);
const eventRequests = () => emu.requestsTo("GET", "/v1/events");

// The checkouts fulfilled, as the shop's fulfillment hook sees them.
let fulfilled: string[] = [];
const count = (_tx: unknown, row: { id: string }) => void fulfilled.push(row.id);
let stopCounting: () => void = () => {};
beforeEach(async () => {
  await cleanSlate();
  fulfilled = [];
  stopCounting = onFulfill(count);
});
afterEach(async () => stopCounting());

describe("payments made while webhooks were off", () => {
  it("are all found and fulfilled by one run, oldest event first, and a second run changes nothing", async () => {
    const shopper = await newShopper();
    const card = await buy("ceramic-pour-over", shopper, 2);
    const subscription = await buy("coffee-club", shopper);
    const delayed = await buy("linen-apron", shopper, 1);
    const expired = await buy("gift-card", shopper);
    const stillOpen = await buy("ceramic-pour-over", shopper, 1);

    await emu.pay(card);
    const paidSubscription = (await emu.pay(subscription)) as { subscription: string };
    await emu.pay(delayed, "delayed");
    await emu.asyncSucceed(delayed);
    await emu.expire(expired);
    // Two changes in the same second: only applying them in order leaves the last one.
    await emu.updateSubscription(paidSubscription.subscription, "past_due");
    await emu.updateSubscription(paidSubscription.subscription, "active");

    expect((await checkouts()).every((row) => row.status === "open" && row.fulfilledAt === null)).toBe(true);

    // Small pages, so that the run pages through the list.
    const report = await reconcile({ pageSize: 2 });

    expect(report.ok).toBe(true);
    expect(report.sinceFrom).toBe("retention");
    expect(report.events).toEqual({ seen: 7, new: 7, applied: 7, fulfilled: 3, failed: 0 });
    expect(report.checkouts).toEqual({ checked: 0, corrected: 0, fulfilled: 0, notFound: 0, failed: 0 });
    expect(await checkout(card)).toMatchObject({ status: "complete", paymentStatus: "paid", amountTotal: 6400 });
    expect(await checkout(subscription)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      stripeSubscriptionId: paidSubscription.subscription,
      subscriptionStatus: "active",
    });
    expect(await checkout(delayed)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(await checkout(expired)).toMatchObject({ status: "expired", paymentStatus: "unpaid", fulfilledAt: null });
    expect(await checkout(stillOpen)).toMatchObject({ status: "open", fulfilledAt: null });
    for (const id of [card, subscription, delayed]) expect((await checkout(id)).fulfilledAt).not.toBeNull();
    expect(fulfilled.sort()).toEqual([card, subscription, delayed].sort());
    expect(await recordedEvents()).toHaveLength(7);
    expect((await recordedEvents()).every((e) => e.source === "reconcile")).toBe(true);
    const newest = Math.max(...(await recordedEvents()).map((e) => e.created));
    expect(await getCheckpoint()).toBe(newest);
    // Four pages of two, each asking for the handled types only.
    const firstRun = await eventRequests();
    expect(firstRun).toHaveLength(4);
    expect(firstRun[0]!.query).toMatchObject({ limit: "2" });
    expect(Object.values(firstRun[0]!.query.types as Record<string, string>).sort()).toEqual(
      [...HANDLED_EVENT_TYPES].sort(),
    );

    const before = await snapshot();
    const again = await reconcile({ pageSize: 2 });
    expect(again.ok).toBe(true);
    expect(again.events).toEqual({ seen: 7, new: 0, applied: 0, fulfilled: 0, failed: 0 });
    // Only the checkpoint's time and the last run's record (its report) move.
    expect(await snapshot()).toEqual({ ...before, job_checkpoints: expect.anything(), job_runs: expect.anything() });
    expect(await getCheckpoint()).toBe(newest);
    expect(fulfilled).toHaveLength(3);
  });

  it("only lists events from the checkpoint minus the overlap: older ones are not reprocessed", async () => {
    const shopper = await newShopper();
    const now = Date.now();
    const oldest = await at(now - 3 * DAY, async () => {
      const id = await buy("ceramic-pour-over", shopper, 1);
      await emu.pay(id);
      return id;
    });
    const older = await at(now - 2 * DAY, async () => {
      const id = await buy("linen-apron", shopper, 1);
      await emu.pay(id);
      // The run of two days ago: it applies both and keeps a checkpoint.
      const report = await reconcile();
      expect(report.events).toMatchObject({ seen: 2, new: 2, fulfilled: 2 });
      return id;
    });
    const checkpoint = (await getCheckpoint())!;
    expect(checkpoint).toBe(Math.floor((now - 2 * DAY) / 1000));

    // Today: a new payment, and the oldest event's record gone. Were the old
    // window listed again, that event would come back as new.
    const today = await buy("gift-card", shopper);
    await emu.pay(today);
    const oldestEvent = (await recordedEvents()).find(
      (e) => (JSON.parse(e.payload) as { data: { object: { id: string } } }).data.object.id === oldest,
    )!;
    await db.delete(schema.stripeEvents).where(eq(schema.stripeEvents.id, oldestEvent.id));
    const requestsBefore = (await eventRequests()).length;

    const report = await reconcile();
    expect(report.sinceFrom).toBe("checkpoint");
    expect(report.since).toBe(checkpoint - 300);
    // The older payment's event (inside the overlap) and today's; not the oldest.
    expect(report.events).toEqual({ seen: 2, new: 1, applied: 1, fulfilled: 1, failed: 0 });
    const [request] = (await eventRequests()).slice(requestsBefore);
    expect(request!.query).toMatchObject({ created: { gte: String(checkpoint - 300) } });
    expect((await recordedEvents()).map((e) => e.id)).not.toContain(oldestEvent.id);
    expect((await checkout(today)).fulfilledAt).not.toBeNull();
    expect(await getCheckpoint()).toBeGreaterThan(checkpoint);

    // --since reaches further back: the oldest event is listed and recorded
    // again, and changes nothing (its checkout was fulfilled long ago).
    const wider = await reconcile({ since: Math.floor((now - 4 * DAY) / 1000) });
    expect(wider.sinceFrom).toBe("option");
    expect(wider.events).toEqual({ seen: 3, new: 1, applied: 0, fulfilled: 0, failed: 0 });
    expect(fulfilled.sort()).toEqual([oldest, older, today].sort());
  });
});

/** A completed earlier run: the checkpoint it would have left `ago` ms before now. */
async function checkpointAgo(ago: number) {
  const checkpoint = Math.floor((Date.now() - ago) / 1000);
  await db.insert(schema.jobCheckpoints).values({ name: RECONCILE_JOB, checkpoint });
  return checkpoint;
}

describe("--since", () => {
  it("a later start than the checkpoint's does not move the checkpoint; an earlier one than 30 days is moved to 30 days", async () => {
    const shopper = await newShopper();
    const checkpoint = await checkpointAgo(2 * DAY);
    const id = await buy("ceramic-pour-over", shopper, 1);
    await emu.pay(id);

    const recent = await reconcile({ since: Math.floor((Date.now() - 3_600_000) / 1000) });
    expect(recent.events).toMatchObject({ seen: 1, new: 1, fulfilled: 1 });
    // It did not look at the two days before: the next run must.
    expect(await getCheckpoint()).toBe(checkpoint);

    const tooOld = await reconcile({ since: Math.floor((Date.now() - 40 * DAY) / 1000) });
    expect(tooOld.sinceClamped).toBe(true);
    expect(tooOld.since).toBeGreaterThanOrEqual(Math.floor((Date.now() - 30 * DAY) / 1000));
    expect(tooOld.events).toMatchObject({ seen: 1, new: 0 });
    expect(await getCheckpoint()).toBeGreaterThan(checkpoint);
  });
});

describe("checkouts that should have moved on", () => {
  it("asks Stripe about checkouts open past their expiry or unpaid too long, and corrects them", async () => {
    const shopper = await newShopper();
    const now = Date.now();
    // Five days ago: a bank debit starts (the webhook delivered its completion)
    // and succeeds a day later (that event was missed).
    const debit = await at(now - 5 * DAY, async () => {
      const id = await buy("linen-apron", shopper, 1);
      await emu.pay(id, "delayed");
      await reconcile();
      return id;
    });
    await at(now - 4 * DAY, () => emu.asyncSucceed(debit));
    // Two days ago: one paid checkout, one abandoned; neither event arrived.
    const paid = await at(now - 2 * DAY, async () => {
      const id = await buy("ceramic-pour-over", shopper, 1);
      await emu.pay(id);
      return id;
    });
    const abandoned = await at(now - 2 * DAY, () => buy("gift-card", shopper));
    // Yesterday: a bank debit still processing, within the bound.
    const processing = await at(now - DAY, async () => {
      const id = await buy("linen-apron", shopper, 2);
      await emu.pay(id, "delayed");
      return id;
    });
    await db
      .update(schema.checkoutSessions)
      .set({ status: "complete", updatedAt: now - DAY })
      .where(eq(schema.checkoutSessions.id, processing));
    // A run an hour ago covered everything up to then: these events are too old to list now.
    await db.delete(schema.jobCheckpoints);
    await checkpointAgo(3_600_000);
    expect(await checkout(debit)).toMatchObject({ status: "complete", paymentStatus: "unpaid" });

    const report = await reconcile();

    expect(report.ok).toBe(true);
    expect(report.events.seen).toBe(0);
    expect(report.checkouts).toEqual({ checked: 3, corrected: 3, fulfilled: 2, notFound: 0, failed: 0 });
    expect(await checkout(debit)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(await checkout(paid)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(await checkout(abandoned)).toMatchObject({ status: "expired", fulfilledAt: null });
    expect(fulfilled.sort()).toEqual([debit, paid].sort());
    expect(await checkout(processing)).toMatchObject({ status: "complete", paymentStatus: "unpaid" });
    expect(await emu.requestsTo("GET", `/v1/checkout/sessions/${processing}`)).toHaveLength(0);

    // Nothing is stale any more; Stripe's expiry event (sent when it expired the
    // abandoned checkout just now) is recorded and changes nothing.
    const again = await reconcile();
    expect(again.checkouts.checked).toBe(0);
    expect(again.events).toMatchObject({ new: 1, applied: 0, fulfilled: 0 });
    expect(fulfilled).toHaveLength(2);
  });
});

describe("a run that dies half way", () => {
  it("when Stripe stops answering while events are listed: exits with an error, and the next run completes", async () => {
    const shopper = await newShopper();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await buy("ceramic-pour-over", shopper, 1);
      await emu.pay(id);
      ids.push(id);
    }

    const failed = reconcile({
      pageSize: 2,
      onProgress: async ({ phase, done }) => {
        if (phase === "listing" && done === 2) await emu.fault({ pathPrefix: "/v1/events", status: 500 });
      },
    });
    await expect(failed).rejects.toThrow(ReconcileError);
    await expect(failed).rejects.toThrow(/Stripe could not be reached \(listing events, page 2\)/);
    const error = (await failed.catch((e: unknown) => e)) as ReconcileError;
    expect(error.report.events.seen).toBe(2);
    expect(await getCheckpoint()).toBeNull();
    expect(await db.select().from(schema.jobLocks)).toEqual([]);

    await emu.clearFaults();
    const report = await reconcile({ pageSize: 2 });
    expect(report.events).toEqual({ seen: 5, new: 5, applied: 5, fulfilled: 5, failed: 0 });
    expect(fulfilled.sort()).toEqual([...ids].sort());
    expect(await getCheckpoint()).not.toBeNull();
  });

  it("when Stripe stops answering while checkouts are checked: what was applied stays, and the next run completes", async () => {
    const shopper = await newShopper();
    const now = Date.now();
    const stale = await at(now - 2 * DAY, async () => {
      const id = await buy("linen-apron", shopper, 1);
      await emu.pay(id);
      return id;
    });
    await checkpointAgo(3_600_000);
    const today = [await buy("ceramic-pour-over", shopper, 1), await buy("gift-card", shopper)];
    for (const id of today) await emu.pay(id);
    await emu.fault({ method: "GET", pathPrefix: "/v1/checkout/sessions", hang: true });

    const failed = reconcile();
    await expect(failed).rejects.toThrow(/Stripe could not be reached \(retrieving checkout cs_/);
    // Today's events were applied and are kept; the stale checkout is not known yet.
    expect(fulfilled.sort()).toEqual([...today].sort());
    expect(await checkout(stale)).toMatchObject({ status: "open", fulfilledAt: null });
    expect(await db.select().from(schema.jobLocks)).toEqual([]);

    await emu.clearFaults();
    const report = await reconcile();
    expect(report.ok).toBe(true);
    expect(report.events).toMatchObject({ seen: 2, new: 0 });
    expect(report.checkouts).toMatchObject({ checked: 1, corrected: 1, fulfilled: 1 });
    expect(await checkout(stale)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(fulfilled.sort()).toEqual([...today, stale].sort());
  });

  it("when one event cannot be applied: the others are, the checkpoint waits, and the next run applies it", async () => {
    expectConsoleError(/reconcile: event not applied id=evt_\w+ type=checkout.session.completed: fulfillment is down/);
    const shopper = await newShopper();
    const ids = [
      await buy("ceramic-pour-over", shopper, 1),
      await buy("linen-apron", shopper, 1),
      await buy("gift-card", shopper),
    ];
    for (const id of ids) await emu.pay(id);
    const broken = ids[1]!;
    // Runs before the counting hook, so that a rolled-back fulfillment is not counted.
    stopCounting();
    const stop = onFulfill((_tx, row) => {
      if (row.id === broken) throw new Error("fulfillment is down");
    });
    stopCounting = onFulfill(count);

    const report = await reconcile();
    stop();
    expect(report.ok).toBe(false);
    expect(report.events).toEqual({ seen: 3, new: 2, applied: 2, fulfilled: 2, failed: 1 });
    expect(await checkout(broken)).toMatchObject({ status: "open", fulfilledAt: null });
    expect(await getCheckpoint()).toBeNull();

    const next = await reconcile();
    expect(next.ok).toBe(true);
    expect(next.events).toEqual({ seen: 3, new: 1, applied: 1, fulfilled: 1, failed: 0 });
    expect(await checkout(broken)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect(fulfilled.sort()).toEqual([...ids].sort());
    expect(await getCheckpoint()).not.toBeNull();
  });
});

describe("--dry-run", () => {
  it("writes nothing at all, and reports what a real run then does", async () => {
    const shopper = await newShopper();
    const stale = await at(Date.now() - 2 * DAY, async () => {
      const id = await buy("linen-apron", shopper, 1);
      await emu.pay(id);
      return id;
    });
    await checkpointAgo(3_600_000);
    const today = await buy("ceramic-pour-over", shopper, 2);
    await emu.pay(today);
    const before = await snapshot();

    const dry = await reconcile({ dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.events).toMatchObject({ seen: 1, new: 1 });
    expect(dry.checkouts).toMatchObject({ checked: 1, corrected: 1 });
    expect(await snapshot()).toEqual(before);
    expect(fulfilled).toEqual([]);

    const real = await reconcile();
    expect(real.events).toMatchObject({ seen: 1, new: 1, applied: 1, fulfilled: 1 });
    expect(real.checkouts).toMatchObject({ checked: 1, corrected: 1, fulfilled: 1 });
    expect(fulfilled.sort()).toEqual([stale, today].sort());
  });
});

describe("never twice at once", () => {
  it("a second run started while one runs fails at once with a message naming the holder", async () => {
    const shopper = await newShopper();
    const id = await buy("ceramic-pour-over", shopper, 1);
    await emu.pay(id);

    // On PostgreSQL the two lease attempts race on two pooled connections, and a fast first run
    // can finish before the second attempt lands: there the second run starts from inside the
    // first (its fulfillment hook, awaited in its transaction), while the first holds the lease.
    // On SQLite the first attempt completes before the second's, as the two start.
    let inner: Promise<unknown> | undefined;
    const stopHolding =
      testDialect === "postgres"
        ? onFulfill(async () => {
            inner ??= reconcile();
            await inner.catch(() => {});
          })
        : () => {};
    const [first, second] =
      testDialect === "postgres"
        ? await Promise.allSettled([reconcile()]).then(async ([one]) => [one!, ...(await Promise.allSettled([inner!]))])
        : await Promise.allSettled([reconcile(), reconcile()]);
    stopHolding();
    expect(first?.status).toBe("fulfilled");
    expect(second?.status).toBe("rejected");
    const error = (second as PromiseRejectedResult).reason as LockHeldError;
    expect(error).toBeInstanceOf(LockHeldError);
    expect(error.message).toMatch(
      /^Another reconcile run holds the lock: [^:]+:\d+:[0-9a-f]{6}, until \d{4}-\d\d-\d\dT[\d:.]+Z/,
    );
    expect(fulfilled).toEqual([id]);
    expect(await db.select().from(schema.jobLocks)).toEqual([]);
  });

  it("a run that may wait runs after the first one, and finds nothing left to do", async () => {
    const shopper = await newShopper();
    const id = await buy("ceramic-pour-over", shopper, 1);
    await emu.pay(id);

    // The second starts once the first holds the lease (on PostgreSQL two starts race for it).
    let settled = false;
    const running = reconcile().finally(() => {
      settled = true;
    });
    await expect.poll(async () => settled || (await currentHolder(RECONCILE_JOB)) !== undefined).toBe(true);
    const [first, second] = await Promise.all([running, reconcile({ waitForLockMs: 10_000 })]);
    expect(first.events).toMatchObject({ new: 1, fulfilled: 1 });
    expect(second.events).toMatchObject({ seen: 1, new: 0, fulfilled: 0 });
    expect(fulfilled).toEqual([id]);
  });

  it("a lock held by another process stops the run before it does anything; an expired one is taken over", async () => {
    const shopper = await newShopper();
    const id = await buy("ceramic-pour-over", shopper, 1);
    await emu.pay(id);
    expect(await tryAcquire(RECONCILE_JOB, "other-host:4242:beef01", 60_000)).toEqual({ acquired: true });

    await expect(reconcile()).rejects.toThrow(/Another reconcile run holds the lock: other-host:4242:beef01, until /);
    expect(await recordedEvents()).toEqual([]);
    expect(await eventRequests()).toHaveLength(0);

    // That process died: once its lease has run out, the next run takes over.
    await db.update(schema.jobLocks).set({ expiresAt: Date.now() - 1 });
    const report = await reconcile();
    expect(report.events).toMatchObject({ new: 1, fulfilled: 1 });
    expect(await db.select().from(schema.jobLocks)).toEqual([]);
  });
});

describe("refunds and disputes made while webhooks were off", () => {
  it("a partial then a full refund and a lost dispute are brought in by one run; a second run changes nothing", async () => {
    const shopper = await newShopper();
    const refunded = await buy("ceramic-pour-over", shopper, 2);
    const disputed = await buy("linen-apron", shopper, 1);
    await emu.pay(refunded);
    await emu.pay(disputed);
    await emu.refund(refunded, { amount: 1200 });
    await emu.refund(refunded);
    const dispute = await emu.dispute(disputed);
    await emu.closeDispute(dispute.id, "lost");

    expect((await reconcile()).ok).toBe(true);
    expect(await checkout(refunded)).toMatchObject({ paymentStatus: "paid", amountRefunded: 6400 });
    expect(await checkout(disputed)).toMatchObject({ paymentStatus: "paid", disputeStatus: "lost" });

    const again = await reconcile();
    expect(again.events.new).toBe(0);
    expect(await checkout(refunded)).toMatchObject({ amountRefunded: 6400 });
  });
});
