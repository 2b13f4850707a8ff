// A job worker in its own process for tests/integration/jobs-*.test.ts, on
// the database named by JOBS_DIALECT and JOBS_DATABASE. Kinds:
//   test.effect  records its effect in the `effects` table (unique key)
//   test.hang    says "started <key>" and waits until aborted
//   test.slow    says "started <key>", waits JOBS_SLOW_MS, records its effect
import process from "node:process";

import Database from "better-sqlite3";
import pg from "pg";

import { createPgJobStore } from "../../app/lib/jobs/pg-store.server";
import { createSqliteJobStore } from "../../app/lib/jobs/sqlite-store.server";
import type { JobHandler, JobStore } from "../../app/lib/jobs/types";
import { createWorker } from "../../app/lib/jobs/worker.server";

const env = process.env;
const owner = `child-${process.pid}`;
let store: JobStore;
let recordEffect: (key: string) => Promise<void>;
if (env.JOBS_DIALECT === "sqlite") {
  const sqlite = new Database(env.JOBS_DATABASE ?? "");
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("busy_timeout = 10000");
  store = createSqliteJobStore(sqlite);
  const insert = sqlite.prepare("INSERT INTO effects (key, worker) VALUES (?, ?)");
  recordEffect = async (key) => void insert.run(key, owner);
} else {
  const pool = new pg.Pool({ connectionString: env.JOBS_DATABASE, max: 4 });
  store = createPgJobStore(pool);
  recordEffect = async (key) =>
    void (await pool.query("INSERT INTO effects (key, worker) VALUES ($1, $2)", [key, owner]));
}

const timeoutMs = Number(env.JOBS_TIMEOUT_MS ?? 30_000);
const handlers: JobHandler<never>[] = [
  { kind: "test.effect", timeoutMs, run: (_payload, { key }) => recordEffect(key) },
  {
    kind: "test.hang",
    timeoutMs,
    run: (_payload, { key, signal }) =>
      new Promise<void>((_resolve, reject) => {
        console.log(`started ${key}`);
        signal.addEventListener("abort", () => reject(new Error("aborted")));
      }),
  },
  {
    kind: "test.slow",
    timeoutMs,
    async run(_payload, { key }) {
      console.log(`started ${key}`);
      await new Promise((r) => setTimeout(r, Number(env.JOBS_SLOW_MS ?? 300)));
      await recordEffect(key);
    },
  },
];

const worker = createWorker({
  store,
  handlers,
  owner,
  concurrency: Number(env.JOBS_CONCURRENCY ?? 4),
  pollMs: 50,
  leaseMarginMs: Number(env.JOBS_LEASE_MARGIN_MS ?? 15_000),
  log: { info: console.log, warn: console.log, error: console.log },
});
process.on("SIGTERM", () => {
  void worker.stop({ graceMs: Number(env.JOBS_GRACE_MS ?? 5_000) }).then(() => {
    console.log("stopped");
    process.exit(0);
  });
});
worker.start();
console.log(`ready ${owner}`);
