import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { dialects, type JobsFixture, openFixture } from "../support/jobs";

// Enqueueing belongs to the caller's transaction, and a key makes one job.
describe.each(await dialects())("jobs store on %s", (dialect) => {
  let db: JobsFixture;
  beforeAll(async () => {
    db = await openFixture(dialect);
  });
  afterAll(async () => {
    await db?.close();
  });

  it("enqueued twice with one key is one job, the second call changing nothing", async () => {
    const job = { kind: "order.paid", key: "order.paid:cs_test_twice", payload: { checkoutId: "cs_test_twice" } };
    expect(await db.enqueue(job, 1_000)).toBe(true);
    expect(await db.enqueue({ ...job, payload: { checkoutId: "other" } }, 2_000)).toBe(false);
    const jobs = (await db.store.list({ limit: 100 })).filter((j) => j.key === job.key);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ state: "pending", attempts: 0, runAfter: 1_000, createdAt: 1_000 });
    expect(JSON.parse(jobs[0]?.payload ?? "")).toEqual({ checkoutId: "cs_test_twice" });
  });

  it("enqueued in a transaction that rolls back leaves no job", async () => {
    await db.enqueueThenRollBack({ kind: "order.paid", key: "order.paid:cs_test_rolled_back", payload: {} });
    const jobs = await db.store.list({ limit: 100 });
    expect(jobs.map((j) => j.key)).not.toContain("order.paid:cs_test_rolled_back");
  });

  it("fifty enqueues of one key at once leave one job", async () => {
    const job = { kind: "order.paid", key: "order.paid:cs_test_storm", payload: {} };
    const results = await Promise.all(Array.from({ length: 50 }, () => db.enqueue(job)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await db.store.list({ limit: 100 })).filter((j) => j.key === job.key)).toHaveLength(1);
  });

  it("claims only due jobs of the asked kinds, each once, and a dead job is requeued with fresh attempts", async () => {
    await db.enqueue({ kind: "claim.a", key: "claim:due", payload: 1 }, 10_000);
    await db.enqueue({ kind: "claim.a", key: "claim:later", payload: 2, runAfter: 50_000 }, 10_000);
    await db.enqueue({ kind: "claim.b", key: "claim:other-kind", payload: 3 }, 10_000);

    const first = await db.store.claim({ owner: "w1", kinds: ["claim.a"], limit: 10, leaseMs: 1_000, now: 20_000 });
    expect(first.map((j) => j.key)).toEqual(["claim:due"]);
    expect(first[0]).toMatchObject({ state: "running", attempts: 1, leaseOwner: "w1", leaseExpiresAt: 21_000 });
    // Leased: nobody else takes it until the lease runs out.
    expect(await db.store.claim({ owner: "w2", kinds: ["claim.a"], limit: 10, leaseMs: 1_000, now: 20_500 })).toEqual(
      [],
    );

    const id = first[0]?.id ?? 0;
    expect(await db.store.fail(id, "w2", "not mine", null, 20_600)).toBe(false);
    expect(await db.store.fail(id, "w1", "boom", null, 20_600)).toBe(true);
    expect(await db.store.get(id)).toMatchObject({ state: "dead", lastError: "boom", leaseOwner: null });
    expect((await db.store.counts()).dead).toBe(1);

    expect(await db.store.requeueDead(id, 30_000)).toBe(1);
    expect(await db.store.get(id)).toMatchObject({ state: "pending", attempts: 0, runAfter: 30_000 });
    expect(await db.store.requeueDead("all", 30_000)).toBe(0);
  });
});
