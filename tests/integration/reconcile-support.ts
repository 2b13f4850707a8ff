/**
 * Shared by the reconcile and catalog-sync tests: a clean slate, the whole
 * database as plain rows (to prove that nothing changed), moving the clock
 * for the emulator and the app together, and the CLIs as child processes.
 */
import { spawn } from "node:child_process";
import path from "node:path";

import { vi } from "vitest";

import { db, schema } from "../support/db";

import { emulatorControl } from "../support/emulator";
import { TEST_ENV } from "../support/test-env";

export const emu = emulatorControl();
const root = path.resolve(import.meta.dirname, "../..");

export async function cleanSlate() {
  await emu.reset();
  await emu.clearFaults();
  await db.delete(schema.refunds);
  await db.delete(schema.checkoutSessions);
  await db.delete(schema.shoppers);
  await db.delete(schema.stripeEvents);
  await db.delete(schema.jobLocks);
  await db.delete(schema.jobCheckpoints);
}

export { snapshot } from "../support/db";

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
        ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
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
