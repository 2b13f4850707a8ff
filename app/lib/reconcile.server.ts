import { and, asc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type Stripe from "stripe";

import type { CheckoutSession } from "../../db/schema/types";
import {
  applyCheckoutSession,
  applyRefund,
  HANDLED_EVENT_TYPES,
  processStripeEvent,
} from "./orders/state-machine.server";
import { changes, refundNews, sessionFacts, transition } from "./orders/transition";
import { config } from "./config.server";
import { logger } from "./logger.server";
import { db, dialectSql, schema } from "./db.server";
import { acquireLease, LockHeldError, type Lease } from "./locks.server";
import { describeStripeError } from "./stripe-errors.server";
import { stripe } from "./stripe.server";

const { checkoutSessions, jobCheckpoints, refunds, stripeEvents } = schema;

/**
 * Reconciliation: brings the database to the state Stripe knows, for when
 * webhooks were missed (endpoint down, misconfigured, secret rotated wrongly;
 * Stripe stops retrying after three days). It lists the events Stripe still
 * keeps (30 days) since a checkpoint and feeds the ones not yet recorded to
 * the webhook's own state machine, oldest first; then it asks Stripe about
 * every checkout that should have moved on by now, and about every refund
 * still pending. Safe to run any time:
 * a recorded event changes nothing, and state only moves forward.
 * https://docs.stripe.com/webhooks/process-undelivered-events
 */

export const RECONCILE_JOB = "reconcile";
/** Stripe keeps events for 30 days. */
export const EVENT_RETENTION_SECONDS = 30 * 24 * 3600;
export const DEFAULT_OVERLAP_SECONDS = 5 * 60;
export const DEFAULT_UNPAID_AFTER_MS = 3 * 24 * 3600 * 1000;
// A Checkout Session lasts at most 24 hours; a row without expires_at is stale after that.
const OPEN_WITHOUT_EXPIRY_MS = 24 * 3600 * 1000;
const LEASE_MS = 120_000;

export type ReconcileOptions = {
  /** List events created at or after this (unix seconds) instead of the checkpoint's. */
  since?: number;
  /** Change nothing: count what is new and what Stripe reports differently. Takes no lock. */
  dryRun?: boolean;
  /** How far before the checkpoint to start listing again. */
  overlapSeconds?: number;
  /** A `complete` but `unpaid` checkout older than this (by its last update) is asked about. */
  unpaidAfterMs?: number;
  /** How long to wait for another run's lock; 0 fails at once with LockHeldError. */
  waitForLockMs?: number;
  /** Events per page (Stripe allows 1 to 100). */
  pageSize?: number;
  /** Called after each page listed, each event applied and each checkout checked; awaited. */
  onProgress?: (progress: ReconcileProgress) => void | Promise<void>;
};

export type ReconcileProgress = {
  phase: "listing" | "applying" | "checkouts" | "refunds";
  done: number;
  /** Known for applying and checkouts, not while listing. */
  total: number | null;
};

export type ReconcileReport = {
  dryRun: boolean;
  /** Events created at or after this (unix seconds) were listed. */
  since: number;
  sinceFrom: "checkpoint" | "option" | "retention";
  /** The requested start was older than Stripe keeps events and was moved to 30 days ago. */
  sinceClamped: boolean;
  events: { seen: number; new: number; applied: number; fulfilled: number; failed: number };
  checkouts: { checked: number; corrected: number; fulfilled: number; notFound: number; failed: number };
  /** Refunds stored as pending, retrieved from Stripe and applied. */
  refunds: { checked: number; corrected: number; notFound: number; failed: number };
  checkpoint: { before: number | null; after: number | null };
  /** Every phase finished and nothing failed. */
  ok: boolean;
};

/** Stripe could not be reached or refused the request: the report says how far the run got. */
export class ReconcileError extends Error {
  override name = "ReconcileError";
  constructor(
    message: string,
    readonly report: ReconcileReport,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export { LockHeldError };

/** The checkpoint of the last completed run (unix seconds), or null before the first one. */
export async function getCheckpoint(): Promise<number | null> {
  const [row] = await db.select().from(jobCheckpoints).where(eq(jobCheckpoints.name, RECONCILE_JOB)).limit(1);
  return row?.checkpoint ?? null;
}

async function advanceCheckpoint(created: number) {
  await db
    .insert(jobCheckpoints)
    .values({ name: RECONCILE_JOB, checkpoint: created })
    .onConflictDoUpdate({
      target: jobCheckpoints.name,
      // Never backwards, whatever order two writers come in.
      set: {
        checkpoint: dialectSql.greatest(jobCheckpoints.checkpoint, sql`excluded.checkpoint`),
        updatedAt: Date.now(),
      },
    });
}

/** Where listing starts: the option, else the checkpoint minus the overlap, never beyond 30 days. */
export function startOfWindow(
  { since, overlapSeconds = DEFAULT_OVERLAP_SECONDS }: Pick<ReconcileOptions, "since" | "overlapSeconds">,
  checkpoint: number | null,
  nowSeconds = Math.floor(Date.now() / 1000),
) {
  // A minute inside the horizon, so that an event does not age out between pages.
  const horizon = nowSeconds - EVENT_RETENTION_SECONDS + 60;
  const fromCheckpoint = checkpoint === null ? horizon : Math.max(horizon, checkpoint - overlapSeconds);
  const wanted = since ?? fromCheckpoint;
  const start = Math.max(horizon, wanted);
  return {
    since: start,
    sinceFrom: (since !== undefined
      ? "option"
      : checkpoint === null || start === horizon
        ? "retention"
        : "checkpoint") as ReconcileReport["sinceFrom"],
    sinceClamped: since !== undefined && since < horizon,
    // Only a run that listed everything after the checkpoint may move it on.
    coversCheckpoint: start <= fromCheckpoint,
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function describeStripeFailure(what: string, error: unknown) {
  const failure = describeStripeError(error);
  const status = failure.statusCode === null ? "" : ` (HTTP ${failure.statusCode})`;
  const reached = failure.type !== "error" && !failure.unavailable;
  return reached
    ? `Stripe refused ${what}: ${failure.type}${status}: ${failure.message}`
    : `Stripe could not be reached (${what}): ${failure.type}${status}: ${failure.message}`;
}

/**
 * One reconciliation run. Takes the `reconcile` lease (LockHeldError when
 * another run holds it), except in a dry run, which writes nothing at all.
 * Throws ReconcileError when Stripe could not be reached; everything applied
 * before that stays applied, and the next run picks up the rest.
 */
export async function reconcile(options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const lease = options.dryRun
    ? null
    : await acquireLease(RECONCILE_JOB, { ttlMs: LEASE_MS, waitMs: options.waitForLockMs ?? 0 });
  try {
    const report = await run(options, lease);
    if (lease) await recordRun(report.ok, formatReport(report));
    return report;
  } catch (error: unknown) {
    if (lease && error instanceof ReconcileError)
      await recordRun(false, [error.message, ...formatReport(error.report)]);
    throw error;
  } finally {
    await lease?.release();
  }
}

/** The last finished run and its report, for the console (/admin/reconcile). */
async function recordRun(ok: boolean, lines: string[]) {
  const row = { name: RECONCILE_JOB, finishedAt: Date.now(), ok, report: JSON.stringify(lines) };
  await db
    .insert(schema.jobRuns)
    .values(row)
    .onConflictDoUpdate({ target: schema.jobRuns.name, set: { finishedAt: row.finishedAt, ok, report: row.report } });
}

async function run(options: ReconcileOptions, lease: Lease | null): Promise<ReconcileReport> {
  const dryRun = options.dryRun ?? false;
  const pageSize = options.pageSize ?? 100;
  const progress = options.onProgress ?? (() => {});
  const before = await getCheckpoint();
  const window = startOfWindow(options, before);
  const report: ReconcileReport = {
    dryRun,
    since: window.since,
    sinceFrom: window.sinceFrom,
    sinceClamped: window.sinceClamped,
    events: { seen: 0, new: 0, applied: 0, fulfilled: 0, failed: 0 },
    checkouts: { checked: 0, corrected: 0, fulfilled: 0, notFound: 0, failed: 0 },
    refunds: { checked: 0, corrected: 0, notFound: 0, failed: 0 },
    checkpoint: { before, after: before },
    ok: false,
  };
  const stillHeld = () => {
    if (lease && !lease.held()) {
      throw new ReconcileError("The lock was taken over by another run while this one stalled: stopped.", report);
    }
  };

  // 1. List every event of the handled types in the window. Stripe lists
  // newest first; only the ids not yet recorded are kept in memory.
  const pending: Stripe.Event[] = [];
  let newest: number | null = null;
  let startingAfter: string | undefined;
  for (let pages = 1; ; pages++) {
    let page: Stripe.ApiList<Stripe.Event>;
    try {
      page = await stripe.events.list({
        types: HANDLED_EVENT_TYPES,
        created: { gte: window.since },
        limit: pageSize,
        ...(startingAfter ? { starting_after: startingAfter } : {}),
      });
    } catch (error: unknown) {
      throw new ReconcileError(describeStripeFailure(`listing events, page ${pages}`, error), report, { cause: error });
    }
    const ids = page.data.map((event) => event.id);
    const recorded = new Set(
      ids.length === 0
        ? []
        : (await db.select({ id: stripeEvents.id }).from(stripeEvents).where(inArray(stripeEvents.id, ids))).map(
            (row) => row.id,
          ),
    );
    for (const event of page.data) {
      report.events.seen++;
      newest = Math.max(newest ?? event.created, event.created);
      if (!recorded.has(event.id)) pending.push(event);
    }
    await progress({ phase: "listing", done: report.events.seen, total: null });
    if (!page.has_more || page.data.length === 0) break;
    startingAfter = page.data[page.data.length - 1]!.id;
  }

  // 2. Apply them oldest first (reverse, then a stable sort by `created`),
  // each in its own transaction: a run that dies half way leaves the applied
  // ones recorded, and the next run skips them as duplicates.
  pending.reverse().sort((a, b) => a.created - b.created);
  if (dryRun) {
    report.events.new = pending.length;
  } else {
    for (const [i, event] of pending.entries()) {
      stillHeld();
      try {
        const result = await processStripeEvent(event, { source: "reconcile" });
        // A duplicate here means the webhook recorded it meanwhile.
        if (!result.duplicate) {
          report.events.new++;
          if (result.changed) report.events.applied++;
          if (result.fulfilled) report.events.fulfilled++;
        }
      } catch (error: unknown) {
        report.events.failed++;
        logger.error(
          { eventId: event.id, eventType: event.type },
          `reconcile: event not applied id=${event.id} type=${event.type}: ${messageOf(error)}`,
        );
      }
      await progress({ phase: "applying", done: i + 1, total: pending.length });
    }
    if (report.events.failed === 0 && window.coversCheckpoint && newest !== null) {
      await advanceCheckpoint(newest);
      report.checkpoint.after = await getCheckpoint();
    }
  }

  // 3. Checkouts that should have moved on: open past their expiry, or
  // completed but unpaid for longer than a delayed payment takes.
  const now = Date.now();
  const stale = await db
    .select()
    .from(checkoutSessions)
    .where(
      or(
        and(
          eq(checkoutSessions.status, "open"),
          or(
            lt(checkoutSessions.expiresAt, now),
            and(isNull(checkoutSessions.expiresAt), lt(checkoutSessions.createdAt, now - OPEN_WITHOUT_EXPIRY_MS)),
          ),
        ),
        and(
          eq(checkoutSessions.status, "complete"),
          eq(checkoutSessions.paymentStatus, "unpaid"),
          lt(checkoutSessions.updatedAt, now - (options.unpaidAfterMs ?? DEFAULT_UNPAID_AFTER_MS)),
        ),
      ),
    )
    .orderBy(asc(checkoutSessions.createdAt));
  for (const [i, row] of stale.entries()) {
    stillHeld();
    let session: Stripe.Checkout.Session;
    try {
      session = await stripe.checkout.sessions.retrieve(row.id);
    } catch (error: unknown) {
      if (describeStripeError(error).type === "StripeInvalidRequestError") {
        // Not in this Stripe account or mode: nothing Stripe can tell us, and no reason to fail every run.
        report.checkouts.notFound++;
        logger.warn(
          { checkoutId: row.id },
          `reconcile: checkout not found in Stripe id=${row.id}: ${messageOf(error)}`,
        );
        continue;
      }
      throw new ReconcileError(describeStripeFailure(`retrieving checkout ${row.id}`, error), report, { cause: error });
    }
    report.checkouts.checked++;
    if (dryRun) {
      if (wouldMove(row, session)) report.checkouts.corrected++;
    } else {
      try {
        const result = await applyCheckoutSession(session, "reconcile");
        if (result.changed) report.checkouts.corrected++;
        if (result.fulfilled) report.checkouts.fulfilled++;
      } catch (error: unknown) {
        report.checkouts.failed++;
        logger.error({ checkoutId: row.id }, `reconcile: checkout not applied id=${row.id}: ${messageOf(error)}`);
      }
    }
    await progress({ phase: "checkouts", done: i + 1, total: stale.length });
  }

  // 4. Refunds still pending (a bank refund takes days; its refund.updated may
  // have been missed): Stripe is asked for each, and its answer applied.
  const waiting = await db
    .select({ id: refunds.id, status: refunds.status })
    .from(refunds)
    .where(eq(refunds.status, "pending"))
    .orderBy(asc(refunds.created), asc(refunds.id));
  for (const [i, row] of waiting.entries()) {
    stillHeld();
    let refund: Stripe.Refund;
    try {
      refund = await stripe.refunds.retrieve(row.id);
    } catch (error: unknown) {
      if (describeStripeError(error).type === "StripeInvalidRequestError") {
        report.refunds.notFound++;
        console.warn(`reconcile: refund not found in Stripe id=${row.id}: ${messageOf(error)}`);
        continue;
      }
      throw new ReconcileError(describeStripeFailure(`retrieving refund ${row.id}`, error), report, { cause: error });
    }
    report.refunds.checked++;
    if (dryRun) {
      const news = refundNews(refund, 0);
      if (news && news.status !== row.status) report.refunds.corrected++;
    } else {
      try {
        if ((await applyRefund(refund)).changed) report.refunds.corrected++;
      } catch (error: unknown) {
        report.refunds.failed++;
        console.error(`reconcile: refund not applied id=${row.id}: ${messageOf(error)}`);
      }
    }
    await progress({ phase: "refunds", done: i + 1, total: waiting.length });
  }

  report.ok = report.events.failed === 0 && report.checkouts.failed === 0 && report.refunds.failed === 0;
  return report;
}

/** For a dry run: whether Stripe's state would move this stored checkout, by the state machine's own rule. */
function wouldMove(row: CheckoutSession, session: Stripe.Checkout.Session) {
  const facts = sessionFacts(session);
  if (!facts) return false;
  const decision = transition(row, { kind: "session", effect: "retrieved", session: facts }, context());
  return changes(decision) || decision.fulfill;
}

const context = () => ({ livemode: config.stripe.livemode });

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(".000Z", "Z");

/** The report as a few lines for people: the CLI prints it, the schedule logs it. */
export function formatReport(report: ReconcileReport): string[] {
  const { events: e, checkouts: c, refunds: r } = report;
  // Only when there were pending refunds to ask about.
  const refundLine = (corrected: string) =>
    r.checked || r.notFound || r.failed
      ? [
          `pending refunds: ${r.checked} checked, ${r.corrected} ${corrected}${r.notFound ? `, ${r.notFound} not found in Stripe` : ""}${r.failed ? `, ${r.failed} failed` : ""}`,
        ]
      : [];
  const from =
    report.sinceFrom === "checkpoint"
      ? "the checkpoint, minus the overlap"
      : report.sinceFrom === "option"
        ? report.sinceClamped
          ? "--since, moved to 30 days ago: Stripe keeps events no longer"
          : "--since"
        : "30 days ago, as far back as Stripe keeps events";
  const lines = [`events since ${iso(report.since)} (${from})`];
  if (report.dryRun) {
    lines.push(`events: ${e.seen} seen, ${e.new} new (would be applied)`);
    lines.push(
      `checkouts: ${c.checked} checked, ${c.corrected} would be corrected${c.notFound ? `, ${c.notFound} not found in Stripe` : ""}`,
    );
    lines.push(...refundLine("would be corrected"));
    lines.push("dry run: nothing was written");
    return lines;
  }
  lines.push(
    `events: ${e.seen} seen, ${e.new} new, ${e.applied} applied, ${e.fulfilled} fulfilled${e.failed ? `, ${e.failed} failed` : ""}`,
  );
  lines.push(
    `checkouts: ${c.checked} checked, ${c.corrected} corrected, ${c.fulfilled} fulfilled${c.notFound ? `, ${c.notFound} not found in Stripe` : ""}${c.failed ? `, ${c.failed} failed` : ""}`,
  );
  lines.push(...refundLine("corrected"));
  lines.push(
    report.checkpoint.after === null
      ? "checkpoint: none yet"
      : report.checkpoint.after !== report.checkpoint.before
        ? `checkpoint: ${iso(report.checkpoint.after)}`
        : `checkpoint: ${iso(report.checkpoint.after)} (unchanged)`,
  );
  return lines;
}

/**
 * Runs reconcile every `config.reconcileIntervalMinutes` inside the server
 * process (off when 0, the default), first shortly after start. The lease keeps
 * several server processes from running it at once: a tick that finds it
 * held is skipped. Returns a function that stops the schedule.
 */
export function startReconcileSchedule(): () => void {
  const minutes = config.reconcileIntervalMinutes;
  if (!(minutes > 0)) return () => {};
  const intervalMs = Math.max(1_000, Math.round(minutes * 60_000));
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const report = await reconcile();
      logger.info(`reconcile (scheduled): ${formatReport(report).slice(1, 3).join("; ")}`);
    } catch (error: unknown) {
      if (error instanceof LockHeldError) {
        logger.info(`reconcile (scheduled): skipped, ${error.message}`);
      } else {
        logger.error(`reconcile (scheduled) failed: ${messageOf(error)}`);
      }
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void tick(), Math.min(10_000, intervalMs));
  const timer = setInterval(() => void tick(), intervalMs);
  first.unref();
  timer.unref();
  logger.info(`reconcile scheduled every ${minutes} min`);
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
