import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";

import Database from "better-sqlite3";

import { createTestDatabase, postgresUnavailable, type TestDatabase } from "../tests/support/pg-database";
import { BUILT_SERVER_ENV, builtServerEnv } from "../tests/support/server";
import { WEBHOOK_SECRET } from "../tests/support/test-env";
import { jobsScenario } from "./jobs";
import { shopperCookie } from "./lib/cookie";
import {
  checkpoint,
  copyDatabase,
  fileSize,
  paidIndex,
  PRODUCT_SLUG,
  seedCheckouts,
  sessionId,
  shopperOf,
} from "./lib/fixtures";
import { type Latency, type LoadResult, median, runLoad, type Summary } from "./lib/load";
import {
  analyzeLoadedTables,
  buildApp,
  cacheDir,
  copyToPostgres,
  cpuTimesUs,
  postgresCpuUs,
  root,
  rssKiB,
  startActionServer,
  startApp,
  startBaselinePgWebhookServer,
  startBaselineWebhookServer,
  startEmulator,
  type Server,
} from "./lib/procs";

/**
 * `npm run bench`: builds the app, starts it with the Stripe emulator, runs
 * each scenario (docs/benchmarks.md) after a warm-up with autocannon in its own
 * process, prints a table and writes bench/results.json.
 *
 *   BENCH_QUICK=1      small sizes, for developing the benchmark (about three minutes)
 *   BENCH_ONLY=a,b     only these scenarios: webhook, duplicate, memory, buy, pages, success, postgres, jobs
 *   BENCH_OUT=file     where to write the results (default bench/results.json;
 *                      bench/results-*.json is ignored by git, for scratch runs)
 *   BENCH_PROFILE=1    start the app and the baseline with --cpu-prof (.cache/bench/profiles)
 *   BENCH_FRESH=1      rebuild the cached 1,000,000-row fixture
 *   TEST_DATABASE_URL  the PostgreSQL server of the PostgreSQL pass (default postgres://postgres@127.0.0.1:5432/postgres);
 *                      each scenario gets a fresh database of its own, dropped afterwards
 *   BENCH_APP_DIR=dir  measure the server.js and build/ in dir instead of building
 *                      (an A/B comparison: a `git worktree` of another commit, built)
 */

const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);
const OUT = path.resolve(root, process.env.BENCH_OUT ?? "bench/results.json");
const PROFILE_DIR =
  process.env.BENCH_PROFILE === "1"
    ? path.join(cacheDir, "profiles", new Date().toISOString().replace(/[:.]/g, "-"))
    : undefined;
const wanted = (name: string) => ONLY.size === 0 || ONLY.has(name);

const SIZES = QUICK
  ? {
      rounds: 1,
      webhookWarmup: 300,
      webhookEvents: 1_500,
      oneConnWarmup: 100,
      oneConnEvents: 500,
      decomposeWarmup: 200,
      decomposeEvents: 800,
      pgLayerWarmup: 500,
      duplicates: 2_000,
      memoryEvents: 10_000,
      memoryStep: 2_000,
      buyWarmup: 20,
      buyRequests: 100,
      pageRequests: 50,
      successWarmup: 50,
      successRequests: 300,
      small: 1_000,
      large: 10_000,
    }
  : {
      rounds: 3,
      webhookWarmup: 1_000,
      webhookEvents: 5_000,
      oneConnWarmup: 200,
      oneConnEvents: 2_000,
      decomposeWarmup: 300,
      decomposeEvents: 2_000,
      // A fresh server on PostgreSQL spends up to twice the CPU per event on its first few
      // thousand events as later (docs/benchmarks.md): P1a's layers warm up this long first.
      pgLayerWarmup: 4_000,
      duplicates: 5_000,
      memoryEvents: 100_000,
      memoryStep: 10_000,
      buyWarmup: 50,
      buyRequests: 600,
      pageRequests: 300,
      successWarmup: 200,
      successRequests: 1_500,
      small: 10_000,
      large: 1_000_000,
    };

const TARGETS = {
  webhookRatio: 0.5,
  webhookP99Ms: 60,
  webhookOneConnP99Ms: 5,
  buyAddedP50Ms: 5,
  successP50Ms: 2,
};

/* -------------------------------------------------------------------------- */

type Row = {
  scenario: string;
  figure: string;
  app: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
};
const rows: Row[] = [];
const results: Record<string, unknown> = {};
const started = Date.now();
const log = (message: string) =>
  console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}`);
/** The machine's load average when each scenario began: how noisy its figures may be. */
const loadAverages: Record<string, number[]> = {};
const noteLoad = (scenario: string) => (loadAverages[scenario] = os.loadavg().map((v) => round(v, 2)));

const ms = (value: number) => (Number.isFinite(value) ? `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms` : "-");
const perSecond = (value: number) => `${Math.round(value).toLocaleString("en-US")}/s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const yes = (ok: boolean) => (ok ? "yes" : "NO");
const lat = (l: Latency) => ({
  p50: round(l.p50),
  p90: round(l.p90),
  p99: round(l.p99),
  max: round(l.max),
  mean: round(l.mean),
});
const round = (value: number, digits = 3) => Number(value.toFixed(digits));
const brief = (s: Summary) => ({
  responses: s.responses,
  seconds: round(s.elapsedMs / 1000),
  perSecond: round(s.rps, 1),
  latencyMs: lat(s.latency),
  status: s.status,
  errors: s.errors,
  timeouts: s.timeouts,
});
const only2xx = (s: Summary) =>
  Object.entries(s.status).every(([code]) => code.startsWith("2")) && s.errors === 0 && s.timeouts === 0;

function git(...args: string[]) {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    commit: git("rev-parse", "HEAD"),
    // Files under test that differ from the commit (other engineers' work in progress).
    uncommitted: git("status", "--porcelain", "--", "app", "server.js", "db").split("\n").filter(Boolean),
    loadAverageAtStart: os.loadavg().map((v) => round(v, 2)),
  };
}

/* -------------------------------------------------------------------------- */
/* Scenario 1 and 2: webhook ingest and the duplicate storm                   */
/* -------------------------------------------------------------------------- */

async function webhookScenarios(ctx: Context) {
  const { rounds, webhookWarmup, webhookEvents, duplicates } = SIZES;
  const perRound = webhookWarmup + webhookEvents;
  const dupIndex = rounds * perRound;
  // dupIndex + 1: the duplicate storm's warm-up, another checkout's event.
  const memoryFrom = dupIndex + 2;
  const fixture = path.join(ctx.tmp, "webhooks.db");
  copyDatabase(ctx.baseDb, fixture);
  // After the memory scenario's checkouts: the one-connection run's.
  const oneConnFrom = memoryFrom + SIZES.memoryEvents;
  seedCheckouts(fixture, { count: oneConnFrom + SIZES.oneConnWarmup + SIZES.oneConnEvents, kind: "open" });
  const pristine = path.join(ctx.tmp, "webhooks-pristine.db");
  copyDatabase(fixture, pristine);
  ctx.webhookDb = fixture;
  ctx.memoryFrom = memoryFrom;
  if (!wanted("webhook") && !wanted("duplicate")) return;

  const app = await startApp({
    appDir: ctx.appDir,
    databasePath: fixture,
    stripeApiBase: ctx.emulator.url,
    cpuProfDir: PROFILE_DIR,
  });
  const baselineDb = path.join(ctx.tmp, "baseline.db");
  const baseline = await startBaselineWebhookServer({ databasePath: baselineDb, cpuProfDir: PROFILE_DIR });
  const fulfilledLines = app.count(/fulfilled checkout_session=/);
  try {
    if (wanted("webhook")) {
      log(
        `scenario 1: webhook ingest, ${rounds} rounds of ${webhookEvents} events (+${webhookWarmup} warm-up), 32 connections`,
      );
      const perRoundResults: { app: Summary; baseline: Summary; ratio: number }[] = [];
      for (let r = 0; r < rounds; r++) {
        const from = r * perRound;
        const spec = {
          kind: "webhook" as const,
          connections: 32,
          warmup: webhookWarmup,
          amount: webhookEvents,
          from,
          secret: WEBHOOK_SECRET,
        };
        // Alternate who goes first, so that a slow spell of the machine does not always hit the same side.
        const order = r % 2 === 0 ? (["app", "baseline"] as const) : (["baseline", "app"] as const);
        const got: Partial<Record<"app" | "baseline", LoadResult>> = {};
        for (const side of order) {
          const url = side === "app" ? app.url : baseline.url;
          got[side] = await runLoad({ ...spec, url, salt: side === "baseline" ? `b${r}` : "" });
        }
        const a = got.app!.measured;
        const b = got.baseline!.measured;
        perRoundResults.push({ app: a, baseline: b, ratio: a.rps / b.rps });
        log(
          `  round ${r + 1}: app ${perSecond(a.rps)} p99 ${ms(a.latency.p99)}; baseline ${perSecond(b.rps)} p99 ${ms(b.latency.p99)}; ratio ${(a.rps / b.rps).toFixed(2)}`,
        );
      }
      const appRps = median(perRoundResults.map((x) => x.app.rps));
      const baseRps = median(perRoundResults.map((x) => x.baseline.rps));
      const ratio = median(perRoundResults.map((x) => x.ratio));
      const appP50 = median(perRoundResults.map((x) => x.app.latency.p50));
      const appP99 = median(perRoundResults.map((x) => x.app.latency.p99));
      const baseP50 = median(perRoundResults.map((x) => x.baseline.latency.p50));
      const baseP99 = median(perRoundResults.map((x) => x.baseline.latency.p99));
      const all2xx = perRoundResults.every((x) => only2xx(x.app) && only2xx(x.baseline));

      // Every event the app answered 2xx for is stored, and its checkout fulfilled once.
      const db = new Database(fixture, { readonly: true });
      const stored = (db.prepare("SELECT count(*) AS n FROM stripe_events").get() as { n: number }).n;
      const fulfilled = (
        db.prepare("SELECT count(*) AS n FROM checkout_sessions WHERE fulfilled_at IS NOT NULL").get() as { n: number }
      ).n;
      db.close();
      const sent = rounds * perRound;

      ctx.webhookAppRps = appRps;
      results.webhookIngest = {
        connections: 32,
        rounds: perRoundResults.map((x) => ({ app: brief(x.app), baseline: brief(x.baseline), ratio: round(x.ratio) })),
        median: {
          appPerSecond: round(appRps, 1),
          baselinePerSecond: round(baseRps, 1),
          ratio: round(ratio),
          appP50Ms: round(appP50),
          appP99Ms: round(appP99),
          baselineP50Ms: round(baseP50),
          baselineP99Ms: round(baseP99),
        },
        checks: {
          all2xx,
          eventsSent: sent,
          eventsStored: stored,
          checkoutsFulfilled: fulfilled,
          fulfilledLogLines: fulfilledLines(),
        },
        targets: { ratioAtLeast: TARGETS.webhookRatio, p99UnderMs: TARGETS.webhookP99Ms },
        met: { ratio: ratio >= TARGETS.webhookRatio, p99: appP99 < TARGETS.webhookP99Ms },
      };
      rows.push(
        {
          scenario: "1 webhook ingest (32 conn)",
          figure: "events/s (median of rounds)",
          app: perSecond(appRps),
          baseline: perSecond(baseRps),
          ratio: ratio.toFixed(2),
          target: `ratio >= ${TARGETS.webhookRatio}`,
          met: yes(ratio >= TARGETS.webhookRatio),
        },
        {
          scenario: "",
          figure: "p50 latency",
          app: ms(appP50),
          baseline: ms(baseP50),
          ratio: (appP50 / baseP50).toFixed(2),
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: "p99 latency",
          app: ms(appP99),
          baseline: ms(baseP99),
          ratio: (appP99 / baseP99).toFixed(2),
          target: `< ${TARGETS.webhookP99Ms} ms`,
          met: yes(appP99 < TARGETS.webhookP99Ms),
        },
        {
          scenario: "",
          figure: "2xx, stored, fulfilled",
          app: `${all2xx ? "all 2xx" : "NOT all 2xx"}, ${stored}/${sent}, ${fulfilled}`,
          baseline: "",
          ratio: "",
          target: "all",
          met: yes(all2xx && stored === sent && fulfilled === sent),
        },
      );
    }

    if (wanted("webhook")) {
      // One connection: each event alone in its commit (group commit only waits one setImmediate).
      const { oneConnWarmup, oneConnEvents } = SIZES;
      log(`scenario 1, one connection: ${oneConnEvents} events (+${oneConnWarmup} warm-up), app and baseline`);
      const spec = {
        kind: "webhook" as const,
        connections: 1,
        warmup: oneConnWarmup,
        amount: oneConnEvents,
        from: oneConnFrom,
        secret: WEBHOOK_SECRET,
      };
      const a = (await runLoad({ ...spec, url: app.url })).measured;
      const b = (await runLoad({ ...spec, url: baseline.url, salt: "b1c" })).measured;
      log(
        `  app p50 ${ms(a.latency.p50)} p99 ${ms(a.latency.p99)}; baseline p50 ${ms(b.latency.p50)} p99 ${ms(b.latency.p99)}`,
      );
      results.webhookOneConnection = {
        app: brief(a),
        baseline: brief(b),
        all2xx: only2xx(a) && only2xx(b),
        targets: { p99UnderMs: TARGETS.webhookOneConnP99Ms },
        met: { p99: a.latency.p99 < TARGETS.webhookOneConnP99Ms },
      };
      rows.push({
        scenario: "1 webhook, 1 connection",
        figure: "p50 / p99 latency",
        app: `${ms(a.latency.p50)} / ${ms(a.latency.p99)}${only2xx(a) ? "" : " (NOT all 2xx)"}`,
        baseline: `${ms(b.latency.p50)} / ${ms(b.latency.p99)}`,
        ratio: (a.latency.p99 / b.latency.p99).toFixed(2),
        target: `p99 < ${TARGETS.webhookOneConnP99Ms} ms`,
        met: yes(a.latency.p99 < TARGETS.webhookOneConnP99Ms && only2xx(a)),
      });
    }

    if (wanted("webhook")) await decomposeWebhook(ctx, pristine);
    if (wanted("webhook")) await stateMachineCosts(ctx);

    if (wanted("duplicate")) {
      log(`scenario 2: one event delivered ${duplicates} times, 64 connections`);
      const dupFulfilled = app.count(new RegExp(`fulfilled checkout_session=${sessionId(dupIndex)} `));
      // Warm-up: the duplicate path and 64 connections, with another checkout's event.
      await runLoad({
        kind: "duplicate",
        url: app.url,
        connections: 64,
        amount: Math.ceil(duplicates / 4),
        index: dupIndex + 1,
        secret: WEBHOOK_SECRET,
        salt: "dup-warm",
      });
      const result = await runLoad({
        kind: "duplicate",
        url: app.url,
        connections: 64,
        amount: duplicates,
        index: dupIndex,
        secret: WEBHOOK_SECRET,
        salt: "dup",
      });
      const s = result.measured;
      await new Promise((r) => setTimeout(r, 200)); // the last log lines
      const db = new Database(fixture, { readonly: true });
      const row = db
        .prepare("SELECT fulfilled_at, payment_status FROM checkout_sessions WHERE id = ?")
        .get(sessionId(dupIndex)) as { fulfilled_at: number | null; payment_status: string };
      db.close();
      const all2xx = only2xx(s) && s.responses === duplicates;
      const once = dupFulfilled() === 1 && row.fulfilled_at !== null && row.payment_status === "paid";
      const vsIngest = ctx.webhookAppRps ? s.rps / ctx.webhookAppRps : NaN;
      results.duplicateStorm = {
        connections: 64,
        deliveries: duplicates,
        result: brief(s),
        checks: { all2xx, fulfillments: dupFulfilled(), paid: row.payment_status === "paid" },
        ingestPerSecond: ctx.webhookAppRps ? round(ctx.webhookAppRps, 1) : null,
        ratioToIngest: Number.isFinite(vsIngest) ? round(vsIngest) : null,
        met: { all2xx, exactlyOnce: once, atLeastAsFast: vsIngest >= 1 },
      };
      rows.push(
        {
          scenario: "2 duplicate storm (64 conn)",
          figure: "deliveries/s",
          app: perSecond(s.rps),
          baseline: ctx.webhookAppRps ? `${perSecond(ctx.webhookAppRps)} (ingest)` : "-",
          ratio: Number.isFinite(vsIngest) ? vsIngest.toFixed(2) : "-",
          target: ">= ingest",
          met: Number.isFinite(vsIngest) ? yes(vsIngest >= 1) : "-",
        },
        {
          scenario: "",
          figure: "p50 / p99",
          app: `${ms(s.latency.p50)} / ${ms(s.latency.p99)}`,
          baseline: "",
          ratio: "",
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: "all 2xx, fulfillments",
          app: `${all2xx ? "all 2xx" : "NOT all 2xx"}, ${dupFulfilled()}`,
          baseline: "",
          ratio: "",
          target: "all, 1",
          met: yes(all2xx && once),
        },
      );
    }
  } finally {
    await app.stop();
    await baseline.stop();
  }
}

/**
 * Where the app's time per event goes, from the baseline up to the shipped
 * server, one layer at a time, each on a fresh copy of the same fixture with
 * the same events: the baseline; the app's webhook action (state machine
 * included) behind bare node:http, without and with its log lines; the whole
 * server.js without and with its log lines.
 */
async function decomposeWebhook(ctx: Context, pristine: string) {
  const { decomposeWarmup, decomposeEvents } = SIZES;
  log(
    `scenario 1, layers: ${decomposeEvents} events (+${decomposeWarmup} warm-up) through each layer, twice (the second pass in reverse order), 32 connections`,
  );
  const common = { appDir: ctx.appDir, stripeApiBase: ctx.emulator.url };
  const variants: [string, (databasePath: string) => Promise<Server>][] = [
    ["baseline: node:http + constructEvent + 1 INSERT", (databasePath) => startBaselineWebhookServer({ databasePath })],
    [
      "app's webhook action on node:http, logs off",
      (databasePath) => startActionServer({ ...common, databasePath, silent: true }),
    ],
    ["app's webhook action on node:http", (databasePath) => startActionServer({ ...common, databasePath })],
    [
      "Remix's handler on the same node:http, logs off",
      (databasePath) => startActionServer({ ...common, databasePath, silent: true, viaRemix: true }),
    ],
    ["server.js (node:http + Remix), logs off", (databasePath) => startApp({ ...common, databasePath, silent: true })],
    ["server.js (node:http + Remix), as shipped", (databasePath) => startApp({ ...common, databasePath })],
  ];
  const passes: Summary[][] = [[], []];
  const cpu: LayerCpu[][] = [[], []];
  for (const pass of [0, 1]) {
    const order = pass === 0 ? [...variants.keys()] : [...variants.keys()].reverse();
    for (const index of order) {
      const [layer, start] = variants[index]!;
      const file = path.join(ctx.tmp, `layer-${index}.db`);
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
      if (index > 0) copyDatabase(pristine, file);
      const server = await start(file);
      try {
        const { measured, cpu: used } = await layerRun(server, {
          warmup: decomposeWarmup,
          amount: decomposeEvents,
          from: 0,
          salt: `layer${index}`,
        });
        passes[pass]![index] = measured;
        cpu[pass]![index] = used;
        log(
          `  ${layer}: ${perSecond(measured.rps)} (${Math.round(1e6 / measured.rps)} us/event), p99 ${ms(measured.latency.p99)}`,
        );
      } finally {
        await server.stop();
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
      }
    }
  }
  (results.webhookIngest as Record<string, unknown>).layers = layerRows(
    variants.map(([layer]) => layer),
    passes,
    "1a where the time goes",
    cpu,
  );
}

/**
 * CPU per event of a server process, the kernel's part of it (system calls), and on
 * PostgreSQL, of PostgreSQL's processes: for 1a's and P1a's layers over the measured events
 * (after the warm-up), for P1's rounds over the whole round (its server runs all three).
 */
type LayerCpu = { server: number; system: number; postgres?: number };

/** Starts counting the CPU of `pid` (and of PostgreSQL); the function returned gives it per event since. */
function cpuMeter(pid: number, { postgres = false } = {}) {
  const server = cpuTimesUs(pid);
  const pg = postgres ? postgresCpuUs() : 0;
  return (events: number): LayerCpu => {
    const now = cpuTimesUs(pid);
    const used: LayerCpu = {
      server: (now.total - server.total) / events,
      system: (now.system - server.system) / events,
    };
    if (postgres) used.postgres = (postgresCpuUs() - pg) / events;
    return used;
  };
}

/** `amount` webhook events from checkout `from` at 32 connections, as one load with no warm-up of its own. */
const webhookLoad = (server: Server, { amount, from, salt }: { amount: number; from: number; salt: string }) =>
  runLoad({ kind: "webhook", url: server.url, connections: 32, warmup: 0, secret: WEBHOOK_SECRET, amount, from, salt });

/**
 * One layer's run: its warm-up and then its measured events, from one load worker, with the
 * CPU counted over the measured events only (a layer is not charged for warming up). The
 * worker is the one that sent the warm-up, as in scenario 1's and P1's rounds: a fresh worker
 * for the measured events made a layer's rate depend on how many it measured (the baseline at
 * about 3,100/s over 2,000 events and 3,500/s over 5,000), and that weighed on the fastest
 * layer most (docs/benchmarks.md).
 */
async function layerRun(
  server: Server,
  { warmup, amount, from, salt }: { warmup: number; amount: number; from: number; salt: string },
  { postgres = false } = {},
): Promise<{ measured: Summary; cpu: LayerCpu }> {
  let cpuSince = cpuMeter(server.pid, { postgres });
  const { measured } = await runLoad(
    { kind: "webhook", url: server.url, connections: 32, warmup, amount, from, salt, secret: WEBHOOK_SECRET },
    { onWarm: () => (cpuSince = cpuMeter(server.pid, { postgres })) },
  );
  return { measured, cpu: cpuSince(amount) };
}

/**
 * The layers of a decomposition (1a, P1a), from its two passes: each layer's mean
 * time per event over both, its p99, the CPU per event its server (and
 * PostgreSQL) spent, and its cost beside the layer before it, as rows of the
 * table.
 */
function layerRows(names: string[], passes: Summary[][], scenario: string, cpu: LayerCpu[][]) {
  const layers = names.map((layer, i) => {
    const [a, b] = [passes[0]![i]!, passes[1]![i]!];
    // Mean time per event over both passes.
    const usPerEvent = (1e6 / a.rps + 1e6 / b.rps) / 2;
    const [ca, cb] = [cpu[0]![i]!, cpu[1]![i]!];
    const perEvent: LayerCpu = {
      server: round((ca.server + cb.server) / 2, 0),
      system: round((ca.system + cb.system) / 2, 0),
    };
    if (ca.postgres !== undefined && cb.postgres !== undefined)
      perEvent.postgres = round((ca.postgres + cb.postgres) / 2, 0);
    return {
      layer,
      usPerEvent: round(usPerEvent, 0),
      perSecond: round(1e6 / usPerEvent, 1),
      cpuUs: perEvent,
      passes: [brief(a), brief(b)],
      p99Ms: round((a.latency.p99 + b.latency.p99) / 2),
      all2xx: only2xx(a) && only2xx(b),
    };
  });
  for (const [i, l] of layers.entries()) {
    const added =
      i === 0
        ? `${l.usPerEvent} us/event`
        : `${l.usPerEvent - layers[i - 1]!.usPerEvent >= 0 ? "+" : ""}${Math.round(l.usPerEvent - layers[i - 1]!.usPerEvent)} us/event`;
    rows.push({
      scenario: i === 0 ? scenario : "",
      figure: l.layer,
      app: `${perSecond(l.perSecond)}, p99 ${ms(l.p99Ms)}; CPU/event: server ${l.cpuUs.server} us (kernel ${l.cpuUs.system})${l.cpuUs.postgres !== undefined ? `, PostgreSQL ${l.cpuUs.postgres} us` : ""}`,
      baseline: "",
      ratio: added,
      target: "",
      met: l.all2xx ? "" : "NOT all 2xx",
    });
  }
  return layers;
}

type Cost = { wallUs: number; cpuUs: number };
type Costs = {
  events: number;
  stateMachine: {
    shipped: Cost;
    withoutFsync: Cost;
    duplicate: Cost;
    groupCommit: Cost;
    walPagesPerEvent: number;
    walPagesPerEventGrouped: number;
  };
  baselineInsert: { shipped: Cost; walPagesPerEvent: number };
};

/** bench/state-machine-costs.ts: the database side of one webhook, without HTTP. */
async function stateMachineCosts(ctx: Context) {
  const events = QUICK ? 500 : 2_000;
  log(`scenario 1, database side: the state machine in-process, ${events} events per measure`);
  const costs = await new Promise<Costs>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(root, "bench/state-machine-costs.ts"), String(events)],
      {
        cwd: root,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "test", BENCH_BASE_DB: ctx.baseDb },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    collectJson(child, "the state machine costs", (r) => resolve(r as unknown as Costs), reject);
  });
  const sm = costs.stateMachine;
  const b = costs.baselineInsert;
  results.stateMachineCosts = costs;
  const us = (c: Cost) => `${c.wallUs} us (CPU ${c.cpuUs} us)`;
  rows.push(
    {
      scenario: "1b database side, per event",
      figure: "state machine, one event per commit (FULL)",
      app: us(sm.shipped),
      baseline: `${us(b.shipped)} 1 INSERT`,
      ratio: (sm.shipped.wallUs / b.shipped.wallUs).toFixed(2),
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "WAL pages written per event",
      app: String(sm.walPagesPerEvent),
      baseline: String(b.walPagesPerEvent),
      ratio: (sm.walPagesPerEvent / b.walPagesPerEvent).toFixed(2),
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "without the fsync (OFF, diagnosis only)",
      app: us(sm.withoutFsync),
      baseline: "",
      ratio: "",
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "events arriving together (group commit, up to 64 per commit)",
      app: us(sm.groupCommit),
      baseline: `${us(b.shipped)} 1 INSERT`,
      ratio: (sm.groupCommit.wallUs / b.shipped.wallUs).toFixed(2),
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "WAL pages written per event, group commit",
      app: String(sm.walPagesPerEventGrouped),
      baseline: String(b.walPagesPerEvent),
      ratio: (sm.walPagesPerEventGrouped / b.walPagesPerEvent).toFixed(2),
      target: "",
      met: "",
    },
    { scenario: "", figure: "a duplicate", app: us(sm.duplicate), baseline: "", ratio: "", target: "", met: "" },
  );
}

/* -------------------------------------------------------------------------- */
/* Scenario 6: memory over 100,000 webhook events                             */
/* -------------------------------------------------------------------------- */

async function memoryScenario(ctx: Context) {
  const { memoryEvents, memoryStep } = SIZES;
  log(`scenario 6: RSS over ${memoryEvents.toLocaleString("en-US")} webhook events, 32 connections`);
  // --expose-gc and a SIGUSR2 handler (bench/gc-on-signal.mjs): after each
  // step the RSS is read as it is (under load), then again once the server
  // has been idle for a second and run a full collection: what it keeps, apart
  // from garbage not yet collected and memory not yet handed back.
  const app = await startApp({
    appDir: ctx.appDir,
    databasePath: ctx.webhookDb!,
    stripeApiBase: ctx.emulator.url,
    gcOnSignal: true,
  });
  const mib = (bytes: number) => round(bytes / 1024 / 1024, 1);
  const sample = async (events: number, perSecond?: number) => {
    const rssMiB = round(rssKiB(app.pid) / 1024, 1);
    await new Promise((r) => setTimeout(r, 1_000));
    const line = app.nextLine(/^bench-memory /);
    process.kill(app.pid, "SIGUSR2");
    const after = JSON.parse((await line).slice("bench-memory ".length)) as {
      rss: number;
      heapTotal: number;
      heapUsed: number;
      external: number;
    };
    return {
      events,
      rssMiB,
      rssAnonMiB: round(rssKiB(app.pid, "RssAnon") / 1024, 1),
      rssAfterGcMiB: mib(after.rss),
      heapTotalAfterGcMiB: mib(after.heapTotal),
      heapUsedAfterGcMiB: mib(after.heapUsed),
      externalMiB: mib(after.external),
      perSecond,
    };
  };
  try {
    await new Promise((r) => setTimeout(r, 500));
    const samples = [await sample(0)];
    let all2xx = true;
    for (let done = 0; done < memoryEvents; done += memoryStep) {
      const result = await runLoad({
        kind: "webhook",
        url: app.url,
        connections: 32,
        warmup: 0,
        amount: memoryStep,
        from: ctx.memoryFrom! + done,
        secret: WEBHOOK_SECRET,
      });
      all2xx &&= only2xx(result.measured);
      samples.push(await sample(done + memoryStep, round(result.measured.rps, 1)));
      const s = samples.at(-1)!;
      log(
        `  ${s.events.toLocaleString("en-US")} events: RSS ${s.rssMiB} MiB, settled ${s.rssAfterGcMiB} MiB (heap ${s.heapUsedAfterGcMiB} of ${s.heapTotalAfterGcMiB} MiB, external ${s.externalMiB} MiB), ${perSecond(result.measured.rps)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const idle = round(rssKiB(app.pid) / 1024, 1);
    // Levels off: from the first 10% of the events (10,000 of 100,000) to
    // the end, the trend of the settled RSS (idle a second, after a full GC;
    // least-squares, so that one sample caught mid-allocation does not decide)
    // adds no more than max(10 MiB, 10%), and the heap the process keeps (used
    // after a full GC) grows by no more than max(2 MiB, 10%). The RSS under
    // load is reported beside: its band and trend.
    const from = samples.findIndex((s) => s.events >= memoryEvents / 10);
    const tail = samples.slice(from);
    const first = tail[0]!;
    const last = tail.at(-1)!;
    const steps = tail.length - 1;
    const keptGrowth = round(slopeOf(tail.map((s) => [s.events / (memoryEvents / 10), s.rssAfterGcMiB])) * steps, 1);
    const heapGrowth = round(last.heapUsedAfterGcMiB - first.heapUsedAfterGcMiB, 1);
    const slope = round(slopeOf(tail.map((s) => [s.events / (memoryEvents / 10), s.rssMiB])), 2);
    const rssLevels = keptGrowth <= Math.max(10, first.rssAfterGcMiB * 0.1);
    const heapFlat = heapGrowth <= Math.max(2, first.heapUsedAfterGcMiB * 0.1);
    const levels = rssLevels && heapFlat;
    results.memory = {
      events: memoryEvents,
      samples,
      idleAfterMiB: idle,
      rssBandAfterFirstTenthMiB: [Math.min(...tail.map((s) => s.rssMiB)), Math.max(...tail.map((s) => s.rssMiB))],
      settledRssBandAfterFirstTenthMiB: [
        Math.min(...tail.map((s) => s.rssAfterGcMiB)),
        Math.max(...tail.map((s) => s.rssAfterGcMiB)),
      ],
      settledRssTrendGrowthAfterFirstTenthMiB: keptGrowth,
      heapGrowthAfterFirstTenthMiB: heapGrowth,
      rssSlopeMiBPerTenth: slope,
      checks: { all2xx, rssAfterGcLevels: rssLevels, keptHeapFlat: heapFlat },
      met: { levelsOff: levels },
    };
    rows.push(
      {
        scenario: `6 memory (${memoryEvents.toLocaleString("en-US")} events)`,
        figure: "RSS before / at 10% / end / idle",
        app: `${samples[0]!.rssMiB} / ${first.rssMiB} / ${last.rssMiB} / ${idle} MiB`,
        baseline: "",
        ratio: "",
        target: "level after 10%",
        met: yes(levels && all2xx),
      },
      {
        scenario: "",
        figure: "RSS band after 10%, trend",
        app: `${Math.min(...tail.map((s) => s.rssMiB))}-${Math.max(...tail.map((s) => s.rssMiB))} MiB, ${slope >= 0 ? "+" : ""}${slope} MiB per 10%`,
        baseline: "",
        ratio: "",
        target: "",
        met: "",
      },
      {
        scenario: "",
        figure: "RSS settled (idle 1 s, full GC): 10%, end, trend",
        app: `${first.rssAfterGcMiB}, ${last.rssAfterGcMiB} MiB, trend ${keptGrowth >= 0 ? "+" : ""}${keptGrowth} MiB`,
        baseline: "",
        ratio: "",
        target: "trend <= +max(10 MiB, 10%)",
        met: yes(rssLevels),
      },
      {
        scenario: "",
        figure: "heap kept after full GC, 10% -> end",
        app: `${first.heapUsedAfterGcMiB} -> ${last.heapUsedAfterGcMiB} MiB`,
        baseline: "",
        ratio: "",
        target: "+ <= max(2 MiB, 10%)",
        met: yes(heapFlat),
      },
    );
  } finally {
    await app.stop();
  }
}

/** Least-squares slope of y over x. */
function slopeOf(points: [number, number][]) {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

/* -------------------------------------------------------------------------- */
/* Scenario 5 and 3: pages, and the Buy path                                  */
/* -------------------------------------------------------------------------- */

async function pagesAndBuy(ctx: Context) {
  const fixture = path.join(ctx.tmp, "shop.db");
  copyDatabase(ctx.baseDb, fixture);
  const app = await startApp({
    appDir: ctx.appDir,
    databasePath: fixture,
    stripeApiBase: ctx.emulator.url,
    cpuProfDir: PROFILE_DIR,
  });
  const page = `/products/${PRODUCT_SLUG}`;
  try {
    const first = await fetch(`${app.url}${page}`);
    const html = await first.text();
    const cookie = (first.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    if (first.status !== 200 || !cookie) throw new Error(`the product page answered ${first.status} without a cookie`);

    if (wanted("pages")) {
      log("scenario 5: product page bytes, time to first byte, Buy with no JavaScript");
      const scripts = new Set<string>();
      for (const m of html.matchAll(/<link[^>]+rel="modulepreload"[^>]*>/g)) {
        const href = /href="([^"]+)"/.exec(m[0])?.[1];
        if (href) scripts.add(href);
      }
      for (const m of html.matchAll(/<script[^>]+src="([^"]+)"/g)) scripts.add(m[1]!);
      // Remix's entry is an inline module that imports the entry chunks.
      for (const m of html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)) {
        for (const imp of m[1]!.matchAll(/import\s*(?:[^"']*from\s*)?["']([^"']+\.js)["']/g)) scripts.add(imp[1]!);
      }
      const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].reduce(
        (n, m) => n + Buffer.byteLength(m[1]!),
        0,
      );
      let jsBytes = 0;
      let jsGzip = 0;
      const files: { path: string; bytes: number; gzip: number }[] = [];
      for (const src of scripts) {
        const body = Buffer.from(await (await fetch(new URL(src, app.url))).arrayBuffer());
        files.push({ path: src, bytes: body.length, gzip: gzipSync(body).length });
        jsBytes += body.length;
        jsGzip += gzipSync(body).length;
      }
      const htmlBytes = Buffer.byteLength(html);
      const htmlGzip = gzipSync(html).length;

      const ttfb = await runLoad({
        kind: "ttfb",
        url: app.url,
        path: page,
        warmup: 50,
        amount: SIZES.pageRequests,
        headers: { Cookie: cookie },
      });

      const zeroJs = await buyWithoutJavaScript(app, page, html, cookie, ctx.emulator.url);
      results.pages = {
        productPage: page,
        htmlBytes,
        htmlGzipBytes: htmlGzip,
        inlineScriptBytes: inline,
        javascript: { files, bytes: jsBytes, gzipBytes: jsGzip },
        compressionByServer: first.headers.get("Content-Encoding") ?? "none",
        timeToFirstByteMs: lat(ttfb.measured.latency),
        wholeResponseMs: ttfb.total ? lat(ttfb.total.latency) : null,
        buyWithoutJavaScript: zeroJs,
      };
      rows.push(
        {
          scenario: "5 product page",
          figure: "HTML bytes (gzip)",
          app: `${kib(htmlBytes)} (${kib(htmlGzip)})`,
          baseline: "",
          ratio: "",
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: `JS bytes, ${files.length} files (gzip)`,
          app: `${kib(jsBytes)} (${kib(jsGzip)})`,
          baseline: "",
          ratio: "",
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: "TTFB p50 / p99 (1 conn)",
          app: `${ms(ttfb.measured.latency.p50)} / ${ms(ttfb.measured.latency.p99)}`,
          baseline: "",
          ratio: "",
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: "Buy with 0 bytes of JS",
          app: `${zeroJs.status} -> ${zeroJs.landedOn}`,
          baseline: "",
          ratio: "",
          target: "303 to checkout",
          met: yes(zeroJs.ok),
        },
      );
    }

    if (wanted("buy")) {
      log(
        `scenario 3: Buy through the whole stack, ${SIZES.buyRequests} posts at 1 connection, and the SDK loop baseline`,
      );
      const buyer = randomBytes(16).toString("base64url");
      const result = await runLoad({
        kind: "buy",
        url: app.url,
        path: page,
        connections: 1,
        warmup: SIZES.buyWarmup,
        amount: SIZES.buyRequests,
        // A shopper of the bench's own, so that it can sign a fresh form token per post.
        cookie: await shopperCookie(buyer),
        shopperId: buyer,
        origin: app.url,
      });
      const baseline = await runBaselineCreate(ctx.emulator.url, app.url);
      const a = result.measured;
      const b = baseline.measured;
      const all303 = Object.keys(a.status).every((code) => code === "303") && a.errors === 0;
      const added = a.latency.p50 - b.latency.p50;
      results.buy = {
        connections: 1,
        app: brief(a),
        baseline: brief(b),
        addedP50Ms: round(added),
        addedP99Ms: round(a.latency.p99 - b.latency.p99),
        checks: { all303 },
        target: { addedP50UnderMs: TARGETS.buyAddedP50Ms },
        met: { addedP50: added < TARGETS.buyAddedP50Ms },
      };
      rows.push(
        {
          scenario: "3 Buy (1 conn)",
          figure: "requests/s",
          app: perSecond(a.rps),
          baseline: perSecond(b.rps),
          ratio: (a.rps / b.rps).toFixed(2),
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: "p50 latency",
          app: ms(a.latency.p50),
          baseline: ms(b.latency.p50),
          ratio: `+${ms(added)}`,
          target: `+ < ${TARGETS.buyAddedP50Ms} ms`,
          met: yes(added < TARGETS.buyAddedP50Ms),
        },
        {
          scenario: "",
          figure: "p99 latency",
          app: ms(a.latency.p99),
          baseline: ms(b.latency.p99),
          ratio: `+${ms(a.latency.p99 - b.latency.p99)}`,
          target: "",
          met: "",
        },
        {
          scenario: "",
          figure: "all 303 to the checkout",
          app: all303 ? "yes" : JSON.stringify(a.status),
          baseline: "",
          ratio: "",
          target: "all",
          met: yes(all303),
        },
      );
    }
  } finally {
    await app.stop();
  }
}

/** Posts the form exactly as the HTML gives it, as a browser with JavaScript off would, and follows the 303. */
async function buyWithoutJavaScript(app: Server, page: string, html: string, cookie: string, emulatorUrl: string) {
  const formTag = /<form[^>]*method="post"[^>]*>[\s\S]*?<\/form>/i.exec(html)?.[0] ?? "";
  const action = /action="([^"]*)"/.exec(formTag)?.[1] ?? page;
  const fields = new URLSearchParams();
  for (const input of formTag.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]+)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? "";
    if (name) fields.set(name, value);
  }
  const response = await fetch(new URL(action, app.url), {
    method: "POST",
    redirect: "manual",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Cookie: cookie,
      Origin: app.url,
      "Sec-Fetch-Site": "same-origin",
      "Sec-Fetch-Mode": "navigate",
    },
    body: fields.toString(),
  });
  await response.arrayBuffer();
  const location = response.headers.get("Location") ?? "";
  let landedOn = "nowhere";
  let ok = false;
  if (response.status === 303 && location.startsWith(emulatorUrl)) {
    const hosted = await fetch(location);
    const text = await hosted.text();
    ok = hosted.status === 200 && /Checkout \(Stripe emulator\)/.test(text);
    landedOn = ok ? "hosted checkout page" : `${hosted.status} at ${location}`;
  }
  return { fields: [...fields.keys()], status: response.status, location, landedOn, ok };
}

function runBaselineCreate(stripeApiBase: string, appOrigin: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(root, "bench/baseline-stripe-create.ts"),
        String(SIZES.buyWarmup),
        String(SIZES.buyRequests),
      ],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: "production",
          STRIPE_API_BASE: stripeApiBase,
          APP_ORIGIN: appOrigin,
          STRIPE_TIMEOUT_MS: BUILT_SERVER_ENV.STRIPE_TIMEOUT_MS,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    collectJson(child, "the Stripe create baseline", resolve, reject);
  });
}

function collectJson(
  child: ReturnType<typeof spawn>,
  what: string,
  resolve: (r: LoadResult) => void,
  reject: (e: Error) => void,
) {
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (err += c));
  child.on("error", reject);
  child.on("exit", (code) => {
    const line = out.trim().split("\n").at(-1) ?? "";
    if (code !== 0 || !line.startsWith("{")) return reject(new Error(`${what} exited ${code}:\n${err}${out}`));
    resolve(JSON.parse(line) as LoadResult);
  });
}

/* -------------------------------------------------------------------------- */
/* Scenario 4: the success page with 10,000 and 1,000,000 stored checkouts    */
/* -------------------------------------------------------------------------- */

/** The seeded "history" fixture, cached across runs while its inputs are unchanged. */
function historyFixture(ctx: Context, count: number) {
  const inputs = createHash("sha256");
  for (const file of [path.join(root, "bench/lib/fixtures.ts"), path.join(root, "db/catalog.json")])
    inputs.update(readFileSync(file));
  const migrations = path.join(root, "db/migrations");
  for (const file of readdirSync(migrations, { recursive: true }).map(String).sort()) {
    if (file.endsWith(".sql") || file.endsWith(".json"))
      inputs.update(file).update(readFileSync(path.join(migrations, file)));
  }
  const key = inputs.digest("hex").slice(0, 12);
  const dir = path.join(cacheDir, "fixtures");
  const cached = path.join(dir, `history-${count}-${key}.db`);
  if (!existsSync(cached) || process.env.BENCH_FRESH === "1") {
    mkdirSync(dir, { recursive: true });
    for (const old of readdirSync(dir))
      if (old.startsWith(`history-${count}-`)) rmSync(path.join(dir, old), { force: true });
    const t0 = Date.now();
    const building = `${cached}.building`;
    copyDatabase(ctx.baseDb, building);
    seedCheckouts(building, { count, kind: "history" });
    execFileSync("mv", [building, cached]);
    log(
      `  seeded ${count.toLocaleString("en-US")} checkouts in ${((Date.now() - t0) / 1000).toFixed(1)} s (cached in ${path.relative(root, cached)})`,
    );
  } else {
    log(`  using the cached ${count.toLocaleString("en-US")}-checkout fixture ${path.relative(root, cached)}`);
  }
  const copy = path.join(ctx.tmp, `history-${count}.db`);
  copyDatabase(cached, copy);
  return copy;
}

async function successScenario(ctx: Context) {
  const sizes = [SIZES.small, SIZES.large];
  log(
    `scenario 4: the success page of a paid order with ${sizes.map((n) => n.toLocaleString("en-US")).join(" and ")} stored checkouts`,
  );
  type Fixture = {
    count: number;
    file: string;
    bytes: number;
    cookie: string;
    pagePath: string;
    http?: Summary;
    data?: Summary;
    inProcess: Summary[];
    plan: string[];
  };
  const fixtures: Fixture[] = [];
  try {
    for (const count of sizes) {
      const file = historyFixture(ctx, count);
      const index = paidIndex(count);
      const fixture: Fixture = {
        count,
        file,
        bytes: fileSize(file),
        cookie: await shopperCookie(shopperOf(index)),
        pagePath: `/checkout/success?session_id=${sessionId(index)}`,
        inProcess: [],
        plan: queryPlan(file, sessionId(index), shopperOf(index)),
      };
      fixtures.push(fixture);
      const app = await startApp({
        appDir: ctx.appDir,
        databasePath: file,
        stripeApiBase: ctx.emulator.url,
        cpuProfDir: PROFILE_DIR,
      });
      try {
        const check = await fetch(`${app.url}${fixture.pagePath}`, { headers: { Cookie: fixture.cookie } });
        const text = await check.text();
        if (check.status !== 200 || !/Ceramic Pour-Over/.test(text))
          throw new Error(`the success page answered ${check.status}: ${text.slice(0, 300)}`);
        const get = (path: string) =>
          runLoad({
            kind: "get",
            url: app.url,
            path,
            connections: 1,
            warmup: SIZES.successWarmup,
            amount: SIZES.successRequests,
            headers: { Cookie: fixture.cookie },
          });
        fixture.http = (await get(fixture.pagePath)).measured;
        fixture.data = (await get(`${fixture.pagePath}&_data=routes%2Fcheckout.success`)).measured;
        log(
          `  ${count.toLocaleString("en-US")}: page p50 ${ms(fixture.http.latency.p50)}, loader data over HTTP p50 ${ms(fixture.data.latency.p50)}, db ${mib(fixture.bytes)}`,
        );
      } finally {
        await app.stop();
      }
    }
    // The in-process loader, three times per size in alternating order: the
    // two sizes' sub-millisecond figures then share the machine's moods.
    for (let round = 0; round < 3; round++) {
      for (const fixture of fixtures) {
        const result = await runInProcessLoader(
          ctx,
          fixture.file,
          `http://127.0.0.1:3000${fixture.pagePath}`,
          fixture.cookie,
        );
        fixture.inProcess.push(result.measured);
      }
    }
  } finally {
    for (const fixture of fixtures)
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${fixture.file}${suffix}`, { force: true });
  }
  const p = (f: Fixture, key: "p50" | "p99") => median(f.inProcess.map((s) => s.latency[key]));
  const [small, large] = fixtures as [Fixture, Fixture];
  for (const f of fixtures)
    log(
      `  ${f.count.toLocaleString("en-US")}: loader in-process p50 ${f.inProcess.map((s) => ms(s.latency.p50)).join(", ")}`,
    );
  const growth = p(large, "p50") / p(small, "p50");
  const met = p(large, "p50") < TARGETS.successP50Ms && p(small, "p50") < TARGETS.successP50Ms;
  results.successPage = {
    sizes: Object.fromEntries(
      fixtures.map((f) => [
        String(f.count),
        {
          checkouts: f.count,
          databaseBytes: f.bytes,
          queryPlan: f.plan,
          httpDocument: f.http ? brief(f.http) : null,
          httpLoaderData: f.data ? brief(f.data) : null,
          inProcessLoader: f.inProcess.map(brief),
          inProcessLoaderMedianMs: { p50: round(p(f, "p50")), p99: round(p(f, "p99")) },
        },
      ]),
    ),
    loaderP50GrowthLargeOverSmall: round(growth),
    target: { loaderP50UnderMs: TARGETS.successP50Ms },
    met: { loaderP50: met },
  };
  const n = (c: number) => c.toLocaleString("en-US");
  rows.push(
    {
      scenario: "4 success page (1 conn)",
      figure: "loader p50, in-process (median of 3)",
      app: `${ms(p(large, "p50"))} @${n(large.count)}`,
      baseline: `${ms(p(small, "p50"))} @${n(small.count)}`,
      ratio: growth.toFixed(2),
      target: `< ${TARGETS.successP50Ms} ms both`,
      met: yes(met),
    },
    {
      scenario: "",
      figure: "loader p99, in-process (median of 3)",
      app: ms(p(large, "p99")),
      baseline: ms(p(small, "p99")),
      ratio: (p(large, "p99") / p(small, "p99")).toFixed(2),
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "loader data over HTTP p50 / p99",
      app: `${ms(large.data!.latency.p50)} / ${ms(large.data!.latency.p99)}`,
      baseline: `${ms(small.data!.latency.p50)} / ${ms(small.data!.latency.p99)}`,
      ratio: (large.data!.latency.p50 / small.data!.latency.p50).toFixed(2),
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "page over HTTP p50 / p99",
      app: `${ms(large.http!.latency.p50)} / ${ms(large.http!.latency.p99)}`,
      baseline: `${ms(small.http!.latency.p50)} / ${ms(small.http!.latency.p99)}`,
      ratio: (large.http!.latency.p50 / small.http!.latency.p50).toFixed(2),
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "database size",
      app: mib(large.bytes),
      baseline: mib(small.bytes),
      ratio: "",
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "query plan of the look-up",
      app: planSummary(large.plan),
      baseline: planSummary(small.plan),
      ratio: "",
      target: "no SCAN",
      met: yes(!/SCAN/.test([...large.plan, ...small.plan].join(" "))),
    },
  );
}

const planSummary = (plan: string[]) =>
  plan.map((d) => d.replace(/^(SEARCH|SCAN) (\w+).*?(\(.*\))?$/, "$1 $2 $3").trim()).join("; ");

/**
 * SQLite's plan for the success loader's look-up (the SQL of
 * findOwnCheckout in app/lib/orders.server.ts, written out here): a
 * primary-key search, whose cost grows with the tree's depth only.
 */
function queryPlan(file: string, id: string, shopper: string) {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT * FROM checkout_sessions INNER JOIN products ON products.id = checkout_sessions.product_id WHERE checkout_sessions.id = ? AND checkout_sessions.shopper_id = ?",
      )
      .all(id, shopper) as { detail: string }[];
    return rows.map((r) => r.detail);
  } finally {
    db.close();
  }
}

function runInProcessLoader(ctx: Context, databasePath: string, url: string, cookie: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(root, "bench/success-inprocess.ts"),
        String(SIZES.successWarmup),
        String(SIZES.successRequests),
      ],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...builtServerEnv({ url: new URL(url).origin, databasePath, stripeApiBase: ctx.emulator.url }),
          BENCH_APP_DIR: ctx.appDir,
          BENCH_URL: url,
          BENCH_COOKIE: cookie,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    collectJson(child, "the in-process success loader", resolve, reject);
  });
}

/* -------------------------------------------------------------------------- */

/* -------------------------------------------------------------------------- */
/* PostgreSQL: webhook ingest, Buy and the success loader with DATABASE_URL   */
/* -------------------------------------------------------------------------- */

const PG_POOL_MAX = 10;

/**
 * A fresh PostgreSQL database holding a SQLite fixture's rows (npm run db:copy-to-postgres),
 * its loaded tables analyzed. The empty ones are left as a migration leaves them, never
 * analyzed, as in a shop's own database, where autovacuum analyzes a table once it holds rows.
 * This machine's PostgreSQL runs with autovacuum off, so an empty table analyzed here kept
 * statistics of no rows for the whole run. Each of the app's connections then kept the
 * generic plan it made while stripe_events was a few pages (a sequential scan of it), for
 * every completion from then on: P1's app read every stored event per event, and its
 * PostgreSQL CPU per event doubled over the rounds (docs/decisions/193-bench-analyzes-loaded-tables.md).
 */
async function postgresFrom(file: string, prefix: string): Promise<TestDatabase> {
  const database = await createTestDatabase(prefix, { migrated: false });
  const t0 = Date.now();
  copyToPostgres(file, database.url);
  await analyzeLoadedTables(database.url);
  log(`  copied ${path.basename(file)} into PostgreSQL ${database.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return database;
}

const startPgApp = (ctx: Context, database: TestDatabase) =>
  startApp({
    appDir: ctx.appDir,
    databasePath: path.join(ctx.tmp, "unused-on-postgres.db"),
    stripeApiBase: ctx.emulator.url,
    cpuProfDir: PROFILE_DIR,
    env: { DATABASE_URL: database.url, DATABASE_POOL_MAX: String(PG_POOL_MAX) },
  });

/**
 * Scenario 1a on PostgreSQL: the baseline; the app's webhook action behind
 * bare node:http; server.js without and with its log lines. Every app layer
 * runs on one copy of the fixture, each pass of each layer on its own slice of
 * its open checkouts (so each event is a first completion); the second pass
 * runs the layers in reverse order.
 */
async function decomposePgWebhook(ctx: Context, databases: TestDatabase[]) {
  const { pgLayerWarmup, decomposeEvents } = SIZES;
  const perRun = pgLayerWarmup + decomposeEvents;
  log(
    `scenario P1a, layers on PostgreSQL: ${decomposeEvents} events (+${pgLayerWarmup} warm-up) through each layer, twice (the second pass in reverse order), 32 connections, pool ${PG_POOL_MAX}`,
  );
  const fixture = path.join(ctx.tmp, "pg-layers.db");
  copyDatabase(ctx.baseDb, fixture);
  seedCheckouts(fixture, { count: 2 * 4 * perRun, kind: "open" });
  const appDb = await postgresFrom(fixture, "bench_pg_layers");
  databases.push(appDb);
  const baseDb = await createTestDatabase("bench_pg_layers_baseline", { migrated: false });
  databases.push(baseDb);
  const env = { DATABASE_URL: appDb.url, DATABASE_POOL_MAX: String(PG_POOL_MAX) };
  const common = {
    appDir: ctx.appDir,
    stripeApiBase: ctx.emulator.url,
    databasePath: path.join(ctx.tmp, "unused.db"),
    env,
  };
  const variants: [string, () => Promise<Server>][] = [
    [
      "baseline: node:http + constructEvent + BEGIN/INSERT/COMMIT",
      () => startBaselinePgWebhookServer({ databaseUrl: baseDb.url, poolMax: PG_POOL_MAX }),
    ],
    [
      "app's webhook action on node:http, logs off",
      () => startActionServer({ ...common, silent: true, cpuProfDir: PROFILE_DIR }),
    ],
    [
      "Remix's handler on the same node:http, logs off",
      () => startActionServer({ ...common, silent: true, viaRemix: true, cpuProfDir: PROFILE_DIR }),
    ],
    ["server.js (node:http + Remix), logs off", () => startApp({ ...common, silent: true })],
    ["server.js (node:http + Remix), as shipped", () => startApp(common)],
  ];
  const passes: Summary[][] = [[], []];
  const cpu: LayerCpu[][] = [[], []];
  let slice = 0;
  for (const pass of [0, 1]) {
    const order = pass === 0 ? [...variants.keys()] : [...variants.keys()].reverse();
    for (const index of order) {
      const [layer, start] = variants[index]!;
      const server = await start();
      try {
        const { measured, cpu: used } = await layerRun(
          server,
          {
            warmup: pgLayerWarmup,
            amount: decomposeEvents,
            from: index === 0 ? 0 : perRun * slice++,
            salt: index === 0 ? `pglayer${pass}` : "",
          },
          { postgres: true },
        );
        passes[pass]![index] = measured;
        cpu[pass]![index] = used;
        log(
          `  ${layer}: ${perSecond(measured.rps)} (${Math.round(1e6 / measured.rps)} us/event), p99 ${ms(measured.latency.p99)}`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  (results.postgres as Record<string, unknown>).layers = layerRows(
    variants.map(([layer]) => layer),
    passes,
    "P1a where the time goes, PostgreSQL",
    cpu,
  );
}

async function postgresScenarios(ctx: Context) {
  const reason = await postgresUnavailable();
  if (reason) {
    log(`PostgreSQL pass DID NOT RUN: ${reason}`);
    results.postgres = { ran: false, reason };
    rows.push({
      scenario: "P PostgreSQL",
      figure: "did not run",
      app: reason,
      baseline: "",
      ratio: "",
      target: "",
      met: "",
    });
    return;
  }
  const out: Record<string, unknown> = { ran: true, poolMax: PG_POOL_MAX };
  results.postgres = out;
  const databases: TestDatabase[] = [];
  try {
    // P1: webhook ingest, the app on PostgreSQL beside the bare pg baseline.
    const { rounds, webhookWarmup, webhookEvents, pgLayerWarmup } = SIZES;
    const perRound = webhookWarmup + webhookEvents;
    log(
      `scenario P1: webhook ingest on PostgreSQL, ${pgLayerWarmup} events first, then ${rounds} rounds of ${webhookEvents} events (+${webhookWarmup} warm-up), 32 connections, pool ${PG_POOL_MAX}`,
    );
    const fixture = path.join(ctx.tmp, "pg-webhooks.db");
    copyDatabase(ctx.baseDb, fixture);
    // The rounds' checkouts, then the first load's (after them, so the rounds' offsets stay).
    seedCheckouts(fixture, { count: rounds * perRound + pgLayerWarmup, kind: "open" });
    const appDb = await postgresFrom(fixture, "bench_pg_webhook");
    databases.push(appDb);
    const baseDb = await createTestDatabase("bench_pg_baseline", { migrated: false });
    databases.push(baseDb);
    const app = await startPgApp(ctx, appDb);
    const baseline = await startBaselinePgWebhookServer({ databaseUrl: baseDb.url, poolMax: PG_POOL_MAX });
    const perRoundResults: { app: Summary; baseline: Summary; appCpu: LayerCpu; baselineCpu: LayerCpu }[] = [];
    try {
      // A server just started spends up to twice the CPU per event on its first few thousand
      // events (docs/benchmarks.md): before the first round, each server takes as many events
      // as a P1a layer's warm-up, unmeasured.
      await webhookLoad(app, { amount: pgLayerWarmup, from: rounds * perRound, salt: "" });
      await webhookLoad(baseline, { amount: pgLayerWarmup, from: rounds * perRound, salt: "pbw" });
      for (let r = 0; r < rounds; r++) {
        const spec = {
          kind: "webhook" as const,
          connections: 32,
          warmup: webhookWarmup,
          amount: webhookEvents,
          from: r * perRound,
          secret: WEBHOOK_SECRET,
        };
        const order = r % 2 === 0 ? (["app", "baseline"] as const) : (["baseline", "app"] as const);
        const got: Partial<Record<"app" | "baseline", LoadResult>> = {};
        const cpu: Partial<Record<"app" | "baseline", LayerCpu>> = {};
        for (const side of order) {
          const server = side === "app" ? app : baseline;
          const cpuSince = cpuMeter(server.pid, { postgres: true });
          got[side] = await runLoad({
            ...spec,
            url: server.url,
            salt: side === "baseline" ? `pb${r}` : "",
          });
          const used = cpuSince(perRound);
          cpu[side] = {
            server: round(used.server, 0),
            system: round(used.system, 0),
            postgres: round(used.postgres!, 0),
          };
        }
        const a = got.app!.measured;
        const b = got.baseline!.measured;
        perRoundResults.push({ app: a, baseline: b, appCpu: cpu.app!, baselineCpu: cpu.baseline! });
        log(
          `  round ${r + 1}: app ${perSecond(a.rps)} p99 ${ms(a.latency.p99)}; pg baseline ${perSecond(b.rps)} p99 ${ms(b.latency.p99)}; ratio ${(a.rps / b.rps).toFixed(2)}; CPU/event app ${cpu.app!.server} us (kernel ${cpu.app!.system}) + PostgreSQL ${cpu.app!.postgres} us, baseline ${cpu.baseline!.server} us (kernel ${cpu.baseline!.system}) + PostgreSQL ${cpu.baseline!.postgres} us`,
        );
      }
    } finally {
      await app.stop();
      await baseline.stop();
    }
    const appRps = median(perRoundResults.map((x) => x.app.rps));
    const baseRps = median(perRoundResults.map((x) => x.baseline.rps));
    const appP99 = median(perRoundResults.map((x) => x.app.latency.p99));
    const baseP99 = median(perRoundResults.map((x) => x.baseline.latency.p99));
    const all2xx = perRoundResults.every((x) => only2xx(x.app) && only2xx(x.baseline));
    const ratio = appRps / baseRps;
    out.webhook = {
      rounds: perRoundResults.map((x) => ({
        app: brief(x.app),
        baseline: brief(x.baseline),
        ratio: round(x.app.rps / x.baseline.rps),
        cpuUsPerEvent: { app: x.appCpu, baseline: x.baselineCpu },
      })),
      appPerSecond: round(appRps, 1),
      baselinePerSecond: round(baseRps, 1),
      ratio: round(ratio),
      appP99Ms: round(appP99),
      baselineP99Ms: round(baseP99),
      sqliteAppPerSecond: ctx.webhookAppRps ? round(ctx.webhookAppRps, 1) : null,
      checks: { all2xx },
      target: { ratioAtLeast: TARGETS.webhookRatio, p99UnderMs: TARGETS.webhookP99Ms },
      met: { ratio: ratio >= TARGETS.webhookRatio, p99: appP99 < TARGETS.webhookP99Ms },
    };
    rows.push(
      {
        scenario: "P1 webhook ingest, PostgreSQL (32 conn)",
        figure: "events/s",
        app: perSecond(appRps),
        baseline: `${perSecond(baseRps)} (pg)`,
        ratio: ratio.toFixed(2),
        target: `>= ${TARGETS.webhookRatio}`,
        met: yes(ratio >= TARGETS.webhookRatio),
      },
      {
        scenario: "",
        figure: "p99 latency",
        app: ms(appP99),
        baseline: ms(baseP99),
        ratio: "",
        target: `< ${TARGETS.webhookP99Ms} ms`,
        met: yes(appP99 < TARGETS.webhookP99Ms),
      },
      {
        scenario: "",
        figure: "all 2xx",
        app: all2xx ? "yes" : "NO",
        baseline: "",
        ratio: "",
        target: "all",
        met: yes(all2xx),
      },
    );

    // P1a: where the time goes on PostgreSQL, one layer at a time (as scenario 1a on SQLite).
    await decomposePgWebhook(ctx, databases);

    // P3: Buy with the app on PostgreSQL; its added time beside SQLite's (the same emulator and baseline).
    log("scenario P3: Buy on PostgreSQL, 1 connection");
    const shopDb = await postgresFrom(ctx.baseDb, "bench_pg_buy");
    databases.push(shopDb);
    const buyApp = await startPgApp(ctx, shopDb);
    try {
      const buyer = randomBytes(16).toString("base64url");
      const result = await runLoad({
        kind: "buy",
        url: buyApp.url,
        path: `/products/${PRODUCT_SLUG}`,
        connections: 1,
        warmup: SIZES.buyWarmup,
        amount: SIZES.buyRequests,
        cookie: await shopperCookie(buyer),
        shopperId: buyer,
        origin: buyApp.url,
      });
      const a = result.measured;
      const sqliteBuy = results.buy as { app: { latencyMs: { p50: number } } } | undefined;
      const sqliteP50 = sqliteBuy?.app.latencyMs.p50;
      const all303 = Object.keys(a.status).every((code) => code === "303") && a.errors === 0;
      const more = sqliteP50 === undefined ? null : a.latency.p50 - sqliteP50;
      out.buy = {
        app: brief(a),
        sqliteP50Ms: sqliteP50 ?? null,
        morethanSqliteP50Ms: more === null ? null : round(more),
        checks: { all303 },
        target: { withinSqliteMs: 1 },
        met: { within: more !== null && more < 1 },
      };
      rows.push(
        {
          scenario: "P3 Buy, PostgreSQL (1 conn)",
          figure: "p50 latency",
          app: ms(a.latency.p50),
          baseline: sqliteP50 === undefined ? "-" : `${ms(sqliteP50)} (SQLite app)`,
          ratio: more === null ? "" : `+${ms(more)}`,
          target: "+ < 1 ms of SQLite",
          met: more === null ? "-" : yes(more < 1),
        },
        {
          scenario: "",
          figure: "all 303 to the checkout",
          app: all303 ? "yes" : JSON.stringify(a.status),
          baseline: "",
          ratio: "",
          target: "all",
          met: yes(all303),
        },
      );
    } finally {
      await buyApp.stop();
    }

    // P4: the success page's loader data over HTTP, with 10,000 and 1,000,000 (quick: 1,000 and 10,000) orders.
    log("scenario P4: the success loader on PostgreSQL, 1 connection");
    const success: Record<string, unknown> = {};
    for (const count of [SIZES.small, SIZES.large]) {
      const file = historyFixture(ctx, count);
      const database = await postgresFrom(file, "bench_pg_success");
      databases.push(database);
      rmSync(file, { force: true });
      const index = paidIndex(count);
      const cookie = await shopperCookie(shopperOf(index));
      const pagePath = `/checkout/success?session_id=${sessionId(index)}`;
      const successApp = await startPgApp(ctx, database);
      try {
        const check = await fetch(`${successApp.url}${pagePath}`, { headers: { Cookie: cookie } });
        const text = await check.text();
        if (check.status !== 200 || !/Ceramic Pour-Over/.test(text))
          throw new Error(`the success page on PostgreSQL answered ${check.status}: ${text.slice(0, 300)}`);
        const data = (
          await runLoad({
            kind: "get",
            url: successApp.url,
            path: `${pagePath}&_data=routes%2Fcheckout.success`,
            connections: 1,
            warmup: SIZES.successWarmup,
            amount: SIZES.successRequests,
            headers: { Cookie: cookie },
          })
        ).measured;
        success[String(count)] = { data: brief(data) };
        log(`  ${count.toLocaleString("en-US")}: loader data over HTTP p50 ${ms(data.latency.p50)}`);
        rows.push({
          scenario: count === SIZES.small ? "P4 success loader, PostgreSQL (1 conn)" : "",
          figure: `${count.toLocaleString("en-US")} orders: data p50 (HTTP)`,
          app: ms(data.latency.p50),
          baseline: "",
          ratio: "",
          target: `< ${TARGETS.successP50Ms} ms`,
          met: yes(data.latency.p50 < TARGETS.successP50Ms),
        });
      } finally {
        await successApp.stop();
      }
    }
    out.successPage = success;
  } finally {
    for (const database of databases) await database.drop().catch(() => {});
  }
}

type Context = {
  tmp: string;
  appDir: string;
  baseDb: string;
  emulator: Server;
  webhookDb?: string;
  memoryFrom?: number;
  webhookAppRps?: number;
};

function printTable() {
  const header: Row = {
    scenario: "scenario",
    figure: "figure",
    app: "app",
    baseline: "baseline",
    ratio: "ratio",
    target: "target",
    met: "met",
  };
  const keys = Object.keys(header) as (keyof Row)[];
  const widths = keys.map((k) => Math.max(...[header, ...rows].map((r) => r[k].length)));
  const line = (r: Row) => keys.map((k, i) => r[k].padEnd(widths[i]!)).join(" | ");
  console.log(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("-|-")}`);
  for (const r of rows) console.log(line(r));
}

async function main() {
  const info = machine();
  log(
    `${info.cpus} x ${info.cpuModel}, Node ${info.node}, load average ${info.loadAverageAtStart.join(" ")}${QUICK ? " (QUICK sizes)" : ""}`,
  );
  if (info.loadAverageAtStart[0]! > 1.5)
    log("the machine is busy: figures will be noisy (ratios hold better than absolute times)");

  const appDir = process.env.BENCH_APP_DIR ? path.resolve(process.env.BENCH_APP_DIR) : await buildApp();
  log(
    process.env.BENCH_APP_DIR
      ? `measuring the build in ${appDir}`
      : `built (npx remix vite:build) and copied to ${path.relative(root, appDir)}`,
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), "shop-bench-"));
  const emulator = await startEmulator();
  const ctx: Context = { tmp, appDir, baseDb: path.join(tmp, "base.db"), emulator };
  try {
    // The app itself migrates and seeds the catalog of an empty file: the base of every fixture.
    const first = await startApp({ appDir, databasePath: ctx.baseDb, stripeApiBase: emulator.url });
    await first.stop();
    checkpoint(ctx.baseDb);

    noteLoad("webhook");
    if (wanted("webhook") || wanted("duplicate") || wanted("memory")) await webhookScenarios(ctx);
    noteLoad("memory");
    if (wanted("memory")) await memoryScenario(ctx);
    noteLoad("pagesAndBuy");
    if (wanted("pages") || wanted("buy")) await pagesAndBuy(ctx);
    noteLoad("success");
    if (wanted("success")) await successScenario(ctx);
    noteLoad("postgres");
    if (wanted("postgres")) await postgresScenarios(ctx);
    noteLoad("jobs");
    if (wanted("jobs")) {
      // bench/jobs.ts: the worker's throughput and the enqueue's cost, on both databases.
      const jobs = await jobsScenario({
        baseDb: ctx.baseDb,
        tmp,
        quick: QUICK,
        log,
        postgresFrom,
        stripeApiBase: ctx.emulator.url,
      });
      results.jobs = jobs.results;
      rows.push(...jobs.rows);
    }
  } finally {
    await emulator.stop();
    rmSync(tmp, { recursive: true, force: true });
  }

  printTable();
  const output = {
    machine: {
      ...info,
      loadAverageAtScenarioStart: loadAverages,
      loadAverageAtEnd: os.loadavg().map((v) => round(v, 2)),
    },
    quick: QUICK,
    sizes: SIZES,
    durationSeconds: round((Date.now() - started) / 1000, 1),
    ...results,
  };
  writeFileSync(OUT, `${JSON.stringify(output, null, 2)}\n`);
  log(
    `wrote ${path.relative(root, OUT)} in ${output.durationSeconds} s${PROFILE_DIR ? `; CPU profiles in ${path.relative(root, PROFILE_DIR)}` : ""}`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
