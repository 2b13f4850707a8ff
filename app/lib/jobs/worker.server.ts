import { randomBytes } from "node:crypto";
import os from "node:os";

import { backoffDelay } from "./backoff";
import type { JobHandler, JobRecord, JobStore } from "./types";

/**
 * Claims due jobs, runs each kind's handler under its timeout, and marks the
 * job done, pending again after a backoff, or dead after its last attempt.
 * A job runs at least once: a worker that dies mid-job leaves the lease to
 * run out, and another worker (or this one, restarted) takes the job again.
 */

export const DEFAULT_MAX_ATTEMPTS = 8;
export const DEFAULT_TIMEOUT_MS = 30_000;

export type WorkerOptions = {
  store: JobStore;
  handlers: Iterable<JobHandler<never>>;
  /** Jobs run at once by this worker. */
  concurrency?: number;
  /** How often to look for due jobs when the last look found none. */
  pollMs?: number;
  /** Added to a kind's timeout to make its lease: long enough to mark the job after a timeout. */
  leaseMarginMs?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** Injectable for tests: the clock the store's times are written with, and the jitter. */
  now?: () => number;
  random?: () => number;
  owner?: string;
  log?: Pick<Console, "info" | "warn" | "error">;
};

export type Worker = {
  readonly owner: string;
  /** Polls until stop(). */
  start(): void;
  /** One claim and everything it took run to its end; returns how many jobs ran. */
  runOnce(): Promise<number>;
  /**
   * Stops claiming; running jobs get `graceMs` to finish, then are aborted and
   * released (pending again, the attempt not counted). Nothing stays claimed.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
};

type Running = { job: JobRecord; controller: AbortController; done: Promise<void> };

export function createWorker(options: WorkerOptions): Worker {
  const {
    store,
    concurrency = 4,
    pollMs = 1_000,
    leaseMarginMs = 15_000,
    backoff = { baseMs: 5_000, maxMs: 60 * 60_000 },
    now = Date.now,
    random = Math.random,
    log = console,
  } = options;
  const owner = options.owner ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const handlers = new Map<string, JobHandler<unknown>>();
  for (const handler of options.handlers) handlers.set(handler.kind, handler as JobHandler<unknown>);
  const kinds = [...handlers.keys()];
  const timeoutOf = (h: JobHandler<unknown>) => h.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const leaseMs = Math.max(0, ...[...handlers.values()].map(timeoutOf)) + leaseMarginMs;

  const running = new Map<number, Running>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  async function execute(job: JobRecord, controller: AbortController) {
    const handler = handlers.get(job.kind);
    if (!handler) return; // claimed only by kind, so never
    const maxAttempts = handler.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (job.attempts > maxAttempts) {
      // Its worker died on the last attempt (a lease ran out): give up instead of trying forever.
      const error = `gave up: the worker of attempt ${job.attempts - 1} stopped before it finished (its lease ran out)`;
      await store.fail(job.id, owner, error, null, now());
      log.error(`job dead id=${job.id} kind=${job.kind} key=${job.key} attempts=${job.attempts - 1}`);
      return;
    }
    const timeoutMs = timeoutOf(handler);
    let timer: NodeJS.Timeout | undefined;
    try {
      const payload: unknown = JSON.parse(job.payload);
      await Promise.race([
        handler.run(payload, { key: job.key, attempt: job.attempts, signal: controller.signal }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new Error(`timed out after ${timeoutMs} ms`);
            controller.abort(error);
            reject(error);
          }, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!(await store.complete(job.id, owner, now()))) {
        log.warn(`job finished after its lease was lost id=${job.id} kind=${job.kind} key=${job.key}`);
      }
    } catch (error: unknown) {
      clearTimeout(timer);
      if (stopping && controller.signal.aborted && !(controller.signal.reason instanceof Error)) return; // released by stop()
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 2_000) || "failed";
      const last = job.attempts >= maxAttempts;
      const retryAt = last ? null : now() + backoffDelay(job.attempts, backoff, random);
      await store.fail(job.id, owner, message, retryAt, now());
      if (last) {
        log.error(`job dead id=${job.id} kind=${job.kind} key=${job.key} attempts=${job.attempts} error=${message}`);
      } else {
        log.warn(
          `job failed id=${job.id} kind=${job.kind} attempt=${job.attempts} retry_in_ms=${(retryAt ?? 0) - now()}`,
        );
      }
    }
  }

  function launch(job: JobRecord) {
    const controller = new AbortController();
    const entry: Running = {
      job,
      controller,
      done: execute(job, controller)
        .catch((error: unknown) => {
          // The store itself failed (database down): the lease runs out and the job runs again.
          log.error(`job could not be recorded id=${job.id} error=${error instanceof Error ? error.message : error}`);
        })
        .finally(() => {
          running.delete(job.id);
          wake?.();
        }),
    };
    running.set(job.id, entry);
    return entry;
  }

  async function claim() {
    const free = concurrency - running.size;
    if (free <= 0 || stopping) return [];
    return store.claim({ owner, kinds, limit: free, leaseMs, now: now() });
  }

  async function runOnce() {
    const jobs = await claim();
    await Promise.all(jobs.map((job) => launch(job).done));
    return jobs.length;
  }

  async function poll() {
    while (!stopping) {
      let claimed = 0;
      try {
        const jobs = await claim();
        for (const job of jobs) launch(job);
        claimed = jobs.length;
      } catch (error: unknown) {
        log.error(`job worker could not claim: ${error instanceof Error ? error.message : error}`);
      }
      if (stopping) break;
      // Full: wait for a slot. Found some: look again at once. Found none: sleep.
      const full = running.size >= concurrency;
      if (claimed > 0 && !full) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    owner,
    start() {
      if (loop || kinds.length === 0) return;
      loop = poll();
    },
    runOnce,
    async stop({ graceMs = 10_000 } = {}) {
      stopping = true;
      wake?.();
      await loop;
      const inFlight = [...running.values()];
      if (inFlight.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), graceMs);
      });
      const finished = await Promise.race([Promise.all(inFlight.map((r) => r.done)), graceOver]);
      clearTimeout(timer);
      if (finished !== "late") return;
      await Promise.all(
        [...running.values()].map(async ({ job, controller }) => {
          controller.abort("the worker is stopping");
          if (await store.release(job.id, owner, now())) {
            log.info(`job released id=${job.id} kind=${job.kind} (worker stopping)`);
          }
        }),
      );
    },
  };
}
