import Database from "better-sqlite3";
import { sql } from "drizzle-orm";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import pg from "pg";

import * as pgSchema from "../../db/schema/pg";
import * as sqliteSchema from "../../db/schema/sqlite";

import {
  type CatalogEntry,
  type Db,
  db as appDb,
  schema as appSchema,
  dialect,
  handle,
  readCatalog,
} from "~/lib/db.server";

/**
 * The one fixture through which a test reaches its database, whichever the
 * run gave it (SQLite file, or a PostgreSQL database of its own: see
 * tests/support/setup-pg.ts). Queries are Drizzle builders on the app's own
 * `db` (awaited, as in the app), or plain SQL through `query`, written with
 * `?` placeholders and the same table names on both.
 */
export const db: Db = appDb;
export const schema = appSchema;
export const testDialect = dialect;

/** Plain SQL with `?` placeholders; the rows as objects. */
export async function query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const chunks = text.split("?");
  const built = sql.join(
    chunks.flatMap((chunk, i) => (i < params.length ? [sql.raw(chunk), sql`${params[i]}`] : [sql.raw(chunk)])),
  );
  if (dialect === "sqlite") return (appDb as unknown as { all(query: unknown): T[] }).all(built);
  return (await db.execute(built)).rows as T[];
}

/** Seeds the catalog into an empty products table, as opening a fresh database does. */
export async function seedCatalog(entries: CatalogEntry[] = readCatalog()) {
  const existing = await db.select().from(schema.products).limit(1);
  if (existing.length > 0) return;
  for (const entry of entries) {
    await db
      .insert(schema.products)
      .values({
        ...entry,
        stripeProductId: entry.stripeProductId ?? null,
        recurringInterval: entry.recurringInterval ?? null,
      })
      .onConflictDoNothing();
  }
}

/** The SQLite connection itself, for the few tests that break SQLite on purpose (pragmas, locks). */
export function sqliteConnection() {
  if (handle.dialect !== "sqlite") throw new Error("this test needs SQLite");
  return handle.sqlite;
}

/** Every row of every table, ordered, to compare before and after. */
export async function snapshot(): Promise<Record<string, unknown[]>> {
  const tables =
    dialect === "sqlite"
      ? await query<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name",
        )
      : await query<{ name: string }>(
          "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        );
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    // Ordered by every column: the same rows compare equal whatever their physical order.
    out[name] = await query(`SELECT * FROM "${name}" ORDER BY 1, 2`);
  }
  return out;
}

/** A connection of this test's own to a built server's database (the same kind as the app's). */
export async function openServerDb(server: { databasePath: string; databaseUrl?: string }) {
  if (server.databaseUrl) {
    const pool = new pg.Pool({ connectionString: server.databaseUrl, max: 2 });
    return { db: drizzlePg(pool, { schema: pgSchema }) as Db, close: () => pool.end() };
  }
  const sqlite = new Database(server.databasePath);
  sqlite.pragma("busy_timeout = 5000");
  return {
    // The same seam as app/lib/db.server.ts: the SQLite builder behind the common type.
    db: drizzleSqlite(sqlite, { schema: sqliteSchema }) as unknown as Db,
    close: async () => {
      sqlite.close();
    },
  };
}

/**
 * Plain SQL (`?` placeholders) on a built server's database, over a
 * connection of this test's own that is closed again: a file on SQLite, the
 * server's own database on PostgreSQL.
 */
export async function serverQuery<T = Record<string, unknown>>(
  server: { databasePath: string; databaseUrl?: string },
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  if (server.databaseUrl) {
    const client = new pg.Client({ connectionString: server.databaseUrl });
    await client.connect();
    try {
      let n = 0;
      return (
        await client.query(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        )
      ).rows as T[];
    } finally {
      await client.end();
    }
  }
  const sqlite = new Database(server.databasePath);
  sqlite.pragma("busy_timeout = 5000");
  try {
    const statement = sqlite.prepare(text);
    if (statement.reader) return statement.all(...params) as T[];
    statement.run(...params);
    return [];
  } finally {
    sqlite.close();
  }
}
