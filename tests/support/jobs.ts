import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { generateDrizzleJson, generateMigration } from "drizzle-kit/api";
import pg from "pg";
import { inject } from "vitest";

import { jobs as pgJobs } from "../../db/schema/pg";
import { enqueue as enqueuePg, createPgJobStore } from "../../app/lib/jobs/pg-store.server";
import { createSqliteJobStore, enqueue as enqueueSqlite } from "../../app/lib/jobs/sqlite-store.server";
import type { JobStore, NewJob } from "../../app/lib/jobs/types";

/**
 * One fixture per database for the jobs tests: a fresh jobs table (SQLite: a
 * copy of the migrated base file; PostgreSQL: a database of its own, made
 * from the jobs table of db/schema/pg.ts and dropped afterwards) and an `effects` side
 * table whose unique key proves a handler's effect happened once.
 */

const root = path.resolve(import.meta.dirname, "../..");
export const PG_SERVER_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export type JobsFixture = {
  dialect: "sqlite" | "postgresql";
  store: JobStore;
  enqueue(job: NewJob, now?: number): Promise<boolean>;
  /** Enqueues inside a transaction that then rolls back. */
  enqueueThenRollBack(job: NewJob): Promise<void>;
  /** A plain insert: a second effect for one key fails on the unique key. */
  recordEffect(key: string, worker: string): Promise<void>;
  effects(): Promise<{ key: string; worker: string }[]>;
  /** What a child worker process needs to open the same database. */
  childEnv: Record<string, string>;
  close(): Promise<void>;
};

const EFFECTS_DDL = "CREATE TABLE effects (key text PRIMARY KEY, worker text NOT NULL)";

export function sqliteFixture(base = inject("baseDatabase")): JobsFixture {
  const dir = mkdtempSync(path.join(os.tmpdir(), "shop-jobs-"));
  const file = path.join(dir, "app.db");
  copyFileSync(base, file);
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("busy_timeout = 10000");
  sqlite.exec(EFFECTS_DDL);
  const insertEffect = sqlite.prepare("INSERT INTO effects (key, worker) VALUES (?, ?)");
  return {
    dialect: "sqlite",
    store: createSqliteJobStore(sqlite),
    async enqueue(job, now) {
      return enqueueSqlite(sqlite, job, now);
    },
    async enqueueThenRollBack(job) {
      try {
        sqlite.transaction(() => {
          enqueueSqlite(sqlite, job);
          throw new Error("roll back");
        })();
      } catch (error: unknown) {
        if (!(error instanceof Error && error.message === "roll back")) throw error;
      }
    },
    async recordEffect(key, worker) {
      insertEffect.run(key, worker);
    },
    async effects() {
      return sqlite.prepare("SELECT key, worker FROM effects ORDER BY key").all() as { key: string; worker: string }[];
    },
    childEnv: { JOBS_DIALECT: "sqlite", JOBS_DATABASE: file },
    async close() {
      sqlite.close();
    },
  };
}

/** The DDL drizzle-kit would generate for the PostgreSQL jobs table. */
export async function jobsPgDdl() {
  return generateMigration(generateDrizzleJson({}), generateDrizzleJson({ jobs: pgJobs }));
}

let pgAnswers: Promise<boolean> | undefined;
/** Whether PostgreSQL answers at TEST_DATABASE_URL; says so once when it does not. */
export function postgresAvailable() {
  pgAnswers ??= (async () => {
    const client = new pg.Client({ connectionString: PG_SERVER_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } catch (error: unknown) {
      console.warn(
        `SKIPPED the PostgreSQL jobs tests: PostgreSQL does not answer at ${PG_SERVER_URL} (${error instanceof Error ? error.message : error}). Set TEST_DATABASE_URL.`,
      );
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgAnswers;
}

export async function pgFixture(): Promise<JobsFixture> {
  const name = `shop_jobs_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10 });
  for (const statement of await jobsPgDdl()) await pool.query(statement);
  await pool.query(EFFECTS_DDL);
  return {
    dialect: "postgresql",
    store: createPgJobStore(pool),
    enqueue: (job, now) => enqueuePg(pool, job, now),
    async enqueueThenRollBack(job) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await enqueuePg(client, job);
        await client.query("ROLLBACK");
      } finally {
        client.release();
      }
    },
    async recordEffect(key, worker) {
      await pool.query("INSERT INTO effects (key, worker) VALUES ($1, $2)", [key, worker]);
    },
    async effects() {
      return (await pool.query<{ key: string; worker: string }>("SELECT key, worker FROM effects ORDER BY key")).rows;
    },
    childEnv: { JOBS_DIALECT: "postgresql", JOBS_DATABASE: url.toString() },
    async close() {
      await pool.end();
      const cleanup = new pg.Client({ connectionString: PG_SERVER_URL });
      await cleanup.connect();
      // The pool's connections close a moment after pool.end(): wait for them, so that FORCE
      // (for a child process killed mid-test) never cuts a connection this process still reads.
      for (let i = 0; i < 50; i++) {
        const { rows } = await cleanup.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [
          name,
        ]);
        if (rows[0]?.n === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

/** The fixtures to run on: SQLite always, PostgreSQL when it answers. */
export async function dialects() {
  return (await postgresAvailable()) ? (["sqlite", "postgresql"] as const) : (["sqlite"] as const);
}

export const openFixture = (dialect: "sqlite" | "postgresql") =>
  dialect === "sqlite" ? Promise.resolve(sqliteFixture()) : pgFixture();

export type WorkerChild = {
  child: ChildProcess;
  output: string[];
  /** Resolves with the first output line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** A worker in its own process (tests/support/jobs-child.ts) on the fixture's database. */
export function startWorkerChild(fixture: JobsFixture, env: Record<string, string> = {}): WorkerChild {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "tests/support/jobs-child.ts")], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "test", ...fixture.childEnv, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const listeners = new Set<() => void>();
  const push = (chunk: Buffer) => {
    output.push(...chunk.toString().split("\n").filter(Boolean));
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", push);
  child.stderr?.on("data", push);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = output.find((l) => pattern.test(l));
          if (line !== undefined) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(line);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`worker child: no line matching ${pattern} in ${timeoutMs} ms:\n${output.join("\n")}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then(() => {
          setTimeout(() => {
            if (listeners.has(check)) {
              listeners.delete(check);
              clearTimeout(timer);
              reject(new Error(`worker child exited before ${pattern}:\n${output.join("\n")}`));
            }
          }, 50);
        });
      });
    },
  };
}

/** Polls `check` until it is true (no assertion on how long it took). */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
