import { spawn } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

export type LoadSpec =
  | {
      kind: "webhook";
      url: string;
      connections: number;
      warmup: number;
      amount: number;
      from: number;
      secret: string;
      salt?: string;
      /** After the warm-up, say so on stdout and wait for a line on stdin (runLoad's onWarm). */
      handshake?: boolean;
    }
  | {
      kind: "duplicate";
      url: string;
      connections: number;
      amount: number;
      index: number;
      secret: string;
      salt?: string;
    }
  | {
      kind: "buy";
      url: string;
      path: string;
      connections: number;
      warmup: number;
      amount: number;
      cookie: string;
      /** The shopper the cookie carries: the Buy token is bound to it. */
      shopperId: string;
      origin: string;
    }
  | {
      kind: "get";
      url: string;
      path: string;
      connections: number;
      warmup: number;
      amount: number;
      headers: Record<string, string>;
    }
  | { kind: "ttfb"; url: string; path: string; warmup: number; amount: number; headers: Record<string, string> };

export type Latency = { p50: number; p90: number; p99: number; max: number; mean: number };

export type Summary = {
  responses: number;
  elapsedMs: number;
  /** Responses per second over the whole run. */
  rps: number;
  status: Record<string, number>;
  errors: number;
  timeouts: number;
  latency: Latency;
};

export type LoadResult = { warmup: Summary | null; measured: Summary; total?: Summary };

/** The median of a list of figures (the mean of the middle two when their number is even). */
export function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function latencyOf(values: number[]): Latency {
  const sorted = Float64Array.from(values).sort();
  const list = Array.from(sorted);
  return {
    p50: percentile(list, 50),
    p90: percentile(list, 90),
    p99: percentile(list, 99),
    max: list.at(-1) ?? NaN,
    mean: list.reduce((a, b) => a + b, 0) / Math.max(1, list.length),
  };
}

export function summarize(
  latencies: number[],
  status: Record<string, number>,
  elapsedMs: number,
  { errors = 0, timeouts = 0 } = {},
): Summary {
  return {
    responses: latencies.length,
    elapsedMs,
    rps: latencies.length / (elapsedMs / 1000),
    status,
    errors,
    timeouts,
    latency: latencyOf(latencies),
  };
}

/**
 * Runs `script` under tsx as its own process with only `env` (plus PATH and
 * HOME) and returns the JSON of the last line it prints on stdout; rejects
 * with its output when it fails or prints no JSON.
 */
export function runJsonChild<T>(
  label: string,
  script: string,
  args: string[],
  env: { NODE_ENV: NodeJS.ProcessEnv["NODE_ENV"] } & Record<string, string | undefined>,
  { onWarm }: { onWarm?: () => void } = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    if (!onWarm) child.stdin.end();
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c;
      // The worker has warmed up and waits: the caller marks the moment, then it measures.
      if (onWarm && out.includes(WARMED)) {
        out = out.replace(WARMED, "");
        onWarm();
        child.stdin.end("go\n");
      }
    });
    child.stderr.on("data", (c: Buffer) => (err += c));
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !line.startsWith("{")) return reject(new Error(`${label} exited ${code}:\n${err}${out}`));
      resolve(JSON.parse(line) as T);
    });
  });
}

/** The line a load worker prints when its warm-up is done and it waits to measure. */
export const WARMED = "warmed, waiting\n";

/**
 * Runs the load generator (bench/load-worker.ts) as its own process and returns its result.
 * With `onWarm` (a webhook load), the one worker runs the warm-up and then the measured
 * events, and calls `onWarm` between them, before the first measured request: a counter
 * started there counts the measured events alone, and they are sent by a worker that has
 * warmed up too. (A fresh worker per measured run cost the run a start of its own,
 * about a tenth of a second on two cores, which weighed most on the fastest server.)
 */
export function runLoad(spec: LoadSpec, { onWarm }: { onWarm?: () => void } = {}): Promise<LoadResult> {
  const handshake = onWarm !== undefined && spec.kind === "webhook";
  return runJsonChild(
    `load worker (${spec.kind})`,
    path.join(root, "bench/load-worker.ts"),
    [],
    { NODE_ENV: "production", BENCH_LOAD_SPEC: JSON.stringify(handshake ? { ...spec, handshake } : spec) },
    { onWarm: handshake ? onWarm : undefined },
  );
}
