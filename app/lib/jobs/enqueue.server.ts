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

const pgInsert = (db: PgWriter) => {
  const p = sql.placeholder;
  return named(
    "jobs_enqueue",
    db
      .insert(pgTables.jobs)
      .values({
        key: p("key"),
        kind: p("kind"),
        payload: p("payload"),
        state: p("state"),
        attempts: p("attempts"),
        runAfter: p("runAfter"),
        createdAt: p("createdAt"),
        updatedAt: p("updatedAt"),
      })
      .onConflictDoNothing({ target: pgTables.jobs.key })
      .returning({ id: pgTables.jobs.id }),
  );
};

export async function enqueuePg(db: PgWriter, job: NewJob, now = Date.now()): Promise<boolean> {
  pgStatement ??= pgInsert(db);
  // ON CONFLICT DO NOTHING: no row when a job with this key exists.
  const { rowCount } = await runNamed(db, pgStatement, row(job, now));
  return rowCount === 1;
}
