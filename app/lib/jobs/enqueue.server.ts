import type { RunResult } from "better-sqlite3";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";

import * as pgTables from "../../../db/schema/pg";
import * as sqliteTables from "../../../db/schema/sqlite";
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

/** On SQLite: synchronous, like every better-sqlite3 transaction. */
export function enqueueSqlite(db: SqliteWriter, job: NewJob, now = Date.now()): boolean {
  const added = db
    .insert(sqliteTables.jobs)
    .values(row(job, now))
    .onConflictDoNothing({ target: sqliteTables.jobs.key })
    .returning({ id: sqliteTables.jobs.id })
    .all();
  return added.length > 0;
}

export async function enqueuePg(db: PgWriter, job: NewJob, now = Date.now()): Promise<boolean> {
  const added = await db
    .insert(pgTables.jobs)
    .values(row(job, now))
    .onConflictDoNothing({ target: pgTables.jobs.key })
    .returning({ id: pgTables.jobs.id });
  return added.length > 0;
}
