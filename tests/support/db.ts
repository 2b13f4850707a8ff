import * as sqliteSchema from "../../db/schema/sqlite";
import { type CatalogEntry, handle, readCatalog, type SqliteDb } from "~/lib/db.server";

/**
 * The test's database, as the app opened it. For now the tests read and write
 * it through the SQLite builder (synchronous .get/.all/.run); the PostgreSQL
 * run of the integration suite needs these helpers made async first (see the
 * report of issue 11's branch).
 */
function sqliteHandle() {
  if (handle.dialect !== "sqlite") throw new Error("tests/support/db.ts: this test reads SQLite directly");
  return handle;
}

export const db: SqliteDb = sqliteHandle().sqliteDb;
export const sqlite = sqliteHandle().sqlite;
export const schema = sqliteSchema;

/** Seeds the catalog into an empty products table, as opening a fresh database does. */
export function seedCatalog(target: SqliteDb, entries: CatalogEntry[] = readCatalog()) {
  const existing = target.select().from(sqliteSchema.products).limit(1).all();
  if (existing.length > 0) return;
  for (const entry of entries) {
    target
      .insert(sqliteSchema.products)
      .values({
        ...entry,
        stripeProductId: entry.stripeProductId ?? null,
        recurringInterval: entry.recurringInterval ?? null,
      })
      .onConflictDoNothing()
      .run();
  }
}
