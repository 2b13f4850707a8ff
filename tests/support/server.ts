import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { SESSION_SECRET, PREVIOUS_SESSION_SECRET, WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET } from "./test-env";

/**
 * Starts real processes for tests: the built app (`npm start`'s server.js)
 * and the Stripe emulator. `node` is started directly so that killing the
 * pid stops it; ports are picked free on loopback.
 */

const root = path.resolve(import.meta.dirname, "../..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export type Proc = {
  url: string;
  port: number;
  child: ChildProcess;
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
};

function collect(child: ChildProcess) {
  const output: string[] = [];
  const push = (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout?.on("data", push);
  child.stderr?.on("data", push);
  return output;
}

function stopper(child: ChildProcess) {
  return (signal: NodeJS.Signals = "SIGTERM") =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  output: string[],
  child: ChildProcess,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${output.join("\n")}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start in ${timeoutMs} ms:\n${output.join("\n")}`);
}

/** A fresh database file: a copy of the migrated base when one is given. */
export function tempDatabase(base?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "shop-db-"));
  const file = path.join(dir, "app.db");
  if (base && existsSync(base)) copyFileSync(base, file);
  return file;
}

export const BUILT_SERVER_ENV = {
  NODE_ENV: "production" as const,
  STRIPE_SECRET_KEY: "sk_test_shop_tests_only",
  STRIPE_WEBHOOK_SECRET: `${WEBHOOK_SECRET},${PREVIOUS_WEBHOOK_SECRET}`,
  SESSION_SECRET: `${SESSION_SECRET},${PREVIOUS_SESSION_SECRET}`,
  STRIPE_TIMEOUT_MS: "1500",
  // No job worker (it would need MAIL_URL in production); tests/integration/jobs-mail.test.ts runs one.
  WORKER: "off",
};

/**
 * Starts `node server.js` (the build must exist: `npm test` builds first).
 * `appDir`: where server.js and build/ are, when not the repository (a
 * snapshot of the build, see snapshotBuild); the working directory stays the
 * repository's (db/migrations). `port`: a port picked beforehand.
 */
export async function startBuiltServer({
  stripeApiBase,
  databasePath = tempDatabase(),
  env = {},
  appDir = root,
  port: chosenPort,
}: {
  stripeApiBase: string;
  databasePath?: string;
  env?: Record<string, string>;
  appDir?: string;
  port?: number;
}): Promise<Proc & { databasePath: string }> {
  if (!existsSync(path.join(appDir, "build/server/index.js"))) {
    throw new Error("No build: run `npx remix vite:build` (npm test does) before the built-server tests.");
  }
  const port = chosenPort ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [path.join(appDir, "server.js")], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...BUILT_SERVER_ENV,
      APP_ORIGIN: url,
      PORT: String(port),
      DATABASE_PATH: databasePath,
      STRIPE_API_BASE: stripeApiBase,
      ...env,
    } as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = collect(child);
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, "the built server", output, child);
  return { url, port, child, output, databasePath, stop: stopper(child) };
}

/**
 * A private copy of server.js and build/ (node_modules linked), so that a
 * long-running server keeps serving the assets it was built with even if
 * someone rebuilds the repository meanwhile (a shared working tree).
 */
export async function snapshotBuild(): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "shop-build-"));
    try {
      cpSync(path.join(root, "build"), path.join(dir, "build"), { recursive: true });
      for (const file of ["server.js", "package.json"]) copyFileSync(path.join(root, file), path.join(dir, file));
      symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
      // Copied in the middle of a rebuild? Every asset the server build names must be there.
      const server = readFileSync(path.join(dir, "build/server/index.js"), "utf8");
      const assets = new Set(server.match(/\/assets\/[\w.-]+\.(?:js|css)/g) ?? []);
      const missing = [...assets].filter((asset) => !existsSync(path.join(dir, "build/client", asset)));
      if (missing.length > 0) throw new Error(`the build is incomplete, missing ${missing.join(", ")}`);
      return dir;
    } catch (error: unknown) {
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= 20) {
        throw new Error(
          `No usable build to copy (run \`npx remix vite:build\`): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Starts the Stripe emulator as its own process (stripe-emulator/main.ts). */
export async function startEmulatorProcess({
  webhookUrl,
  webhookSecret = WEBHOOK_SECRET,
  env = {},
}: {
  webhookUrl?: string;
  webhookSecret?: string;
  env?: Record<string, string>;
} = {}): Promise<Proc> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "stripe-emulator/main.ts")], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "development",
      EMULATOR_PORT: "0",
      EMULATOR_RETRY_BASE_MS: "200",
      ...(webhookUrl ? { EMULATOR_WEBHOOK_URL: webhookUrl, EMULATOR_WEBHOOK_SECRET: webhookSecret } : {}),
      ...env,
    } as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = collect(child);
  let url = "";
  await waitFor(
    async () => {
      const line = output.find((l) => l.startsWith("stripe-emulator listening on "));
      if (line) url = line.slice("stripe-emulator listening on ".length).trim();
      return Boolean(line);
    },
    "the Stripe emulator",
    output,
    child,
  );
  return { url, port: Number(new URL(url).port), child, output, stop: stopper(child) };
}
