import type { RunResult } from "better-sqlite3";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";

import * as pgTables from "../../../db/schema/pg";
import * as sqliteTables from "../../../db/schema/sqlite";
import { type Named, named, runNamed } from "../pg-named.server";
import type { NewJob } from "./types";

/**
 * The one definition of enqueue, `INSERT INTO jobs ... ON CONFLICT (key) DO
 * NOTHING`, per dialect: true when this call added the job, false when one
 * with its key exists (nothing changed). It runs on whatever it is given: the
 * state machine's transaction (app/lib/fulfillment.server.ts) or a bare
 * connection wrapped by the jobs stores, so the job commits or rolls back
 * with the caller's work.
 */

// The transaction or database of either builder: anything with its insert().
type SqliteWriter = Pick<BaseSQLiteDatabase<"sync", RunResult, Record<string, unknown>>, "insert">;
type PgWriter = Pick<PgDatabase<PgQueryResultHKT, Record<string, unknown>>, "insert">;

const row = (job: NewJob, now: number) => ({
  key: job.key,
  kind: job.kind,
  payload: JSON.stringify(job.payload ?? null),
  state: "pending" as const,
  attempts: 0,
  runAfter: job.runAfter ?? now,
  createdAt: now,
  updatedAt: now,
});

// The SQLite statement, built and prepared once per connection (ADR 051 for the
// state machine's other hot statements): keyed by the Drizzle session, which a
// database and every transaction opened on it share, so a statement prepared on
// one runs inside the other's open transaction (docs/decisions/178-jobs-enqueue-cost.md).
// Drizzle's typings keep `session` internal; it is a field of every builder and
// transaction of the drizzle-orm pinned in package.json.
const sqliteInsert = (db: SqliteWriter) =>
  db
    .insert(sqliteTables.jobs)
    .values({
      key: sql.placeholder("key"),
      kind: sql.placeholder("kind"),
      payload: sql.placeholder("payload"),
      state: "pending",
      attempts: 0,
      runAfter: sql.placeholder("runAfter"),
      createdAt: sql.placeholder("createdAt"),
      updatedAt: sql.placeholder("updatedAt"),
    })
    .onConflictDoNothing({ target: sqliteTables.jobs.key })
    .prepare();
const sqliteStatements = new WeakMap<object, ReturnType<typeof sqliteInsert>>();

/** On SQLite: synchronous, like every better-sqlite3 transaction. */
export function enqueueSqlite(db: SqliteWriter, job: NewJob, now = Date.now()): boolean {
  const session = (db as unknown as { session: object }).session;
  let insert = sqliteStatements.get(session);
  if (!insert) {
    insert = sqliteInsert(db);
    sqliteStatements.set(session, insert);
  }
  // ON CONFLICT DO NOTHING: no row changed when a job with this key exists.
  return insert.run(row(job, now)).changes === 1;
}

// The PostgreSQL statement, its text built by Drizzle once and run as a named
// (server-side prepared) statement on the caller's own client: node-postgres
// parses it once per connection, and no query is built per enqueue
// (docs/decisions/182-pg-enqueue-named-statement.md, app/lib/pg-named.server.ts).
let pgStatement: Named | undefined;

// The jobs INSERT of `count` rows, their placeholders named `${prefix}${i}_${column}`.
const pgInsertOf = (db: PgWriter, count: number, prefix: string) => {
  const p = (i: number, column: string) => sql.placeholder(`${prefix}${i}_${column}`);
  return db
    .insert(pgTables.jobs)
    .values(
      Array.from({ length: count }, (_, i) => ({
        key: p(i, "key"),
        kind: p(i, "kind"),
        payload: p(i, "payload"),
        state: p(i, "state"),
        attempts: p(i, "attempts"),
        runAfter: p(i, "runAfter"),
        createdAt: p(i, "createdAt"),
        updatedAt: p(i, "updatedAt"),
      })),
    )
    .onConflictDoNothing({ target: pgTables.jobs.key });
};

const pgInsert = (db: PgWriter) => named("jobs_enqueue", pgInsertOf(db, 1, "j").returning({ id: pgTables.jobs.id }));

const placeholderValues = (jobs: NewJob[], now: number, prefix: string) => {
  const values: Record<string, unknown> = {};
  for (const [i, job] of jobs.entries()) {
    for (const [column, value] of Object.entries(row(job, now))) values[`${prefix}${i}_${column}`] = value;
  }
  return values;
};

/**
 * The same enqueue for a statement the caller already sends: the PostgreSQL
 * order store folds the jobs of a decision into its order UPDATE (a
 * data-modifying WITH), saving a round trip per job
 * (docs/decisions/183-pg-store-named-statements.md). `query()` builds the
 * INSERT of `jobs.length` rows with placeholders under `prefix`, only for a
 * statement not yet made (building it is Drizzle's work, not needed per call);
 * `values` binds them. Null when there is nothing to enqueue.
 */
export function pgEnqueueFolded(db: PgWriter, jobs: NewJob[], now: number, prefix = "job") {
  if (jobs.length === 0) return null;
  return { query: () => pgInsertOf(db, jobs.length, prefix), values: placeholderValues(jobs, now, prefix) };
}

export async function enqueuePg(db: PgWriter, job: NewJob, now = Date.now()): Promise<boolean> {
  pgStatement ??= pgInsert(db);
  // ON CONFLICT DO NOTHING: no row when a job with this key exists.
  const { rowCount } = await runNamed(db, pgStatement, placeholderValues([job], now, "j"));
  return rowCount === 1;
}
