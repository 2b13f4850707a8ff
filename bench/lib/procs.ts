import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { BUILT_SERVER_ENV, freePort } from "../../tests/support/server";
import { WEBHOOK_SECRET } from "../../tests/support/test-env";

/**
 * The processes under test: the built app (server.js), the bare baseline
 * webhook server and the Stripe emulator, each its own `node` process on a
 * loopback port, stopped by pid.
 */

export const root = path.resolve(import.meta.dirname, "../..");
export const cacheDir = path.join(root, ".cache/bench");

export type Server = {
  name: string;
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Lines the process printed (the last few hundred). */
  tail: string[];
  /** Counts every printed line that matches. */
  count(pattern: RegExp): () => number;
  /** The next printed line that matches. */
  nextLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  lines(): number;
  stop(signal?: NodeJS.Signals): Promise<void>;
};

function supervise(name: string, child: ChildProcess, url: string, port: number): Server {
  const tail: string[] = [];
  let total = 0;
  const counters: { pattern: RegExp; n: number }[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let partial = "";
  const onData = (chunk: Buffer) => {
    const text = partial + chunk.toString("utf8");
    const parts = text.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (!line) continue;
      total++;
      for (const counter of counters) if (counter.pattern.test(line)) counter.n++;
      for (const [i, waiter] of [...waiters.entries()].reverse()) {
        if (waiter.pattern.test(line)) {
          waiters.splice(i, 1);
          waiter.resolve(line);
        }
      }
      tail.push(line);
      if (tail.length > 400) tail.splice(0, 200);
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return {
    name,
    url,
    port,
    pid: child.pid!,
    child,
    tail,
    count(pattern) {
      const counter = { pattern, n: 0 };
      counters.push(counter);
      return () => counter.n;
    },
    lines: () => total,
    nextLine: (pattern, timeoutMs = 10_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} printed no line matching ${pattern}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      }),
    stop: (signal = "SIGTERM") =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill(signal);
      }),
  };
}

async function waitUntil(server: Server, ready: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) {
      throw new Error(`${server.name} exited with ${server.child.exitCode}:\n${server.tail.join("\n")}`);
    }
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await server.stop("SIGKILL");
  throw new Error(`${server.name} did not start in ${timeoutMs} ms:\n${server.tail.join("\n")}`);
}

const baseEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME });

/**
 * Builds the app once (`npx remix vite:build`) and copies server.js and
 * build/ aside, so that a rebuild by someone else mid-run (npm test builds)
 * cannot change the code under test. The copy resolves node_modules and
 * runs with the repository as its working directory (migrations, catalog).
 */
export async function buildApp(): Promise<string> {
  await run("npx", ["remix", "vite:build"], { quiet: true });
  const appDir = path.join(cacheDir, "app");
  rmSync(appDir, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });
  cpSync(path.join(root, "build"), path.join(appDir, "build"), { recursive: true });
  cpSync(path.join(root, "server.js"), path.join(appDir, "server.js"));
  return appDir;
}

export function run(command: string, args: string[], { quiet = false } = {}) {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit" });
    let output = "";
    child.stdout?.on("data", (c: Buffer) => (output += c));
    child.stderr?.on("data", (c: Buffer) => (output += c));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited ${code}\n${output}`)),
    );
  });
}

export type AppOptions = {
  appDir: string;
  databasePath: string;
  stripeApiBase: string;
  /** Writes a V8 CPU profile of the server into this folder when it exits. */
  cpuProfDir?: string;
  /** console.info and console.log print nothing (bench/silence-logs.mjs): the cost of logging. */
  silent?: boolean;
  /** SIGUSR2 runs a full GC and prints `bench-memory {...}` (bench/gc-on-signal.mjs). */
  gcOnSignal?: boolean;
  env?: Record<string, string>;
};

const nodeFlags = ({
  cpuProfDir,
  silent,
  gcOnSignal,
}: {
  cpuProfDir?: string;
  silent?: boolean;
  gcOnSignal?: boolean;
}) => [
  ...(cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : []),
  ...(silent ? ["--import", pathToFileURL(path.join(root, "bench/silence-logs.mjs")).href] : []),
  ...(gcOnSignal ? ["--expose-gc", "--import", pathToFileURL(path.join(root, "bench/gc-on-signal.mjs")).href] : []),
];

const appEnv = ({ databasePath, stripeApiBase }: AppOptions, url: string, port: number) => ({
  ...baseEnv(),
  ...BUILT_SERVER_ENV,
  APP_ORIGIN: url,
  PORT: String(port),
  DATABASE_PATH: databasePath,
  STRIPE_API_BASE: stripeApiBase,
});

/** `NODE_ENV=production node server.js` with the environment of tests/support/server.ts. */
export async function startApp(options: AppOptions) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...nodeFlags(options), path.join(options.appDir, "server.js")], {
    cwd: root,
    env: { ...appEnv(options, url, port), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const server = supervise("the app (server.js)", child, url, port);
  await waitUntil(server, async () => (await fetch(`${url}/healthz`)).ok);
  return server;
}

/** bench/action-server.mjs: the app's built webhook action behind a bare node:http server. */
export async function startActionServer(options: AppOptions) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...nodeFlags(options), path.join(root, "bench/action-server.mjs")], {
    cwd: root,
    env: { ...appEnv(options, url, port), BENCH_APP_DIR: options.appDir, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const server = supervise("the webhook action on node:http", child, url, port);
  await waitUntil(server, async () => server.tail.some((l) => l.startsWith("action-server listening")));
  return server;
}

/** bench/baseline-webhook-server.mjs: node:http + the SDK's constructEvent + one INSERT. */
export async function startBaselineWebhookServer({
  databasePath,
  cpuProfDir,
}: {
  databasePath: string;
  cpuProfDir?: string;
}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [...nodeFlags({ cpuProfDir }), path.join(root, "bench/baseline-webhook-server.mjs")],
    {
      cwd: root,
      env: {
        ...baseEnv(),
        NODE_ENV: "production",
        PORT: String(port),
        DATABASE_PATH: databasePath,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const server = supervise("the baseline webhook server", child, url, port);
  await waitUntil(server, async () => server.tail.some((l) => l.startsWith("baseline listening")));
  return server;
}

/** The Stripe emulator (stripe-emulator/main.ts), quiet. */
export async function startEmulator() {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "stripe-emulator/main.ts")], {
    cwd: root,
    env: { ...baseEnv(), NODE_ENV: "development", EMULATOR_PORT: "0", EMULATOR_QUIET: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const server = supervise("the Stripe emulator", child, "", 0);
  let url = "";
  await waitUntil(server, async () => {
    const line = server.tail.find((l) => l.startsWith("stripe-emulator listening on "));
    if (line) url = line.slice("stripe-emulator listening on ".length).trim();
    return Boolean(line);
  });
  server.url = url;
  server.port = Number(new URL(url).port);
  return server;
}

/** Resident set size of a process, in KiB (VmRSS in /proc/<pid>/status). */
export function rssKiB(pid: number, field = "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]);
}
