/**
 * The jobs module's seams (docs/decisions/100-jobs.md): what is enqueued, what
 * a store does with it, and what a handler is given. Both dialect stores
 * (sqlite-store.server.ts, pg-store.server.ts) implement JobStore; the worker
 * knows nothing else about the database.
 */

export type JobState = "pending" | "running" | "done" | "dead";

export type NewJob = {
  kind: string;
  /** Unique across all jobs: a second enqueue with the same key changes nothing. */
  key: string;
  /** Stored as JSON text. */
  payload: unknown;
  /** Unix ms; default now. */
  runAfter?: number;
};

export type JobRecord = {
  id: number;
  key: string;
  kind: string;
  payload: string;
  state: JobState;
  attempts: number;
  runAfter: number;
  lastError: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
};

export type ClaimOptions = {
  owner: string;
  kinds: readonly string[];
  limit: number;
  leaseMs: number;
  now: number;
};

export interface JobStore {
  /** Marks up to `limit` due jobs running under `owner`'s lease (attempts + 1) and returns them. */
  claim(options: ClaimOptions): Promise<JobRecord[]>;
  /** Each of these is a no-op returning false if `owner` no longer holds the job's lease. */
  complete(id: number, owner: string, now: number): Promise<boolean>;
  /** `retryAt` null: the job is dead, with `error` kept as its last error. */
  fail(id: number, owner: string, error: string, retryAt: number | null, now: number): Promise<boolean>;
  /** Back to pending, the attempt not counted: the worker is stopping. */
  release(id: number, owner: string, now: number): Promise<boolean>;
  /** A dead job (or every dead job) pending again with fresh attempts; returns how many. */
  requeueDead(id: number | "all", now: number): Promise<number>;
  counts(): Promise<Record<JobState, number>>;
  list(options: { state?: JobState; limit: number }): Promise<JobRecord[]>;
  get(id: number): Promise<JobRecord | undefined>;
}

export type JobContext = {
  key: string;
  /** 1 on the first run. */
  attempt: number;
  /** Aborted when the job's timeout runs out or the worker stops. */
  signal: AbortSignal;
};

export type JobHandler<P = unknown> = {
  kind: string;
  run(payload: P, context: JobContext): Promise<void>;
  /** Runs before the job is dead (default 8). */
  maxAttempts?: number;
  /** Per attempt (default 30 s). */
  timeoutMs?: number;
};

export const JOB_STATES: readonly JobState[] = ["pending", "running", "done", "dead"];
