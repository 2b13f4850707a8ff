import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/**
 * The one process harness of the tests and the benchmarks: `node` started
 * directly (so that killing the pid stops it), its output kept line by line,
 * readiness awaited by polling, and a private copy of the build to run from.
 * What the processes are (the built app, the emulator) is in server.ts.
 */

export const root = path.resolve(import.meta.dirname, "../..");

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
  name: string;
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** The lines the process printed (stdout and stderr), all of them or the last `keepLines`. */
  output: string[];
  /** How many lines it printed in all. */
  lines(): number;
  /** Counts every line printed from now on that matches. */
  count(pattern: RegExp): () => number;
  /** The next line printed that matches. */
  nextLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Stops the process (SIGKILL if it has not exited after 15 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
};

/**
 * `node ...args` from the repository with only PATH and HOME from this
 * environment plus `env`. `keepLines`: bound the kept output (a server under
 * load prints a line per request).
 */
export function spawnNode(
  name: string,
  args: string[],
  { env = {}, keepLines = Number.POSITIVE_INFINITY }: { env?: Record<string, string>; keepLines?: number } = {},
): Proc {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  let total = 0;
  const counters: { pattern: RegExp; n: number }[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onLine = (line: string) => {
    total++;
    for (const counter of counters) if (counter.pattern.test(line)) counter.n++;
    for (const [i, waiter] of [...waiters.entries()].reverse()) {
      if (waiter.pattern.test(line)) {
        waiters.splice(i, 1);
        waiter.resolve(line);
      }
    }
    output.push(line);
    if (output.length > keepLines) output.splice(0, Math.ceil(keepLines / 2));
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = "";
    stream?.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) if (line) onLine(line);
    });
    stream?.on("end", () => partial && onLine(partial));
  }
  return {
    name,
    url: "",
    port: 0,
    pid: child.pid!,
    child,
    output,
    lines: () => total,
    count(pattern) {
      const counter = { pattern, n: 0 };
      counters.push(counter);
      return () => counter.n;
    },
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

/** Polls `ready` until it says yes; fails with the process's output if it exits or the time runs out (and kills it). */
export async function waitUntil(proc: Proc, ready: () => Promise<boolean> | boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited with ${proc.child.exitCode}:\n${proc.output.join("\n")}`);
    }
    if (await Promise.resolve(ready()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop("SIGKILL");
  throw new Error(`${proc.name} did not start in ${timeoutMs} ms:\n${proc.output.join("\n")}`);
}

/** Waits for the line starting with `prefix` (printed before or after this call) and returns the rest of it. */
export async function waitForLine(proc: Proc, prefix: string, timeoutMs?: number): Promise<string> {
  let rest = "";
  await waitUntil(
    proc,
    () => {
      const line = proc.output.find((l) => l.startsWith(prefix));
      if (line !== undefined) rest = line.slice(prefix.length).trim();
      return line !== undefined;
    },
    timeoutMs,
  );
  return rest;
}

/** Waits until GET url/healthz answers 200. */
export function waitForHealth(proc: Proc, timeoutMs?: number) {
  return waitUntil(proc, async () => (await fetch(`${proc.url}/healthz`)).ok, timeoutMs);
}

/**
 * A private copy of server.js and build/ (node_modules linked), so that a
 * long-running server keeps serving what it was built with even if someone
 * rebuilds the repository meanwhile (a shared working tree). `into`: an empty
 * folder to copy into (default: a new temporary one). The copy runs with the
 * repository as its working directory (migrations, catalog).
 */
export async function snapshotBuild(into?: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const dir = into ?? mkdtempSync(path.join(os.tmpdir(), "shop-build-"));
    try {
      cpSync(path.join(root, "build"), path.join(dir, "build"), { recursive: true });
      for (const file of ["server.js", "package.json"]) copyFileSync(path.join(root, file), path.join(dir, file));
      symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
      // Copied in the middle of a rebuild? Every asset the server build names must be there.
      const server = readFileSync(path.join(dir, "build/server/index.js"), "utf8");
      // "./assets/..." is a chunk of the server build itself (a dynamic import), not a client asset.
      const assets = new Set(server.match(/(?<!\.)\/assets\/[\w.-]+\.(?:js|css)/g) ?? []);
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
