import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createTestDatabase, postgresUnavailable, type TestDatabase, testPool } from "../support/pg-database";
import { root, spawnNode } from "../support/processes";

/**
 * `npm run db:copy-to-postgres`: a SQLite shop with rows in every table,
 * copied into an empty PostgreSQL database, holds the same rows there; the
 * next product gets the next id; a second copy into the now non-empty
 * database is refused and changes nothing.
 */

const unavailable = await postgresUnavailable();
const title = unavailable
  ? `copying a SQLite shop into PostgreSQL: DID NOT RUN, ${unavailable}`
  : "copying a SQLite shop into PostgreSQL";

const TABLES = [
  "products",
  "shoppers",
  "checkout_sessions",
  "stripe_events",
  "job_locks",
  "job_checkpoints",
  "rate_limits",
];

function sqliteShop(file: string) {
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  migrate(drizzle(sqlite), { migrationsFolder: path.join(root, "db", "migrations", "sqlite") });
  const product = sqlite.prepare(
    "INSERT INTO products (slug, name, description, stripe_price_id, mode, unit_amount, currency, max_quantity, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  product.run("ceramic-pour-over", "Pour-over", "A cone.", "price_a", "payment", 3200, "usd", 5, 1);
  product.run("old-mug", "An old mug", "Retired.", "price_b", "payment", 1500, "usd", 3, 0);
  product.run("coffee-club", "Coffee club", "Monthly.", "price_c", "subscription", 1800, "usd", 1, 1);
  sqlite.prepare("DELETE FROM products WHERE slug = 'ceramic-pour-over'").run(); // a gap in the ids
  sqlite
    .prepare("INSERT INTO shoppers (id, stripe_customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)")
    .run("copyshopper00000000001", "cus_copy1", 1_700_000_000_000, 1_700_000_000_500);
  sqlite.prepare("INSERT INTO shoppers (id) VALUES (?)").run("copyshopper00000000002");
  const checkout = sqlite.prepare(
    `INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, status, payment_status, amount_total, currency,
       form_token, customer_email, stripe_subscription_id, subscription_status, subscription_event_at, fulfilled_at, flag)
     VALUES (?, ?, (SELECT id FROM products WHERE slug = ?), ?, ?, ?, ?, ?, 'usd', ?, ?, ?, ?, ?, ?, ?)`,
  );
  checkout.run(
    "cs_test_copy1",
    "copyshopper00000000001",
    "old-mug",
    2,
    "payment",
    "complete",
    "paid",
    3000,
    "t1",
    "a@example.com",
    null,
    null,
    null,
    1_700_000_001_000,
    null,
  );
  checkout.run(
    "cs_test_copy2",
    "copyshopper00000000001",
    "coffee-club",
    1,
    "subscription",
    "complete",
    "paid",
    1800,
    "t2",
    null,
    "sub_copy",
    "past_due",
    1_700_000_002,
    1_700_000_002_000,
    null,
  );
  checkout.run(
    "cs_test_copy3",
    "copyshopper00000000002",
    "old-mug",
    1,
    "payment",
    "complete",
    "unpaid",
    9999,
    "t3",
    null,
    null,
    null,
    null,
    null,
    "amount_mismatch",
  );
  const event = sqlite.prepare(
    "INSERT INTO stripe_events (id, type, created, livemode, payload, object_id, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  event.run(
    "evt_copy1",
    "checkout.session.completed",
    1_700_000_001,
    0,
    '{"id":"evt_copy1","ü":"✓"}',
    "cs_test_copy1",
    "webhook",
  );
  event.run(
    "evt_copy2",
    "customer.subscription.updated",
    1_700_000_002,
    0,
    '{"id":"evt_copy2"}',
    "sub_copy",
    "reconcile",
  );
  sqlite.prepare("INSERT INTO job_locks VALUES ('reconcile', 'host:1', 1700000000000, 1700000060000)").run();
  sqlite
    .prepare(
      "INSERT INTO job_checkpoints (name, checkpoint, updated_at) VALUES ('reconcile', 1700000002, 1700000003000)",
    )
    .run();
  sqlite.prepare("INSERT INTO rate_limits VALUES ('order_lookups', 'address:10.0.0.1', 1700000000000, 7)").run();
  sqlite.close();
}

/** Rows by table, values as JSON would carry them (0/1 and booleans alike, bigint as number). */
function normalize(rows: Record<string, unknown>[], booleans: Set<string>) {
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [
        k,
        booleans.has(k) && v !== null
          ? Boolean(v)
          : typeof v === "string" && /^\d+$/.test(v) && k !== "id"
            ? Number(v)
            : v,
      ]),
    ),
  );
}

function copy(env: Record<string, string>) {
  const proc = spawnNode("db:copy-to-postgres", ["--import", "tsx", path.join(root, "scripts/copy-sqlite-to-pg.ts")], {
    env,
  });
  return new Promise<{ code: number; output: string }>((resolve) =>
    proc.child.once("exit", (code) =>
      setTimeout(() => resolve({ code: code ?? -1, output: proc.output.join("\n") }), 50),
    ),
  );
}

describe.skipIf(unavailable !== null)(title, () => {
  let database: TestDatabase;
  let dir: string;
  let pool: ReturnType<typeof testPool>;
  beforeAll(async () => {
    database = await createTestDatabase("shop_copy");
    pool = testPool(database.url);
    dir = mkdtempSync(path.join(os.tmpdir(), "shop-copy-"));
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("copies every table, row for row, resets the product ids' sequence, prints the counts, and refuses a second time", async () => {
    const file = path.join(dir, "app.db");
    sqliteShop(file);
    // What `npm run db:migrate` leaves: the seeded catalog, which the copy replaces.
    await pool.query(
      "INSERT INTO products (slug, name, description, stripe_price_id, mode, unit_amount, currency, max_quantity) VALUES ('linen-apron', 'Apron', 'x', 'price_x', 'payment', 4900, 'eur', 3)",
    );

    const result = await copy({ DATABASE_PATH: file, DATABASE_URL: database.url });
    expect(result.output).toContain("in one transaction");
    expect(result.code).toBe(0);
    for (const [table, n] of [
      ["products", 2],
      ["shoppers", 2],
      ["checkout_sessions", 3],
      ["stripe_events", 2],
      ["job_locks", 1],
      ["job_checkpoints", 1],
      ["rate_limits", 1],
    ] as const) {
      expect(result.output).toMatch(new RegExp(`${table}\\s+${n}\\b`));
    }

    const sqlite = new Database(file, { readonly: true });
    for (const table of TABLES) {
      const order = table === "rate_limits" ? "name, key" : table.startsWith("job_") ? "name" : "id";
      const from = sqlite.prepare(`SELECT * FROM "${table}" ORDER BY ${order}`).all() as Record<string, unknown>[];
      const to = (await pool.query(`SELECT * FROM "${table}" ORDER BY ${order}`)).rows as Record<string, unknown>[];
      const booleans = new Set(["active", "livemode", "shippable"]);
      expect(normalize(to, booleans), table).toEqual(normalize(from, booleans));
      expect(to.length, table).toBeGreaterThan(0);
    }
    const maxId = (sqlite.prepare("SELECT max(id) AS id FROM products").get() as { id: number }).id;
    sqlite.close();

    const next = await pool.query(
      "INSERT INTO products (slug, name, description, stripe_price_id, mode, unit_amount, currency, max_quantity) VALUES ('new-one', 'New', 'x', 'price_n', 'payment', 100, 'usd', 1) RETURNING id",
    );
    expect(next.rows[0].id).toBe(maxId + 1);

    const before = (await pool.query("SELECT count(*)::int AS n FROM stripe_events")).rows[0].n;
    const again = await copy({ DATABASE_PATH: file, DATABASE_URL: database.url });
    expect(again.code).toBe(1);
    expect(again.output).toMatch(
      /refusing to copy: the PostgreSQL database .* is not empty: .*checkout_sessions \(3 rows\)/,
    );
    expect((await pool.query("SELECT count(*)::int AS n FROM stripe_events")).rows[0].n).toBe(before);
  }, 60_000);
});
