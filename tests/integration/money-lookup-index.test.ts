import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";

import { moneyLink } from "~/lib/orders/link";
import type { ChargeNews } from "~/lib/orders/transition";
import { db, schema, sqliteConnection, testDialect } from "../support/db";

/**
 * A charge, refund or dispute finds its order by the payment intent the
 * completion stored, or the charge an earlier refund or dispute linked
 * (app/lib/orders/link.ts). That look-up runs inside the webhook's write
 * transaction; without an index it read the whole checkout_sessions table
 * (56 ms at 300,000 orders on SQLite, blocking the one writer), so every
 * refund slowed every delivery behind it. The query the stores build is
 * planned here on each database: both ids through their own index.
 */

const news: ChargeNews = {
  kind: "charge",
  chargeId: "ch_test_plan",
  paymentIntentId: "pi_test_plan",
  amountRefunded: 100,
  created: 1_700_000_000,
};

function moneyQuery() {
  return db
    .select({ id: schema.checkoutSessions.id })
    .from(schema.checkoutSessions)
    .where(moneyLink(schema.checkoutSessions, news))
    .limit(1)
    .toSQL();
}

describe("the order of a charge, refund or dispute", () => {
  it("is looked up through the payment intent and charge indexes, not a scan of every order", async () => {
    const query = moneyQuery();
    let plan: string;
    if (testDialect === "sqlite") {
      const rows = sqliteConnection()
        .prepare(`explain query plan ${query.sql}`)
        .all(...query.params) as { detail: string }[];
      plan = rows.map((r) => r.detail).join("\n");
    } else {
      // A test table is small enough that PostgreSQL would scan it anyway: with scans
      // priced out, the plan shows whether an index can answer the query at all.
      plan = await db.transaction(async (tx) => {
        await tx.execute(sql`set local enable_seqscan = off`);
        const { rows } = await tx.execute(
          sql.raw(`explain ${query.sql.replace(/\$(\d+)/g, (_, n) => `'${String(query.params[Number(n) - 1])}'`)}`),
        );
        return rows.map((r) => String((r as Record<string, unknown>)["QUERY PLAN"])).join("\n");
      });
    }
    expect(plan).toContain("checkout_sessions_payment_intent_idx");
    expect(plan).toContain("checkout_sessions_charge_idx");
    expect(plan).not.toMatch(/SCAN checkout_sessions$|Seq Scan/m);
  });
});
