import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { onPaidInTransaction, orderPaidInTransactionPg, orderPaidInTransactionSqlite } from "~/lib/jobs/paid.server";

import { dialects, type JobsFixture, openFixture } from "../support/jobs";

// What the state machine calls when an order first becomes paid: the job and
// the in-transaction hooks' rows commit or roll back with the payment.
describe.each(await dialects())("order paid, in the payment's transaction, on %s", (dialect) => {
  let db: JobsFixture;
  let run: (checkoutId: string, rollBack: boolean) => Promise<void>;
  let close: () => Promise<void> = async () => {};
  let removeHook: () => void = () => {};

  beforeAll(async () => {
    db = await openFixture(dialect);
    // The hook writes an access grant through the transaction it is given; the effects table stands in for one.
    removeHook = onPaidInTransaction({
      name: "grant-access",
      sqlite: (sqlite, checkoutId) =>
        void sqlite.prepare("INSERT INTO effects (key, worker) VALUES (?, 'grant')").run(checkoutId),
      postgresql: async (client, checkoutId) =>
        void (await client.query("INSERT INTO effects (key, worker) VALUES ($1, 'grant')", [checkoutId])),
    });
    if (dialect === "sqlite") {
      const sqlite = new Database(db.childEnv.JOBS_DATABASE);
      sqlite.pragma("busy_timeout = 5000");
      run = async (checkoutId, rollBack) => {
        try {
          sqlite.transaction(() => {
            orderPaidInTransactionSqlite(sqlite, checkoutId);
            if (rollBack) throw new Error("roll back");
          })();
        } catch (error: unknown) {
          if (!rollBack) throw error;
        }
      };
      close = async () => void sqlite.close();
    } else {
      const pool = new pg.Pool({ connectionString: db.childEnv.JOBS_DATABASE, max: 2 });
      run = async (checkoutId, rollBack) => {
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          await orderPaidInTransactionPg(client, checkoutId);
          await client.query(rollBack ? "ROLLBACK" : "COMMIT");
        } finally {
          client.release();
        }
      };
      close = () => pool.end();
    }
  });
  afterAll(async () => {
    removeHook();
    await close();
    await db?.close();
  });

  it("commits the order.paid job and the hook's row together", async () => {
    await run("cs_test_committed", false);
    const jobs = await db.store.list({ limit: 10 });
    expect(jobs.map((j) => [j.kind, j.key, JSON.parse(j.payload)])).toEqual([
      ["order.paid", "order.paid:cs_test_committed", { checkoutId: "cs_test_committed" }],
    ]);
    expect(await db.effects()).toEqual([{ key: "cs_test_committed", worker: "grant" }]);
  });

  it("leaves neither when the payment's transaction rolls back", async () => {
    await run("cs_test_rolled_back", true);
    expect((await db.store.list({ limit: 10 })).map((j) => j.key)).not.toContain("order.paid:cs_test_rolled_back");
    expect((await db.effects()).map((e) => e.key)).not.toContain("cs_test_rolled_back");
  });
});
