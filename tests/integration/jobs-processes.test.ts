import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { JobContext } from "~/lib/jobs/types";
import { createWorker } from "~/lib/jobs/worker.server";

import {
  dialects,
  eventually,
  type JobsFixture,
  openFixture,
  startWorkerChild,
  type WorkerChild,
} from "../support/jobs";

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const DIALECTS = await dialects();

// Workers in their own processes: killed, stopped, and several at once.
describe.each(DIALECTS)("job workers as processes on %s", (dialect) => {
  let db: JobsFixture;
  const children: WorkerChild[] = [];
  beforeEach(async () => {
    db = await openFixture(dialect);
  });
  afterEach(async () => {
    for (const { child } of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await db?.close();
  });
  const start = (env: Record<string, string> = {}) => {
    const worker = startWorkerChild(db, env);
    children.push(worker);
    return worker;
  };

  it("a worker SIGKILLed in the middle of a job leaves it to another worker after the lease, and it ends done once", async () => {
    const key = "killed:one";
    await db.enqueue({ kind: "test.hang", key, payload: null });
    const doomed = start({ JOBS_LEASE_MARGIN_MS: "3000" });
    await doomed.waitFor(new RegExp(`started ${key}`));
    doomed.child.kill("SIGKILL");
    expect(await doomed.exited).toMatchObject({ signal: "SIGKILL" });

    const [held] = await db.store.list({ state: "running", limit: 10 });
    expect(held).toMatchObject({ key, attempts: 1, leaseOwner: `child-${doomed.child.pid}` });
    const leaseEnd = held?.leaseExpiresAt ?? 0;

    let clock = leaseEnd - 1;
    const runs: JobContext[] = [];
    const rescuer = createWorker({
      store: db.store,
      now: () => clock,
      log: quiet,
      handlers: [
        {
          kind: "test.hang",
          async run(_payload: unknown, context: JobContext) {
            runs.push(context);
            await db.recordEffect(context.key, "rescuer");
          },
        },
      ],
    });
    // Still leased: nobody may take it yet.
    expect(await rescuer.runOnce()).toBe(0);
    clock = leaseEnd;
    expect(await rescuer.runOnce()).toBe(1);

    expect(runs.map((r) => [r.key, r.attempt])).toEqual([[key, 2]]);
    expect(await db.store.get(held?.id ?? 0)).toMatchObject({ state: "done", attempts: 2, lastError: null });
    expect(await db.effects()).toEqual([{ key, worker: "rescuer" }]);
    expect(await rescuer.runOnce()).toBe(0);
  });

  it("SIGTERM lets a running job finish within the grace period, then the worker exits", async () => {
    await db.enqueue({ kind: "test.slow", key: "slow:finishes", payload: null });
    const worker = start({ JOBS_SLOW_MS: "400", JOBS_GRACE_MS: "20000" });
    await worker.waitFor(/started slow:finishes/);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toMatchObject({ code: 0 });
    const [job] = await db.store.list({ limit: 10 });
    expect(job).toMatchObject({ key: "slow:finishes", state: "done", attempts: 1, leaseOwner: null });
    expect(await db.effects()).toEqual([{ key: "slow:finishes", worker: `child-${worker.child.pid}` }]);
  });

  it("SIGTERM releases a job that does not finish within the grace period: pending again, nothing left claimed", async () => {
    await db.enqueue({ kind: "test.hang", key: "hang:released", payload: null });
    const worker = start({ JOBS_GRACE_MS: "100" });
    await worker.waitFor(/started hang:released/);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toMatchObject({ code: 0 });
    const [job] = await db.store.list({ limit: 10 });
    expect(job).toMatchObject({ key: "hang:released", state: "pending", attempts: 0, leaseOwner: null });
    expect(job?.leaseExpiresAt).toBeNull();
    expect((await db.store.counts()).running).toBe(0);
  });

  const workers = dialect === "sqlite" ? 2 : 3;
  it(`${workers} worker processes on 1,000 jobs: every job done, each effect recorded exactly once`, async () => {
    const keys = Array.from({ length: 1_000 }, (_, i) => `many:${String(i).padStart(4, "0")}`);
    for (const key of keys) await db.enqueue({ kind: "test.effect", key, payload: { key } });
    const started = Array.from({ length: workers }, () => start({ JOBS_CONCURRENCY: "8" }));
    await eventually(async () => (await db.store.counts()).done === keys.length, "every job done", 180_000);
    // A worker that started late (a busy machine) may have taken no job yet: it still stops cleanly.
    for (const worker of started) await worker.waitFor(/^ready /, 60_000);
    for (const worker of started) worker.child.kill("SIGTERM");
    for (const worker of started) expect(await worker.exited).toMatchObject({ code: 0 });

    const counts = await db.store.counts();
    expect(counts).toEqual({ pending: 0, running: 0, done: 1_000, dead: 0 });
    // A second run of any job would have failed on the effect's unique key and been retried.
    const jobs = await db.store.list({ state: "done", limit: 2_000 });
    expect(jobs.filter((j) => j.attempts !== 1 || j.lastError !== null)).toEqual([]);
    const effects = await db.effects();
    expect(effects.map((e) => e.key)).toEqual(keys);
    const byWorker = new Map<string, number>();
    for (const e of effects) byWorker.set(e.worker, (byWorker.get(e.worker) ?? 0) + 1);
    console.info(`${dialect}: jobs per worker ${JSON.stringify(Object.fromEntries(byWorker))}`);
  }, 240_000);
});
