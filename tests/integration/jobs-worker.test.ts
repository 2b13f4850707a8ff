import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { JobContext, JobHandler } from "~/lib/jobs/types";
import { createWorker } from "~/lib/jobs/worker.server";

import { dialects, type JobsFixture, openFixture } from "../support/jobs";

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

// The worker's retries, give-up and timeout, on a clock the test moves.
describe.each(await dialects())("job worker on %s", (dialect) => {
  let db: JobsFixture;
  let t = 1_000_000;
  const clock = () => t;
  beforeAll(async () => {
    db = await openFixture(dialect);
  });
  afterAll(async () => {
    await db?.close();
  });

  const workerFor = (handler: JobHandler<never>) =>
    createWorker({
      store: db.store,
      handlers: [handler],
      now: clock,
      random: () => 0.5,
      backoff: { baseMs: 1_000, maxMs: 60_000 },
      log: quiet,
    });

  it("retries a handler that fails twice, with a growing backoff between, and it is done after the third attempt", async () => {
    const calls: { payload: unknown; key: string; attempt: number }[] = [];
    const worker = workerFor({
      kind: "flaky",
      maxAttempts: 5,
      async run(payload: unknown, { key, attempt }: JobContext) {
        calls.push({ payload, key, attempt });
        if (attempt < 3) throw new Error(`flaky failure ${attempt}`);
      },
    });
    const key = "flaky:one";
    await db.enqueue({ kind: "flaky", key, payload: { n: 1 } }, t);

    expect(await worker.runOnce()).toBe(1);
    const afterFirst = await db.store.list({ limit: 10 });
    const job = afterFirst.find((j) => j.key === key);
    // Equal jitter with random 0.5: three quarters of base * 2^(attempt-1).
    expect(job).toMatchObject({ state: "pending", attempts: 1, lastError: "flaky failure 1", runAfter: t + 750 });

    // Not due yet: nothing runs before the backoff is over.
    t += 749;
    expect(await worker.runOnce()).toBe(0);
    t += 1;
    expect(await worker.runOnce()).toBe(1);
    expect(await db.store.get(job?.id ?? 0)).toMatchObject({ state: "pending", attempts: 2, runAfter: t + 1_500 });

    t += 1_499;
    expect(await worker.runOnce()).toBe(0);
    t += 1;
    expect(await worker.runOnce()).toBe(1);
    expect(await db.store.get(job?.id ?? 0)).toMatchObject({ state: "done", attempts: 3, leaseOwner: null });
    expect(calls).toEqual([1, 2, 3].map((attempt) => ({ payload: { n: 1 }, key, attempt })));
  });

  it("gives a handler that always fails up after its max attempts: dead, with its last error", async () => {
    let runs = 0;
    const worker = workerFor({
      kind: "broken",
      maxAttempts: 4,
      async run(_payload: unknown, { attempt }: JobContext) {
        runs += 1;
        throw new Error(`the warehouse said no (attempt ${attempt})`);
      },
    });
    await db.enqueue({ kind: "broken", key: "broken:one", payload: null }, t);
    for (let i = 0; i < 10; i += 1) {
      await worker.runOnce();
      t += 60_000;
    }
    const job = (await db.store.list({ state: "dead", limit: 10 })).find((j) => j.key === "broken:one");
    expect(job).toMatchObject({ attempts: 4, lastError: "the warehouse said no (attempt 4)", leaseOwner: null });
    expect(runs).toBe(4);
  });

  it("fails an attempt that outlives its timeout and aborts the handler's signal", async () => {
    let signal: AbortSignal | undefined;
    const worker = workerFor({
      kind: "stuck",
      timeoutMs: 50,
      maxAttempts: 2,
      run: (_payload: unknown, context: JobContext) => {
        signal = context.signal;
        return new Promise<void>(() => {});
      },
    });
    await db.enqueue({ kind: "stuck", key: "stuck:one", payload: null }, t);
    expect(await worker.runOnce()).toBe(1);
    const job = (await db.store.list({ limit: 50 })).find((j) => j.key === "stuck:one");
    expect(job).toMatchObject({ state: "pending", attempts: 1, lastError: "timed out after 50 ms" });
    expect(signal?.aborted).toBe(true);
  });

  it("leaves jobs of kinds it has no handler for to other workers", async () => {
    await db.enqueue({ kind: "someone.else", key: "else:one", payload: null }, t);
    const worker = workerFor({ kind: "mine", run: async () => {} });
    expect(await worker.runOnce()).toBe(0);
    expect((await db.store.list({ limit: 50 })).find((j) => j.key === "else:one")?.state).toBe("pending");
  });
});
