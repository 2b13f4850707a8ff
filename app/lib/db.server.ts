import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { count } from "drizzle-orm";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";

import * as schema from "../../db/schema";
import { applyCatalogFile, type CatalogEntry, describeCatalogChanges, readCatalog } from "./catalog-file.server";
import { config } from "./config.server";

export type DB = BetterSQLite3Database<typeof schema>;

const root = process.cwd();
export const MIGRATIONS_FOLDER = path.join(root, "db", "migrations");

/**
 * The connection's pragmas. Only journal_mode=WAL persists in the file;
 * synchronous, busy_timeout and foreign_keys belong to the connection, so they
 * are set on every open.
 */
export function applyPragmas(sqlite: Database.Database, busyTimeoutMs: number) {
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  sqlite.pragma("foreign_keys = ON");
}

// The file's schema and its validation live in catalog-file.server.ts.
export { CATALOG_PATH, type CatalogEntry, readCatalog } from "./catalog-file.server";

/** Opens (creating if needed) a database, migrates it and seeds an empty catalog. */
export function openDatabase(
  file: string,
  { busyTimeoutMs = 5_000, seed = true }: { busyTimeoutMs?: number; seed?: boolean } = {},
) {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new Database(file);
  applyPragmas(sqlite, busyTimeoutMs);
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  if (seed) seedCatalog(db);
  return { sqlite, db };
}

export function seedCatalog(db: DB, entries: CatalogEntry[] = readCatalog()) {
  db.transaction(
    (tx) => {
      const existing = tx.select({ n: count() }).from(schema.products).get();
      if ((existing?.n ?? 0) > 0) return;
      for (const entry of entries) {
        tx.insert(schema.products)
          .values({
            slug: entry.slug,
            name: entry.name,
            description: entry.description,
            stripeProductId: entry.stripeProductId ?? null,
            stripePriceId: entry.stripePriceId,
            mode: entry.mode,
            unitAmount: entry.unitAmount,
            currency: entry.currency,
            recurringInterval: entry.recurringInterval ?? null,
            maxQuantity: entry.maxQuantity,
            active: entry.active,
          })
          .onConflictDoNothing()
          .run();
      }
    },
    { behavior: "immediate" },
  );
}

// One connection per process, kept across dev-server module reloads.
const globalForDb = globalThis as unknown as {
  __shopDb?: ReturnType<typeof openDatabase>;
  __shopCatalogApplied?: boolean;
};
const opened = (globalForDb.__shopDb ??= openDatabase(config.databasePath, {
  busyTimeoutMs: config.databaseBusyTimeoutMs,
}));

// In development db/catalog.json is the catalog: products added or changed there since the
// database was made arrive at start (docs/decisions/071-catalog-file-in-development.md).
if (config.nodeEnv === "development" && !globalForDb.__shopCatalogApplied) {
  globalForDb.__shopCatalogApplied = true;
  const line = describeCatalogChanges(applyCatalogFile(opened.db));
  if (line) console.info(line);
}

export const db: DB = opened.db;
export const sqlite: Database.Database = opened.sqlite;
export { schema };
