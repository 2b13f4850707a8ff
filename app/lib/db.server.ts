import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { count, sql } from "drizzle-orm";
import { type BetterSQLite3Database, drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { migrate as migrateSqlite } from "drizzle-orm/better-sqlite3/migrator";
import { drizzle as drizzlePg, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

import * as pgSchema from "../../db/schema/pg";
import * as sqliteSchema from "../../db/schema/sqlite";
import {
  applyCatalogFile,
  type CatalogEntry,
  describeCatalogChanges,
  rowOf as productRow,
  readCatalog,
} from "./catalog-file.server";
import { config } from "./config.server";
import { logger } from "./logger.server";
import { describeDatabaseError } from "./db-errors.server";

/**
 * The one database of this process: SQLite (better-sqlite3) when DATABASE_URL
 * is unset, PostgreSQL (node-postgres pool) when it is set. Opened, migrated
 * and seeded once, kept across dev-server reloads.
 *
 * The seam (docs/decisions/060-one-query-builder-two-databases.md): outside
 * transactions every module writes one async query against `db`, typed as the
 * PostgreSQL builder over `schema`. On SQLite the same names are the
 * better-sqlite3 builder over the SQLite tables, which drizzle makes awaitable
 * too; the two schemas have the same tables and columns (a test keeps them
 * so). Only what both builders have may be used on `db`: await, `.returning()`,
 * `onConflictDoNothing/DoUpdate`, `.limit()`... Never `.get()/.all()/.run()`
 * (SQLite only) or `.for()` (PostgreSQL only); those belong in a store written
 * per dialect against `handle` (the state machine, app/lib/orders/).
 */

export type Schema = typeof pgSchema;
/** The query builder every module uses, whichever database is configured. */
export type Db = NodePgDatabase<Schema>;
export type SqliteDb = BetterSQLite3Database<typeof sqliteSchema>;
export type PgDb = NodePgDatabase<Schema>;

export type DatabaseHandle =
  | { dialect: "sqlite"; db: Db; sqliteDb: SqliteDb; sqlite: Database.Database; close(): Promise<void> }
  | { dialect: "postgres"; db: Db; pgDb: PgDb; pool: pg.Pool; close(): Promise<void> };

export type Dialect = DatabaseHandle["dialect"];

const root = process.cwd();
export const MIGRATIONS_FOLDERS = {
  sqlite: path.join(root, "db", "migrations", "sqlite"),
  postgres: path.join(root, "db", "migrations", "pg"),
} as const;

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

/** Opens (creating if needed) a SQLite file, migrates it and seeds an empty catalog. */
export function openSqlite(
  file: string,
  { busyTimeoutMs = 5_000, seed = true }: { busyTimeoutMs?: number; seed?: boolean } = {},
): Extract<DatabaseHandle, { dialect: "sqlite" }> {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new Database(file);
  applyPragmas(sqlite, busyTimeoutMs);
  const sqliteDb = drizzleSqlite(sqlite, { schema: sqliteSchema });
  migrateSqlite(sqliteDb, { migrationsFolder: MIGRATIONS_FOLDERS.sqlite });
  if (seed) seedSqlite(sqliteDb);
  return {
    dialect: "sqlite",
    // The seam: the SQLite builder behind the common type (see the comment at the top).
    db: sqliteDb as unknown as Db,
    sqliteDb,
    sqlite,
    close: async () => {
      sqlite.close();
    },
  };
}

/** @deprecated name kept for callers of the SQLite-only era: openSqlite. */
export const openDatabase = openSqlite;

function seedSqlite(db: SqliteDb, entries: CatalogEntry[] = readCatalog()) {
  db.transaction(
    (tx) => {
      const existing = tx.select({ n: count() }).from(sqliteSchema.products).get();
      if ((existing?.n ?? 0) > 0) return;
      for (const entry of entries) {
        tx.insert(sqliteSchema.products).values(productRow(entry)).onConflictDoNothing().run();
      }
    },
    { behavior: "immediate" },
  );
}

// bigint columns hold unix-ms times and counts, all far below 2^53: read them as
// numbers, as SQLite gives them (Drizzle's columns already do; this covers raw SQL).
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

// Any fixed number: instances starting together migrate one at a time.
const MIGRATION_LOCK = 0x5ea_c0de;

/** Connects a pool to PostgreSQL, migrates (one instance at a time) and seeds an empty catalog. */
export async function openPostgres(
  url: string,
  { poolMax = 10, seed = true }: { poolMax?: number; seed?: boolean } = {},
): Promise<Extract<DatabaseHandle, { dialect: "postgres" }>> {
  // pipeline: a client sends each query as it is made, without waiting for the answer to
  // the one before (PostgreSQL still runs them in order, each with its own result or error).
  // Code that awaits each query runs as before; the webhook's batch sends its decisions
  // together (docs/decisions/195-pg-batch-decisions-pipelined.md).
  const pool = new pg.Pool({ connectionString: url, max: poolMax, connectionTimeoutMillis: 5_000, pipeline: true });
  // An idle client whose connection dropped (a restart, a failover) must not
  // crash the process: the pool discards it and connects anew on next use.
  pool.on("error", (error) => {
    logger.warn(`database: an idle PostgreSQL connection failed and was dropped: ${error.message}`);
  });
  // The same for a connection in use (terminated by the server mid-transaction):
  // without a listener its 'error' event would end the process; the query
  // itself fails and answers 503, and the pool drops the broken client.
  pool.on("connect", (client) => {
    client.on("error", (error) => {
      logger.warn(`database: a PostgreSQL connection in use failed: ${error.message}`);
    });
  });
  const pgDb = drizzlePg(pool, { schema: pgSchema });
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      await migratePg(drizzlePg(client, { schema: pgSchema }), { migrationsFolder: MIGRATIONS_FOLDERS.postgres });
      if (seed) await seedPostgres(drizzlePg(client, { schema: pgSchema }));
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
  return { dialect: "postgres", db: pgDb, pgDb, pool, close: () => pool.end() };
}

async function seedPostgres(db: PgDb, entries: CatalogEntry[] = readCatalog()) {
  const [existing] = await db.select({ n: count() }).from(pgSchema.products);
  if ((existing?.n ?? 0) > 0) return;
  for (const entry of entries) {
    await db.insert(pgSchema.products).values(productRow(entry)).onConflictDoNothing();
  }
}

/** Opens the configured database: PostgreSQL when `url` is given, else the SQLite file. */
export async function openConfigured(
  options: { url?: string; path?: string; busyTimeoutMs?: number; poolMax?: number; seed?: boolean } = {},
): Promise<DatabaseHandle> {
  const url = options.url ?? config.databaseUrl;
  if (url) return openPostgres(url, { poolMax: options.poolMax ?? config.databasePoolMax, seed: options.seed });
  return openSqlite(options.path ?? config.databasePath, {
    busyTimeoutMs: options.busyTimeoutMs ?? config.databaseBusyTimeoutMs,
    seed: options.seed,
  });
}

/** Which database this is, for logs and /healthz: never the URL (it may hold a password). */
export function describeDatabase(h: DatabaseHandle = handle) {
  if (h.dialect === "sqlite") return { dialect: h.dialect, name: "SQLite" };
  const url = new URL(config.databaseUrl ?? "postgres://localhost/");
  return { dialect: h.dialect, name: `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname}` };
}

// One database per process, kept across dev-server module reloads.
const globalForDb = globalThis as unknown as { __shopDb?: Promise<DatabaseHandle>; __shopCatalogApplied?: boolean };
export const handle: DatabaseHandle = await (globalForDb.__shopDb ??= openConfigured());

export const db: Db = handle.db;
/** The tables, for the dialect `db` runs on (typed as PostgreSQL's, the same names and columns). */
export const schema: Schema = (handle.dialect === "sqlite" ? sqliteSchema : pgSchema) as unknown as Schema;
export const dialect: Dialect = handle.dialect;

// In development db/catalog.json is the catalog: products added or changed there since the
// database was made arrive at start (docs/decisions/071-catalog-file-in-development.md).
if (config.nodeEnv === "development" && !globalForDb.__shopCatalogApplied) {
  globalForDb.__shopCatalogApplied = true;
  const line = describeCatalogChanges(await applyCatalogFile(db, schema));
  if (line) logger.info(line);
}

/**
 * The few SQL expressions the dialects spell differently, in one place.
 */
export const dialectSql = {
  /** The larger of two values: max(a, b) in SQLite, greatest(a, b) in PostgreSQL. */
  greatest: (a: unknown, b: unknown) => (dialect === "sqlite" ? sql`max(${a}, ${b})` : sql`greatest(${a}, ${b})`),
  /**
   * A tie-break in insertion order: SQLite's rowid. PostgreSQL has no such
   * column (ctid moves on update), so ties fall back to the primary key there.
   */
  insertionOrder: (table: { id: unknown }) => (dialect === "sqlite" ? sql`${table}.rowid` : sql`${table.id}`),
};

/** Closes this process's database (the CLI scripts, at the end). */
export const closeDatabase = () => handle.close();

export type DatabaseCheck =
  | { ok: true; dialect: Dialect }
  | { ok: false; dialect: Dialect; failed: "read" | "write"; error: string };

/**
 * Whether the database reads and writes now: one read of a table, then a
 * write that changes nothing (a row inserted and deleted in a transaction
 * that is rolled back), so that a read-only or full database fails too.
 */
export async function checkDatabase(h: DatabaseHandle = handle): Promise<DatabaseCheck> {
  let part: "read" | "write" = "read";
  try {
    if (h.dialect === "sqlite") {
      h.sqlite.prepare("SELECT 1 FROM products LIMIT 1").get();
      part = "write";
      h.sqlite.transaction(() => {
        h.sqlite.prepare("INSERT OR REPLACE INTO job_locks VALUES ('healthz', 'healthz', 0, 0)").run();
        throw new RollBack();
      })();
    } else {
      const client = await h.pool.connect();
      try {
        await client.query("SELECT 1 FROM products LIMIT 1");
        part = "write";
        await client.query("BEGIN");
        try {
          await client.query(
            "INSERT INTO job_locks VALUES ('healthz', 'healthz', 0, 0) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder",
          );
        } finally {
          await client.query("ROLLBACK");
        }
      } finally {
        client.release();
      }
    }
    return { ok: true, dialect: h.dialect };
  } catch (error: unknown) {
    if (error instanceof RollBack) return { ok: true, dialect: h.dialect };
    return { ok: false, dialect: h.dialect, failed: part, error: describeDatabaseError(error) };
  }
}

class RollBack extends Error {}
