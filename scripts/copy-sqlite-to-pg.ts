// `npm run db:copy-to-postgres`: copies every table of the SQLite shop at
// DATABASE_PATH into the PostgreSQL database at DATABASE_URL, in one
// transaction, for a shop moving to several instances (README, "Scale out").
// The target must be empty: migrated, and holding at most the catalog that
// `npm run db:migrate` seeds (docs/decisions/120-copy-sqlite-to-postgres.md).
import { readFileSync } from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";
import { is } from "drizzle-orm";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { migrate as migrateSqlite } from "drizzle-orm/better-sqlite3/migrator";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

import * as pgSchema from "../db/schema/pg";

const root = process.cwd();
const source = process.env.DATABASE_PATH ?? "data/app.db";
const target = process.env.DATABASE_URL;

class NotEmpty extends Error {}

function fail(message: string): never {
  process.stderr.write(`db:copy-to-postgres: ${message}\n`);
  process.exit(1);
}

if (!target || !/^postgres(ql)?:\/\//.test(target)) {
  fail("DATABASE_URL must name the PostgreSQL database to copy into (postgres://...).");
}

// The tables, each after the tables it references (a module's exports come sorted by name).
const tables = (() => {
  const all = (Object.values(pgSchema) as unknown[])
    .filter((value): value is PgTable => is(value, PgTable))
    .map((table) => ({ table, config: getTableConfig(table) }));
  const ordered: ReturnType<typeof getTableConfig>[] = [];
  const visit = (entry: (typeof all)[number]) => {
    if (ordered.includes(entry.config)) return;
    for (const fk of entry.config.foreignKeys) {
      const referenced = all.find((other) => other.table === fk.reference().foreignTable);
      if (referenced && referenced !== entry) visit(referenced);
    }
    ordered.push(entry.config);
  };
  for (const entry of all) visit(entry);
  return ordered;
})();

let sqlite: Database.Database;
try {
  sqlite = new Database(source, { fileMustExist: true });
} catch (error: unknown) {
  fail(`cannot open the SQLite file ${source} (DATABASE_PATH): ${error instanceof Error ? error.message : error}`);
}
sqlite.pragma("busy_timeout = 5000");
// Brought to the latest schema first, as starting the app would: the columns then match.
migrateSqlite(drizzleSqlite(sqlite), { migrationsFolder: path.join(root, "db", "migrations", "sqlite") });

const where = new URL(target);
const name = `${where.hostname}:${where.port || 5432}${where.pathname}`;
const pool = new pg.Pool({ connectionString: target, max: 1, connectionTimeoutMillis: 5_000 });
let client: pg.PoolClient;
try {
  client = await pool.connect();
} catch (error: unknown) {
  fail(`cannot connect to PostgreSQL at ${name}: ${error instanceof Error ? error.message : error}`);
}

try {
  await migratePg(drizzlePg(client), { migrationsFolder: path.join(root, "db", "migrations", "pg") });
  await client.query("BEGIN");
  // No instance may write while the copy runs, nor between the check and the copy.
  await client.query(`LOCK TABLE ${tables.map((t) => `"${t.name}"`).join(", ")} IN ACCESS EXCLUSIVE MODE`);
  await refuseUnlessEmpty(client);
  await client.query("DELETE FROM products");

  const counts: [string, number][] = [];
  for (const table of tables) {
    const columns = table.columns;
    const rows = sqlite
      .prepare(`SELECT ${columns.map((c) => `"${c.name}"`).join(", ")} FROM "${table.name}"`)
      .raw()
      .all() as unknown[][];
    // SQLite keeps booleans as 0/1.
    const booleans = columns.map((c) => c.getSQLType() === "boolean");
    const batch = Math.max(1, Math.floor(60_000 / columns.length));
    for (let start = 0; start < rows.length; start += batch) {
      const chunk = rows.slice(start, start + batch);
      const params: unknown[] = [];
      const tuples = chunk.map((row) => {
        const marks = row.map((value, i) => {
          params.push(booleans[i] && value !== null ? Boolean(value) : value);
          return `$${params.length}`;
        });
        return `(${marks.join(", ")})`;
      });
      await client.query(
        `INSERT INTO "${table.name}" (${columns.map((c) => `"${c.name}"`).join(", ")}) VALUES ${tuples.join(", ")}`,
        params,
      );
    }
    counts.push([table.name, rows.length]);
  }

  // serial columns: the next id follows the copied ones.
  for (const table of tables) {
    for (const column of table.columns.filter((c) => c.getSQLType() === "serial")) {
      await client.query(
        `SELECT setval(pg_get_serial_sequence('"${table.name}"', '${column.name}'), COALESCE((SELECT max("${column.name}") FROM "${table.name}"), 0) + 1, false)`,
      );
    }
  }
  await client.query("COMMIT");

  console.log(`copied ${source} into PostgreSQL ${name}, in one transaction:`);
  for (const [table, n] of counts) console.log(`  ${table.padEnd(20)} ${n}`);
} catch (error: unknown) {
  await client.query("ROLLBACK").catch(() => {});
  if (error instanceof NotEmpty) fail(error.message);
  fail(`nothing was copied: ${error instanceof Error ? error.message : error}`);
} finally {
  client.release();
  await pool.end();
  sqlite.close();
}

/** Empty: no rows but the catalog `npm run db:migrate` seeds (db/catalog.json), which the copy replaces. */
async function refuseUnlessEmpty(c: pg.PoolClient) {
  const seeded = new Set(
    (
      JSON.parse(readFileSync(path.join(root, "db", "catalog.json"), "utf8")) as { products: { slug: string }[] }
    ).products.map((p) => p.slug),
  );
  const held: string[] = [];
  for (const table of tables) {
    const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${table.name}"`);
    const n = Number(rows[0]!.n);
    if (n === 0) continue;
    if (table.name === "products") {
      const slugs = (await c.query<{ slug: string }>("SELECT slug FROM products")).rows.map((r) => r.slug);
      if (slugs.every((slug) => seeded.has(slug))) continue;
    }
    held.push(`${table.name} (${n} rows)`);
  }
  if (held.length > 0) {
    throw new NotEmpty(
      `refusing to copy: the PostgreSQL database ${name} is not empty: ${held.join(", ")}. Copy into a new database (createdb, then npm run db:migrate).`,
    );
  }
}
