import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import type { Pool, PoolClient } from "pg";

import { enqueuePg } from "./enqueue.server";
import { JOB_STATES, type JobRecord, type JobState, type JobStore, type NewJob } from "./types";

/**
 * The jobs table on PostgreSQL, over node-postgres. `enqueue` takes the
 * caller's transaction client, so the job commits or rolls back with the
 * payment. Claims take due rows with `FOR UPDATE SKIP LOCKED` (the pattern of
 * pg-boss and graphile-worker): concurrent workers skip each other's rows
 * instead of waiting on them, and no row is taken twice.
 */

type Queryable = Pick<Pool | PoolClient, "query">;

const COLUMNS = `id::int AS id, key, kind, payload, state, attempts, run_after::float8 AS "runAfter",
  last_error AS "lastError", lease_owner AS "leaseOwner", lease_expires_at::float8 AS "leaseExpiresAt",
  created_at::float8 AS "createdAt", updated_at::float8 AS "updatedAt"`;

// enqueue's one definition (enqueue.server.ts), on a builder over the caller's pool or client.
const builders = new WeakMap<Pool | PoolClient, NodePgDatabase>();

/**
 * Adds a job on `client` (inside its open transaction, if any). Returns false
 * when a job with this key already exists (nothing changed).
 */
export function enqueue(client: Pool | PoolClient, job: NewJob, now = Date.now()): Promise<boolean> {
  let builder = builders.get(client);
  if (!builder) {
    builder = drizzle({ client });
    builders.set(client, builder);
  }
  return enqueuePg(builder, job, now);
}

const held = `id = $1 AND state = 'running' AND lease_owner = $2`;

/** The worker's store on a PostgreSQL database; every call is one statement on the pool. */
export function createPgJobStore(pool: Queryable): JobStore {
  const changed = async (text: string, values: unknown[]) => ((await pool.query(text, values)).rowCount ?? 0) > 0;
  return {
    async claim({ owner, kinds, limit, leaseMs, now }) {
      if (kinds.length === 0 || limit <= 0) return [];
      const result = await pool.query<JobRecord>(
        `UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,
           lease_expires_at = $2::bigint + $3::bigint, updated_at = $2
         WHERE id IN (
           SELECT id FROM jobs
           WHERE ((state = 'pending' AND run_after <= $2) OR (state = 'running' AND lease_expires_at <= $2))
             AND kind = ANY($4::text[])
           ORDER BY run_after, id LIMIT $5
           FOR UPDATE SKIP LOCKED)
         RETURNING ${COLUMNS}`,
        [owner, now, leaseMs, kinds, limit],
      );
      return result.rows;
    },
    complete: (id, owner, now) =>
      changed(
        `UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = $3 WHERE ${held}`,
        [id, owner, now],
      ),
    fail: (id, owner, error, retryAt, now) =>
      retryAt === null
        ? changed(
            `UPDATE jobs SET state = 'dead', last_error = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
             WHERE ${held}`,
            [id, owner, error, now],
          )
        : changed(
            `UPDATE jobs SET state = 'pending', last_error = $3, run_after = $4, lease_owner = NULL,
               lease_expires_at = NULL, updated_at = $5
             WHERE ${held}`,
            [id, owner, error, retryAt, now],
          ),
    release: (id, owner, now) =>
      changed(
        `UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0), run_after = $3, lease_owner = NULL,
           lease_expires_at = NULL, updated_at = $3
         WHERE ${held}`,
        [id, owner, now],
      ),
    async requeueDead(id, now) {
      const result =
        id === "all"
          ? await pool.query(
              `UPDATE jobs SET state = 'pending', attempts = 0, run_after = $1, updated_at = $1 WHERE state = 'dead'`,
              [now],
            )
          : await pool.query(
              `UPDATE jobs SET state = 'pending', attempts = 0, run_after = $2, updated_at = $2 WHERE id = $1 AND state = 'dead'`,
              [id, now],
            );
      return result.rowCount ?? 0;
    },
    async counts() {
      const counts = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number>;
      const result = await pool.query<{ state: JobState; n: number }>(
        `SELECT state, count(*)::int AS n FROM jobs GROUP BY state`,
      );
      for (const row of result.rows) counts[row.state] = row.n;
      return counts;
    },
    async list({ state, limit }) {
      const result = state
        ? await pool.query<JobRecord>(`SELECT ${COLUMNS} FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2`, [
            state,
            limit,
          ])
        : await pool.query<JobRecord>(`SELECT ${COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1`, [limit]);
      return result.rows;
    },
    async get(id) {
      const result = await pool.query<JobRecord>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [id]);
      return result.rows[0];
    },
  };
}
