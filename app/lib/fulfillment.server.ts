import type { CheckoutSession } from "../../db/schema/types";
import type { PgDb, SqliteDb } from "./db.server";
import { enqueuePg, enqueueSqlite } from "./jobs/enqueue.server";
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

/** Enqueues a job in the state machine's transaction; false when one with its key exists (app/lib/jobs/enqueue.server.ts). */
export function enqueueInTransactionSync(tx: Extract<Tx, { dialect: "sqlite" }>, job: NewJob, now = Date.now()) {
  return enqueueSqlite(tx.tx, job, now);
}

export function enqueueInTransaction(tx: Extract<Tx, { dialect: "postgres" }>, job: NewJob, now = Date.now()) {
  return enqueuePg(tx.tx, job, now);
}

/** The log line of a checkout first paid (on PostgreSQL the store logs it after the commit that holds it). */
export const logFulfilled = (checkout: CheckoutSession) =>
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

/**
 * On PostgreSQL, after the `order.paid` job (orderPaidJob) was enqueued in the
 * same transaction: the PostgreSQL store folds it into the statement that
 * marks the order fulfilled, and logs the fulfillment once that transaction
 * has committed (app/lib/orders/pg-store.server.ts): a transaction there may
 * roll back and run again (a deadlock, a failing event of its batch), and the
 * hooks with it; what they wrote through `tx` commits once.
 */
export async function fulfillAsync(tx: Extract<Tx, { dialect: "postgres" }>, checkout: CheckoutSession) {
  for (const hook of hooks) await hook(tx, checkout);
}
