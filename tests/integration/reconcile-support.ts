/**
 * Shared by the reconcile and catalog-sync tests: a clean slate, the whole
 * database as plain rows (to prove that nothing changed), moving the clock
 * for the emulator and the app together, and the CLIs as child processes.
 */
import { spawn } from "node:child_process";
import path from "node:path";

import { vi } from "vitest";

import { db, schema, sqlite } from "../support/db";

import { emulatorControl } from "../support/emulator";
import { TEST_ENV } from "../support/test-env";

export const emu = emulatorControl();
const root = path.resolve(import.meta.dirname, "../..");

export async function cleanSlate() {
  await emu.reset();
  await emu.clearFaults();
  db.delete(schema.checkoutSessions).run();
  db.delete(schema.shoppers).run();
  db.delete(schema.stripeEvents).run();
  db.delete(schema.jobLocks).run();
  db.delete(schema.jobCheckpoints).run();
}

/** Every row of every table, to compare before and after. */
export function snapshot() {
  const tables = sqlite
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name",
    )
    .all() as Array<{ name: string }>;
  return Object.fromEntries(
    tables.map(({ name }) => [name, sqlite.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all()]),
  );
}

/**
 * Runs `fn` with the clock at `time` (ms) for everything in this process: the
 * in-process emulator stamps its events with it, so they are that old later.
 */
export async function at<T>(time: number, fn: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ["Date"], now: time });
  try {
    return await fn();
  } finally {
    vi.useRealTimers();
  }
}

export const DAY = 86_400_000;

export type CliResult = { code: number | null; stdout: string; stderr: string };

/**
 * Runs a script as `node --import tsx scripts/<name>.ts` against this test
 * file's database and emulator. Asynchronous on purpose: the emulator lives
 * in this process and must keep answering while the child runs.
 */
export function runCli(name: "reconcile" | "sync-catalog", args: string[] = [], env: Record<string, string> = {}) {
  return new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts", `${name}.ts`), ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...TEST_ENV,
        DATABASE_PATH: process.env.DATABASE_PATH,
        STRIPE_API_BASE: emu.url,
        ...env,
      } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
