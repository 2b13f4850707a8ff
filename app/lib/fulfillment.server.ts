import * as pgTables from "../../db/schema/pg";
import * as sqliteTables from "../../db/schema/sqlite";
import type { CheckoutSession } from "../../db/schema/types";
import type { PgDb, SqliteDb } from "./db.server";
import { orderPaidJob } from "./jobs/order-paid.server";
import type { NewJob } from "./jobs/types";
import { logger } from "./logger.server";

/** The transaction the state machine runs in, per dialect; a hook writes through it. */
export type Tx =
  | { dialect: "sqlite"; tx: Parameters<Parameters<SqliteDb["transaction"]>[0]>[0] }
  | { dialect: "postgres"; tx: Parameters<Parameters<PgDb["transaction"]>[0]>[0] };

/**
 * What happens, inside the state machine's transaction, when a checkout is
 * first paid: the `order.paid` job is enqueued (its key makes a second
 * enqueue a no-op), then the in-transaction hooks run. Work after payment is a
 * job handler (app/lib/jobs/handlers.server.ts); a hook is the one way to
 * write rows in the payment's own transaction (an access grant that must
 * exist the moment the order is paid), through `tx` only: no network, no
 * other connection. A hook that throws rolls the whole event back, job
 * included, and Stripe (or the reconcile command) delivers it again. On
 * SQLite the transaction is synchronous, so a hook must be too; on PostgreSQL
 * it may return a promise, which is awaited before the commit.
 * docs/decisions/100-jobs-after-payment.md
 */
export type FulfillmentHook = (tx: Tx, checkout: CheckoutSession) => void | Promise<void>;

const hooks = new Set<FulfillmentHook>();

export function onFulfill(hook: FulfillmentHook): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

const jobRow = (job: NewJob, now: number) => ({
  key: job.key,
  kind: job.kind,
  payload: JSON.stringify(job.payload),
  runAfter: job.runAfter ?? now,
  createdAt: now,
  updatedAt: now,
});

/** Enqueues a job in the state machine's transaction; false when one with its key exists. */
export function enqueueInTransactionSync(tx: Extract<Tx, { dialect: "sqlite" }>, job: NewJob, now = Date.now()) {
  const rows = tx.tx
    .insert(sqliteTables.jobs)
    .values(jobRow(job, now))
    .onConflictDoNothing()
    .returning({ id: sqliteTables.jobs.id })
    .all();
  return rows.length > 0;
}

export async function enqueueInTransaction(tx: Extract<Tx, { dialect: "postgres" }>, job: NewJob, now = Date.now()) {
  const rows = await tx.tx
    .insert(pgTables.jobs)
    .values(jobRow(job, now))
    .onConflictDoNothing()
    .returning({ id: pgTables.jobs.id });
  return rows.length > 0;
}

const logFulfilled = (checkout: CheckoutSession) =>
  logger.info({ checkoutId: checkout.id }, `fulfilled checkout_session=${checkout.id} shopper=${checkout.shopperId}`);

/** Inside a synchronous better-sqlite3 transaction. */
export function fulfillSync(tx: Extract<Tx, { dialect: "sqlite" }>, checkout: CheckoutSession) {
  enqueueInTransactionSync(tx, orderPaidJob(checkout.id));
  for (const hook of hooks) {
    const result = hook(tx, checkout);
    if (result instanceof Promise) {
      // The transaction would commit before the hook's work: refuse, and roll back.
      result.catch(() => {});
      throw new Error("A fulfillment hook returned a promise inside SQLite's synchronous transaction");
    }
  }
  logFulfilled(checkout);
}

export async function fulfillAsync(tx: Extract<Tx, { dialect: "postgres" }>, checkout: CheckoutSession) {
  await enqueueInTransaction(tx, orderPaidJob(checkout.id));
  for (const hook of hooks) await hook(tx, checkout);
  logFulfilled(checkout);
}
