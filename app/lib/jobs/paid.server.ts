import type Database from "better-sqlite3";
import type { PoolClient } from "pg";

import { orderPaidJob } from "./order-paid.server";
import { enqueue as enqueuePg } from "./pg-store.server";
import { enqueue as enqueueSqlite } from "./sqlite-store.server";

/**
 * What the state machine does, inside its transaction, when an order first
 * becomes paid: enqueue `order.paid`, then run the in-transaction hooks. Those
 * hooks are the one way to write rows in the payment's own transaction (an
 * access grant that must exist the moment the order is paid): they get the
 * transaction and the checkout id, may only read and write through that
 * transaction (no network, no other connection, no timers), and a hook that
 * throws rolls the payment back, so the webhook answers 5xx and Stripe
 * delivers again. Anything slower or outside the database is a job handler
 * (handlers.server.ts). docs/decisions/100-jobs-after-payment.md.
 */

export type InTransactionHook = {
  name: string;
  /** SQLite: synchronous (better-sqlite3 would commit at the first await). */
  sqlite?: (sqlite: Database.Database, checkoutId: string) => void;
  /** PostgreSQL: the transaction's own client. */
  postgresql?: (client: PoolClient, checkoutId: string) => Promise<void>;
};

const hooks = new Map<string, InTransactionHook>();

/** Registers a hook (once per name); returns the function that removes it. */
export function onPaidInTransaction(hook: InTransactionHook): () => void {
  hooks.set(hook.name, hook);
  return () => hooks.delete(hook.name);
}

/** SQLite: call inside the state machine's synchronous transaction on `sqlite`. */
export function orderPaidInTransactionSqlite(sqlite: Database.Database, checkoutId: string, now = Date.now()) {
  enqueueSqlite(sqlite, orderPaidJob(checkoutId), now);
  for (const hook of hooks.values()) {
    if (!hook.sqlite) throw new Error(`in-transaction hook ${hook.name} has no SQLite version`);
    hook.sqlite(sqlite, checkoutId);
  }
}

/** PostgreSQL: call with the state machine's transaction client, before COMMIT. */
export async function orderPaidInTransactionPg(client: PoolClient, checkoutId: string, now = Date.now()) {
  await enqueuePg(client, orderPaidJob(checkoutId), now);
  for (const hook of hooks.values()) {
    if (!hook.postgresql) throw new Error(`in-transaction hook ${hook.name} has no PostgreSQL version`);
    await hook.postgresql(client, checkoutId);
  }
}
