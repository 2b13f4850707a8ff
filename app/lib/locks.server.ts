import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

import { and, eq, lte, or } from "drizzle-orm";

import { db, schema } from "./db.server";
import { describeDatabaseError } from "./db-errors.server";
import { logger } from "./logger.server";

const { jobLocks } = schema;

/**
 * Leases in the `job_locks` table, so that a job (the reconcile run) never
 * runs twice at once, across processes and machines sharing the database.
 * A lease expires on its own: a holder that crashes blocks the job for at
 * most one lease time. A holder renews while it runs and releases at the end.
 */

export class LockHeldError extends Error {
  override name = "LockHeldError";
  constructor(
    readonly job: string,
    readonly holder: string,
    readonly expiresAt: number,
  ) {
    super(
      `Another ${job} run holds the lock: ${holder}, until ${new Date(expiresAt).toISOString()} unless it renews it.`,
    );
  }
}

export type Lease = {
  readonly job: string;
  readonly holder: string;
  /** False once a renewal found the lease taken over (this holder stalled past its expiry). */
  held(): boolean;
  release(): Promise<void>;
};

/** Who holds a lease: host, process and a random part, so that two runs in one process differ too. */
export function newHolder() {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

type Attempt = { acquired: true } | { acquired: false; holder: string; expiresAt: number };

/**
 * Takes the lease if it is free, expired or already this holder's, in one
 * statement (the database decides who wins, on either dialect).
 */
export async function tryAcquire(job: string, holder: string, ttlMs: number, now = Date.now()): Promise<Attempt> {
  const won = await db
    .insert(jobLocks)
    .values({ name: job, holder, acquiredAt: now, expiresAt: now + ttlMs })
    .onConflictDoUpdate({
      target: jobLocks.name,
      set: { holder, acquiredAt: now, expiresAt: now + ttlMs },
      setWhere: or(eq(jobLocks.holder, holder), lte(jobLocks.expiresAt, now)),
    })
    .returning({ name: jobLocks.name });
  if (won.length > 0) return { acquired: true };
  const current = await currentHolder(job);
  // Released between the two statements: free now, try again.
  if (!current) return tryAcquire(job, holder, ttlMs, now);
  return { acquired: false, holder: current.holder, expiresAt: current.expiresAt };
}

/** Extends the lease; false when this holder no longer has it. */
export async function renew(job: string, holder: string, ttlMs: number, now = Date.now()) {
  const renewed = await db
    .update(jobLocks)
    .set({ expiresAt: now + ttlMs })
    .where(and(eq(jobLocks.name, job), eq(jobLocks.holder, holder)))
    .returning({ name: jobLocks.name });
  return renewed.length === 1;
}

export async function release(job: string, holder: string) {
  await db.delete(jobLocks).where(and(eq(jobLocks.name, job), eq(jobLocks.holder, holder)));
}

export async function currentHolder(job: string) {
  const [row] = await db.select().from(jobLocks).where(eq(jobLocks.name, job)).limit(1);
  return row;
}

/**
 * Acquires the lease for `job`, waiting up to `waitMs` for another holder to
 * release it (or for its lease to run out), and keeps it renewed until
 * released. Throws LockHeldError when it is still held after the wait.
 */
export async function acquireLease(
  job: string,
  {
    ttlMs = 120_000,
    waitMs = 0,
    pollMs = 250,
    holder = newHolder(),
  }: { ttlMs?: number; waitMs?: number; pollMs?: number; holder?: string } = {},
): Promise<Lease> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const attempt = await tryAcquire(job, holder, ttlMs);
    if (attempt.acquired) break;
    if (Date.now() >= deadline) throw new LockHeldError(job, attempt.holder, attempt.expiresAt);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
  }

  let held = true;
  const timer = setInterval(
    () => {
      renew(job, holder, ttlMs).then(
        (renewed) => {
          if (!renewed) {
            held = false;
            clearInterval(timer);
          }
        },
        (error: unknown) => {
          // A busy database: the lease still has most of its time; try again next tick.
          logger.warn(`lease renewal failed job=${job}: ${describeDatabaseError(error)}`);
        },
      );
    },
    Math.max(1_000, Math.floor(ttlMs / 3)),
  );
  timer.unref();

  return {
    job,
    holder,
    held: () => held,
    async release() {
      clearInterval(timer);
      const wasHeld = held;
      held = false;
      if (wasHeld) await release(job, holder);
    },
  };
}
