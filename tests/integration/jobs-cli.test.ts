import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { beforeAll, describe, expect, inject, it } from "vitest";

import { createSqliteJobStore, enqueue } from "~/lib/jobs/sqlite-store.server";

import { TEST_ENV } from "../support/test-env";

const root = path.resolve(import.meta.dirname, "../..");
let file: string;
let deadId: number;

function jobs(...args: string[]) {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "scripts/jobs.ts"), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...TEST_ENV, DATABASE_PATH: file },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

beforeAll(async () => {
  file = path.join(mkdtempSync(path.join(os.tmpdir(), "shop-jobs-cli-")), "app.db");
  copyFileSync(inject("baseDatabase"), file);
  const sqlite = new Database(file);
  const store = createSqliteJobStore(sqlite);
  const now = Date.now();
  enqueue(sqlite, { kind: "order.paid", key: "order.paid:cs_test_done", payload: {} }, now);
  enqueue(sqlite, { kind: "order.paid", key: "order.paid:cs_test_dead", payload: {} }, now);
  enqueue(sqlite, { kind: "order.paid", key: "order.paid:cs_test_waiting", payload: {} }, now);
  const claimed = await store.claim({ owner: "cli-test", kinds: ["order.paid"], limit: 2, leaseMs: 60_000, now });
  const [done, dead] = claimed;
  await store.complete(done?.id ?? 0, "cli-test", now);
  await store.fail(dead?.id ?? 0, "cli-test", "550 mailbox unavailable", null, now);
  deadId = dead?.id ?? 0;
  sqlite.close();
});

describe("npm run jobs", () => {
  it("prints how many jobs are in each state, and the dead one with its error", () => {
    const { code, out } = jobs();
    expect(code).toBe(0);
    expect(out).toContain("Jobs: 1 pending, 0 running, 1 done, 1 dead");
    expect(out).toContain(`#${deadId}  order.paid  order.paid:cs_test_dead  (1 attempt, dead`);
    expect(out).toContain("last error: 550 mailbox unavailable");
    expect(out).toContain("order.paid:cs_test_waiting");
  });

  it("shows one job with its last error", () => {
    const { code, out } = jobs("--show", String(deadId));
    expect(code).toBe(0);
    expect(out).toContain(`Job #${deadId}: dead`);
    expect(out).toContain("last error: 550 mailbox unavailable");
    expect(out).toContain(`npm run jobs -- --retry ${deadId}`);
  });

  it("requeues a dead job, and says so when there is nothing to requeue", () => {
    expect(jobs("--retry", "99999")).toMatchObject({ code: 1, err: "No job #99999.\n" });
    const retried = jobs("--retry", String(deadId));
    expect(retried).toMatchObject({ code: 0 });
    expect(retried.out).toContain(`Requeued job #${deadId}`);
    expect(jobs("--state", "pending").out).toContain("order.paid:cs_test_dead");
    expect(jobs("--retry", "all").out).toContain("No dead jobs to retry.");
    expect(jobs("--retry", String(deadId))).toMatchObject({
      code: 1,
      err: `Job #${deadId} is pending, not dead: nothing to retry.\n`,
    });
  });

  it("refuses bad arguments with a message and exit code 2", () => {
    const bad = jobs("--state", "stuck");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--state must be one of pending, running, done, dead");
    expect(jobs("--retry", "some").err).toContain("--retry takes a job id (a number) or all");
  });
});
