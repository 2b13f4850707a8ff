import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { freePort, root, snapshotBuild, spawnNode, waitForLine, type Proc } from "../../tests/support/processes";
import { builtServerEnv, startBuiltServer, startEmulatorProcess, startNodeOptions } from "../../tests/support/server";
import { WEBHOOK_SECRET } from "../../tests/support/test-env";

/**
 * The processes under test: the built app (server.js), the app's webhook
 * action on bare node:http, the baseline webhook server and the Stripe
 * emulator, through the tests' process harness (tests/support/processes.ts).
 */

export { root };
export type Server = Proc;
export const cacheDir = path.join(root, ".cache/bench");

// A server under load prints a line per request: keep the last few hundred.
const KEEP_LINES = 400;

/**
 * Builds the app once (`npx remix vite:build`) and copies server.js and
 * build/ aside, so that a rebuild by someone else mid-run (npm test builds)
 * cannot change the code under test. BENCH_APP_DIR skips this and measures
 * another copy (an older build, for A/B runs).
 */
export async function buildApp(): Promise<string> {
  await run("npx", ["remix", "vite:build"], { quiet: true });
  const appDir = path.join(cacheDir, "app");
  rmSync(appDir, { recursive: true, force: true });
  return snapshotBuild(appDir);
}

/**
 * The same build with bench/lib/enqueue-switch.ts in place of the enqueue
 * (bench/vite.enqueue-switch.config.ts), server.js beside it: bench/jobs.ts
 * runs it with BENCH_ENQUEUE=on and off. Built into .cache/bench, never build/.
 */
export async function buildEnqueueSwitchApp(): Promise<string> {
  const appDir = path.join(cacheDir, "app-enqueue-switch");
  rmSync(appDir, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });
  await run("npx", ["remix", "vite:build", "--config", "bench/vite.enqueue-switch.config.ts"], {
    quiet: true,
    env: { BENCH_SWITCH_BUILD_DIR: path.join(appDir, "build") },
  });
  for (const file of ["server.js", "package.json"]) copyFileSync(path.join(root, file), path.join(appDir, file));
  symlinkSync(path.join(root, "node_modules"), path.join(appDir, "node_modules"), "dir");
  return appDir;
}

function run(
  command: string,
  args: string[],
  { quiet = false, env = {} }: { quiet?: boolean; env?: Record<string, string> } = {},
) {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit",
    });
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
  /** Nothing is written to stdout, pino's lines included (bench/silence-logs.mjs): the cost of logging. */
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

const BENCH_CHECKOUT_BOUNDS = { CHECKOUTS_PER_SHOPPER: "1000000", CHECKOUTS_PER_ADDRESS: "1000000" };

/** `NODE_ENV=production node server.js` with the environment of the tests' built server. */
export function startApp(options: AppOptions): Promise<Server> {
  return startBuiltServer({
    ...options,
    // The Buy scenario posts hundreds of checkouts from one shopper on one address: the shop's
    // bounds (10 and 30 per 10 minutes) would answer 429 after the first few and measure that.
    env: { ...BENCH_CHECKOUT_BOUNDS, ...options.env },
    nodeArgs: nodeFlags(options),
    keepLines: KEEP_LINES,
  });
}

/**
 * bench/action-server.mjs: the webhook action behind bare node:http, or with
 * `viaRemix`, Remix's request handler behind the same bare node:http.
 */
export async function startActionServer(options: AppOptions & { viaRemix?: boolean }): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawnNode(
    options.viaRemix ? "Remix's handler on node:http" : "the webhook action on node:http",
    // The app's layers run with the Node options server.js ships with (package.json's start).
    [...startNodeOptions(options.appDir), ...nodeFlags(options), path.join(root, "bench/action-server.mjs")],
    {
      env: {
        ...builtServerEnv({ ...options, url }),
        BENCH_APP_DIR: options.appDir,
        ...(options.viaRemix ? { BENCH_ACTION_VIA: "remix" } : {}),
        ...options.env,
      },
      keepLines: KEEP_LINES,
    },
  );
  Object.assign(server, { url, port });
  await waitForLine(server, "action-server listening");
  return server;
}

/** bench/baseline-webhook-server.mjs: node:http + the SDK's constructEvent + one INSERT. */
export async function startBaselineWebhookServer({
  databasePath,
  cpuProfDir,
}: {
  databasePath: string;
  cpuProfDir?: string;
}): Promise<Server> {
  const port = await freePort();
  const server = spawnNode(
    "the baseline webhook server",
    [...nodeFlags({ cpuProfDir }), path.join(root, "bench/baseline-webhook-server.mjs")],
    {
      env: {
        NODE_ENV: "production",
        PORT: String(port),
        DATABASE_PATH: databasePath,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      keepLines: KEEP_LINES,
    },
  );
  Object.assign(server, { url: `http://127.0.0.1:${port}`, port });
  await waitForLine(server, "baseline listening");
  return server;
}

/** bench/baseline-webhook-server-pg.mjs: the same over `pg`, BEGIN/INSERT/COMMIT, pool of `poolMax`. */
export async function startBaselinePgWebhookServer({
  databaseUrl,
  poolMax,
}: {
  databaseUrl: string;
  poolMax: number;
}): Promise<Server> {
  const port = await freePort();
  const server = spawnNode(
    "the PostgreSQL baseline webhook server",
    [path.join(root, "bench/baseline-webhook-server-pg.mjs")],
    {
      env: {
        NODE_ENV: "production",
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        DATABASE_POOL_MAX: String(poolMax),
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      keepLines: KEEP_LINES,
    },
  );
  Object.assign(server, { url: `http://127.0.0.1:${port}`, port });
  await waitForLine(server, "baseline listening");
  return server;
}

/** The Stripe emulator (stripe-emulator/main.ts), quiet, with its default retry delays. */
export function startEmulator(): Promise<Server> {
  return startEmulatorProcess({ env: { EMULATOR_QUIET: "1", EMULATOR_RETRY_BASE_MS: "1000" } });
}

/** Resident set size of a process, in KiB (VmRSS in /proc/<pid>/status). */
export function rssKiB(pid: number, field = "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]);
}

/**
 * The CPU times of a /proc/<pid>/stat line, in microseconds (the kernel's ticks are 10 ms):
 * the process's user and system time, and its reaped children's (cutime + cstime).
 */
function statTimesUs(stat: string): { user: number; system: number; children: number } {
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  return { user: fields[11]! * 10_000, system: fields[12]! * 10_000, children: (fields[13]! + fields[14]!) * 10_000 };
}

/** CPU time (user + system) a process has used, and the kernel's part of it (system calls: sockets, writes), in microseconds. */
export function cpuTimesUs(pid: number): { total: number; system: number } {
  const { user, system } = statTimesUs(readFileSync(`/proc/${pid}/stat`, "utf8"));
  return { total: user + system, system };
}

/** CPU time (user + system) a process has used, in microseconds. */
export const cpuUs = (pid: number): number => cpuTimesUs(pid).total;

/**
 * CPU time every PostgreSQL process of this machine has used, in microseconds:
 * its backends, WAL writer, checkpointer and the rest (the bench's server is
 * local; other databases' work on it counts too). A backend that has exited
 * (its client's pool closed the connection) still counts: the postmaster reaps
 * it, and its CPU moves into the postmaster's children's times, counted here.
 * Without them a pool closing idle connections made the sum go down.
 */
export function postgresCpuUs(): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    if (!stat.includes("(postgres)")) continue;
    const { user, system, children } = statTimesUs(stat);
    total += user + system + children;
  }
  return total;
}

/** Copies a SQLite fixture's rows into the (empty) PostgreSQL database at `url` (npm run db:copy-to-postgres). */
export function copyToPostgres(file: string, url: string) {
  execFileSync(process.execPath, ["--import", "tsx", path.join(root, "scripts/copy-sqlite-to-pg.ts")], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "production",
      DATABASE_PATH: file,
      DATABASE_URL: url,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/**
 * ANALYZE on the tables of `url` that hold rows, never on an empty one: on a server with
 * autovacuum off, an empty table analyzed as such keeps a plan made for a few pages (a
 * sequential scan) on every connection for the rest of a run (docs/decisions/193-bench-analyzes-loaded-tables.md).
 */
export async function analyzeLoadedTables(url: string) {
  const pool = new (await import("pg")).default.Pool({ connectionString: url, max: 1 });
  try {
    const { rows: tables } = await pool.query<{ name: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    );
    for (const { name } of tables) {
      const { rows } = await pool.query(`SELECT EXISTS (SELECT 1 FROM ${name}) AS loaded`);
      if (rows[0].loaded) await pool.query(`ANALYZE ${name}`);
    }
  } finally {
    await pool.end();
  }
}
