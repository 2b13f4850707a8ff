import type Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";

import { enqueueSqlite } from "./enqueue.server";
import { JOB_STATES, type JobRecord, type JobState, type JobStore, type NewJob } from "./types";

/**
 * The jobs table on SQLite, over the raw better-sqlite3 connection so that
 * `enqueue` joins whatever transaction the caller has open on it (Drizzle's
 * `db.transaction` runs on the same connection; enqueue itself is the
 * Drizzle statement of enqueue.server.ts, the state machine's too). Synchronous, like every
 * better-sqlite3 transaction. SQLite has one writer, so a claim is one
 * `UPDATE ... RETURNING`: no two workers can take the same row.
 */

const COLUMNS = `id, key, kind, payload, state, attempts, run_after AS runAfter, last_error AS lastError,
  lease_owner AS leaseOwner, lease_expires_at AS leaseExpiresAt, created_at AS createdAt, updated_at AS updatedAt`;

function prepare(sqlite: Database.Database) {
  return {
    // enqueue's one definition (enqueue.server.ts), on a builder over this same connection.
    builder: drizzle({ client: sqlite }),
    // Due: pending and past run_after, or running under a lease that ran out (its worker died).
    claim: sqlite.prepare(
      `UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = @owner,
         lease_expires_at = @now + @leaseMs, updated_at = @now
       WHERE id IN (
         SELECT id FROM jobs
         WHERE ((state = 'pending' AND run_after <= @now) OR (state = 'running' AND lease_expires_at <= @now))
           AND kind IN (SELECT value FROM json_each(@kinds))
         ORDER BY run_after, id LIMIT @limit)
       RETURNING ${COLUMNS}`,
    ),
    complete: sqlite.prepare(
      `UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
       WHERE id = @id AND state = 'running' AND lease_owner = @owner`,
    ),
    retry: sqlite.prepare(
      `UPDATE jobs SET state = 'pending', last_error = @error, run_after = @retryAt, lease_owner = NULL,
         lease_expires_at = NULL, updated_at = @now
       WHERE id = @id AND state = 'running' AND lease_owner = @owner`,
    ),
    kill: sqlite.prepare(
      `UPDATE jobs SET state = 'dead', last_error = @error, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
       WHERE id = @id AND state = 'running' AND lease_owner = @owner`,
    ),
    release: sqlite.prepare(
      `UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0), run_after = @now, lease_owner = NULL,
         lease_expires_at = NULL, updated_at = @now
       WHERE id = @id AND state = 'running' AND lease_owner = @owner`,
    ),
    requeueOne: sqlite.prepare(
      `UPDATE jobs SET state = 'pending', attempts = 0, run_after = @now, updated_at = @now WHERE id = @id AND state = 'dead'`,
    ),
    requeueAll: sqlite.prepare(
      `UPDATE jobs SET state = 'pending', attempts = 0, run_after = @now, updated_at = @now WHERE state = 'dead'`,
    ),
    counts: sqlite.prepare(`SELECT state, count(*) AS n FROM jobs GROUP BY state`),
    list: sqlite.prepare(`SELECT ${COLUMNS} FROM jobs ORDER BY id DESC LIMIT @limit`),
    listState: sqlite.prepare(`SELECT ${COLUMNS} FROM jobs WHERE state = @state ORDER BY id DESC LIMIT @limit`),
    get: sqlite.prepare(`SELECT ${COLUMNS} FROM jobs WHERE id = @id`),
  };
}

const cache = new WeakMap<Database.Database, ReturnType<typeof prepare>>();
function statements(sqlite: Database.Database) {
  let s = cache.get(sqlite);
  if (!s) {
    s = prepare(sqlite);
    cache.set(sqlite, s);
  }
  return s;
}

/**
 * Adds a job, inside the caller's transaction if one is open on `sqlite`.
 * Returns false when a job with this key already exists (nothing changed).
 */
export function enqueue(sqlite: Database.Database, job: NewJob, now = Date.now()): boolean {
  return enqueueSqlite(statements(sqlite).builder, job, now);
}

/** The worker's store on a SQLite file (async only to match the PostgreSQL store). */
export function createSqliteJobStore(sqlite: Database.Database): JobStore {
  const s = statements(sqlite);
  return {
    async claim({ owner, kinds, limit, leaseMs, now }) {
      if (kinds.length === 0 || limit <= 0) return [];
      return s.claim.all({ owner, kinds: JSON.stringify(kinds), limit, leaseMs, now }) as JobRecord[];
    },
    async complete(id, owner, now) {
      return s.complete.run({ id, owner, now }).changes === 1;
    },
    async fail(id, owner, error, retryAt, now) {
      const statement = retryAt === null ? s.kill : s.retry;
      return statement.run({ id, owner, error, now, ...(retryAt === null ? {} : { retryAt }) }).changes === 1;
    },
    async release(id, owner, now) {
      return s.release.run({ id, owner, now }).changes === 1;
    },
    async requeueDead(id, now) {
      return (id === "all" ? s.requeueAll.run({ now }) : s.requeueOne.run({ id, now })).changes;
    },
    async counts() {
      const counts = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number>;
      for (const row of s.counts.all() as { state: JobState; n: number }[]) counts[row.state] = row.n;
      return counts;
    },
    async list({ state, limit }) {
      return (state ? s.listState.all({ state, limit }) : s.list.all({ limit })) as JobRecord[];
    },
    async get(id) {
      return s.get.get({ id }) as JobRecord | undefined;
    },
  };
}
