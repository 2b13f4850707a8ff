import type { CheckoutSession } from "../../db/schema/types";
import type { PgDb, SqliteDb } from "./db.server";
import { logger } from "./logger.server";

/** The transaction the state machine runs in, per dialect; a hook writes through it. */
export type Tx =
  | { dialect: "sqlite"; tx: Parameters<Parameters<SqliteDb["transaction"]>[0]>[0] }
  | { dialect: "postgres"; tx: Parameters<Parameters<PgDb["transaction"]>[0]>[0] };

/**
 * What a shop does when a checkout is first paid: send mail, grant access,
 * ship. Hooks run inside the state machine's transaction, exactly once per
 * checkout: write durable work (an outbox row, a grant) through `tx` and let a
 * worker do the slow part. A hook that throws rolls the whole event back, and
 * Stripe (or the reconcile command) delivers it again. On SQLite the
 * transaction is synchronous, so a hook must be too; on PostgreSQL it may
 * return a promise, which is awaited before the commit.
 */
export type FulfillmentHook = (tx: Tx, checkout: CheckoutSession) => void | Promise<void>;

const hooks = new Set<FulfillmentHook>();

export function onFulfill(hook: FulfillmentHook): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

const logFulfilled = (checkout: CheckoutSession) =>
  logger.info({ checkoutId: checkout.id }, `fulfilled checkout_session=${checkout.id} shopper=${checkout.shopperId}`);

/** Inside a synchronous better-sqlite3 transaction. */
export function fulfillSync(tx: Extract<Tx, { dialect: "sqlite" }>, checkout: CheckoutSession) {
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
  for (const hook of hooks) await hook(tx, checkout);
  logFulfilled(checkout);
}
