import { register } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createTestDatabase, postgresUnavailable, type TestDatabase, testPool } from "../tests/support/pg-database";
import type { Proc } from "../tests/support/processes";
import { WEBHOOK_SECRET } from "../tests/support/test-env";
import { completedEvent, copyDatabase, seedCheckouts } from "./lib/fixtures";
import { median, runJsonChild, runLoad } from "./lib/load";
import {
  buildEnqueueSwitchApp,
  cpuUs,
  startApp,
  startBaselinePgWebhookServer,
  startBaselineWebhookServer,
} from "./lib/procs";

/**
 * The jobs benchmarks (`BENCH_ONLY=jobs npm run bench`), on SQLite and on
 * PostgreSQL, each in a child process of its own over the app's own database
 * handle (`DATABASE_PATH` or `DATABASE_URL`):
 *
 * - jobs per second through one worker (createWorker's defaults: 4 at once,
 *   one claim per free slot) with a handler that does nothing, and the time
 *   to drain 10,000 pending jobs; every job must end done.
 * - what enqueueing adds to the webhook's cost per event: the state machine
 *   (`processStripeEvent`, what the webhook route calls) in-process, one
 *   event after another, in rounds with the enqueue on and off (ABBA, so that
 *   drift on a shared machine falls on both alike). Off, every import of
 *   app/lib/jobs/enqueue.server.ts gets bench/lib/enqueue-switch.ts, which
 *   writes nothing; the rest of the code is the shipped code. The state
 *   machine is only part of the webhook's cost (HTTP, signature, JSON come on
 *   top), so the added share of it bounds how far the enqueue can move the
 *   webhook's ratio to its baseline.
 * - the move itself, on each database: the webhook through server.js as
 *   shipped, with and without the enqueue, against the bare baseline of that
 *   database (httpPass below); the target is at most 5%.
 */

export type JobsRow = {
  scenario: string;
  figure: string;
  app: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
};

type Measured = {
  dialect: "sqlite" | "postgresql";
  throughput: { jobs: number; seconds: number; perSecond: number; cpuUsPerJob: number };
  drain: { jobs: number; seconds: number; perSecond: number; cpuUsPerJob: number };
  enqueueCost: {
    eventsPerRound: number;
    rounds: { enqueue: boolean; together: boolean; wallUs: number; cpuUs: number }[];
    withUs: number;
    withoutUs: number;
    addedUs: number;
    withCpuUs: number;
    withoutCpuUs: number;
    /** addedUs / withUs: the most the enqueue can move the webhook's ratio to its baseline. */
    share: number;
    /** The same for this process's CPU time (steadier than wall time on a busy machine). */
    cpuShare: number;
    walPagesPerEvent: { with: number; without: number } | null;
    /** The same events all started at once, as deliveries arriving together (SQLite: group commit). */
    together: { withUs: number; withoutUs: number; withCpuUs: number; withoutCpuUs: number; share: number };
  };
  checks: { allDone: boolean; orderPaidJobs: number; expectedOrderPaidJobs: number };
};

const here = path.dirname(fileURLToPath(import.meta.url));
const TARGET_SHARE = 0.05;
/** The app's and the PostgreSQL baseline's pool, as in the runner's PostgreSQL pass. */
const PG_POOL_MAX = 10;

function sizes(quick: boolean) {
  return {
    throughputWarmup: quick ? 100 : 200,
    throughputJobs: quick ? 1_000 : 3_000,
    drainJobs: 10_000,
    smWarmup: quick ? 100 : 300,
    smRounds: quick ? 4 : 16,
    smPerRound: quick ? 200 : 500,
    walEvents: quick ? 100 : 200,
    httpRounds: quick ? 2 : 12,
    httpWarmup: quick ? 100 : 200,
    httpEvents: quick ? 500 : 1_500,
  };
}

/* -------------------------------------------------------------------------- */
/* In bench/run.ts: one child per database                                    */
/* -------------------------------------------------------------------------- */

export async function jobsScenario({
  baseDb,
  tmp,
  quick,
  log,
  postgresFrom,
  stripeApiBase,
}: {
  baseDb: string;
  tmp: string;
  quick: boolean;
  log: (message: string) => void;
  /** bench/run.ts's copy of a SQLite fixture into a fresh PostgreSQL database, its loaded tables analyzed. */
  postgresFrom: (file: string, prefix: string) => Promise<TestDatabase>;
  /** The Stripe emulator the HTTP pass's servers are configured with (they make no call on this path). */
  stripeApiBase: string;
}): Promise<{ results: Record<string, unknown>; rows: JobsRow[] }> {
  const size = sizes(quick);
  const checkouts = size.smWarmup + 2 * size.smRounds * size.smPerRound + 2 * size.walEvents;
  log(
    `scenario J: jobs, one worker with a no-op handler (${size.throughputJobs.toLocaleString("en-US")} jobs; then draining ${size.drainJobs.toLocaleString("en-US")}), and the state machine with and without the enqueue (${size.smRounds} rounds of ${size.smPerRound} events)`,
  );
  const fixture = path.join(tmp, "jobs.db");
  copyDatabase(baseDb, fixture);
  seedCheckouts(fixture, { count: checkouts, kind: "open" });

  const results: Record<string, unknown> = {};
  const rows: JobsRow[] = [];
  const sqlite = await runChild({ DATABASE_PATH: fixture }, quick);
  results.sqlite = sqlite;
  rows.push(...rowsFor("J jobs, SQLite", sqlite));
  log(summary(sqlite));
  const http = await httpPass({ baseDb, tmp, size, log, stripeApiBase });
  results.sqliteHttp = http;
  rows.push(...httpRows(http));

  const reason = await postgresUnavailable();
  if (reason) {
    log(`jobs on PostgreSQL DID NOT RUN: ${reason}`);
    results.postgres = { ran: false, reason };
    rows.push({
      scenario: "J jobs, PostgreSQL",
      figure: "did not run",
      app: reason,
      baseline: "",
      ratio: "",
      target: "",
      met: "",
    });
  } else {
    const fresh = path.join(tmp, "jobs-pg.db");
    copyDatabase(baseDb, fresh);
    seedCheckouts(fresh, { count: checkouts, kind: "open" });
    const database = await postgresFrom(fresh, "bench_pg_jobs");
    try {
      const pg = await runChild({ DATABASE_URL: database.url, DATABASE_POOL_MAX: String(PG_POOL_MAX) }, quick);
      results.postgres = pg;
      rows.push(...rowsFor("J jobs, PostgreSQL", pg));
      log(summary(pg));
      const pgHttp = await httpPass({ baseDb, tmp, size, log, stripeApiBase, postgresFrom });
      results.postgresHttp = pgHttp;
      rows.push(...httpRows(pgHttp));
    } finally {
      await database.drop().catch(() => {});
    }
  }
  return { results, rows };
}

/* -------------------------------------------------------------------------- */
/* The webhook end to end over HTTP, with and without the enqueue (each DB)    */
/* -------------------------------------------------------------------------- */

type HttpPass = {
  connections: number;
  eventsPerRound: number;
  rounds: {
    on: number;
    off: number;
    baseline: number;
    ratioOn: number;
    ratioOff: number;
    /** CPU per event of the server (user and system, from /proc, warm-up included). */
    cpuUsOn: number;
    cpuUsOff: number;
  }[];
  /** Medians of the rounds' ratios to the baseline run in the same round. */
  ratioOn: number;
  ratioOff: number;
  /** The median over rounds of 1 - on/off (= (ratioOff - ratioOn) / ratioOff in that round): how far the enqueue moves the webhook's ratio. */
  change: number;
  /** Server CPU per event, medians of the rounds, and the median over rounds of cpuOn/cpuOff - 1 (paired). */
  cpuUsOn: number;
  cpuUsOff: number;
  cpuChange: number;
  all2xx: boolean;
  orderPaidJobs: { on: number; off: number };
};

/**
 * The webhook as scenario 1 measures it, server.js as shipped (logs on), once
 * with the enqueue and once without (BENCH_ENQUEUE=off), each on its own copy
 * of the fixture, against the baseline webhook server; rounds in rotating
 * order, ratios to the baseline of the same round. Both run one build,
 * bench/vite.enqueue-switch.config.ts's: the shop's, with
 * bench/lib/enqueue-switch.ts in place of the enqueue (a module hook cannot
 * reach into the bundle). Until 2026-12-02 this pass ran the webhook's action
 * behind bench/action-server.mjs instead: without Remix's handler and the
 * request line in the denominator, an upper bound on this.
 */
let switchApp: Promise<string> | undefined;

async function httpPass({
  baseDb,
  tmp,
  size,
  log,
  stripeApiBase,
  postgresFrom,
}: {
  baseDb: string;
  tmp: string;
  size: ReturnType<typeof sizes>;
  log: (message: string) => void;
  stripeApiBase: string;
  /** Given: the pass runs on PostgreSQL (each server a database copied from the fixture, the PostgreSQL baseline). */
  postgresFrom?: (file: string, prefix: string) => Promise<TestDatabase>;
}): Promise<HttpPass> {
  const { httpRounds, httpWarmup, httpEvents } = size;
  const onPg = postgresFrom !== undefined;
  log(
    `scenario J, HTTP${onPg ? ", PostgreSQL" : ""}: the webhook (server.js) with and without the enqueue, ${httpRounds} rounds of ${httpEvents} events (+${httpWarmup} warm-up) each, 32 connections, against the baseline`,
  );
  const perRound = httpWarmup + httpEvents;
  const suffix = onPg ? "-pg" : "";
  const files = { on: path.join(tmp, `jobs-http-on${suffix}.db`), off: path.join(tmp, `jobs-http-off${suffix}.db`) };
  copyDatabase(baseDb, files.on);
  seedCheckouts(files.on, { count: httpRounds * perRound, kind: "open" });
  copyDatabase(files.on, files.off);
  const databases: TestDatabase[] = [];
  const urls: Partial<Record<"on" | "off" | "baseline", string>> = {};
  if (postgresFrom) {
    for (const side of ["on", "off"] as const) {
      const database = await postgresFrom(files[side], `bench_pg_jobs_http_${side}`);
      databases.push(database);
      urls[side] = database.url;
    }
    const baselineDb = await createTestDatabase("bench_pg_jobs_http_baseline", { migrated: false });
    databases.push(baselineDb);
    urls.baseline = baselineDb.url;
  }
  switchApp ??= buildEnqueueSwitchApp();
  const appDir = await switchApp;
  const start = (enqueue: "on" | "off"): Promise<Proc> =>
    startApp({
      appDir,
      databasePath: files[enqueue],
      stripeApiBase,
      env: {
        BENCH_ENQUEUE: enqueue,
        ...(urls[enqueue] ? { DATABASE_URL: urls[enqueue], DATABASE_POOL_MAX: String(PG_POOL_MAX) } : {}),
      },
    });
  const servers: Partial<Record<"on" | "off" | "baseline", Proc>> = {};
  try {
    servers.on = await start("on");
    servers.off = await start("off");
    servers.baseline = urls.baseline
      ? await startBaselinePgWebhookServer({ databaseUrl: urls.baseline, poolMax: PG_POOL_MAX })
      : await startBaselineWebhookServer({ databasePath: path.join(tmp, "jobs-http-baseline.db") });
    const orders: ("on" | "off" | "baseline")[][] = [
      ["on", "off", "baseline"],
      ["baseline", "off", "on"],
      ["off", "on", "baseline"],
      ["baseline", "on", "off"],
    ];
    const rounds: HttpPass["rounds"] = [];
    let all2xx = true;
    for (let r = 0; r < httpRounds; r++) {
      const got: Partial<Record<"on" | "off" | "baseline", number>> = {};
      const cpu: Partial<Record<"on" | "off" | "baseline", number>> = {};
      for (const side of orders[r % orders.length]!) {
        const cpuBefore = cpuUs(servers[side]!.pid);
        const result = await runLoad({
          kind: "webhook",
          url: servers[side]!.url,
          connections: 32,
          warmup: httpWarmup,
          amount: httpEvents,
          from: r * perRound,
          secret: WEBHOOK_SECRET,
          salt: side === "baseline" ? `jb${r}` : "",
        });
        const status = Object.keys(result.measured.status);
        all2xx &&= result.measured.errors === 0 && status.every((code) => code.startsWith("2"));
        got[side] = result.measured.rps;
        cpu[side] = Math.round((cpuUs(servers[side]!.pid) - cpuBefore) / perRound);
      }
      const round = {
        on: Math.round(got.on!),
        off: Math.round(got.off!),
        baseline: Math.round(got.baseline!),
        ratioOn: Number((got.on! / got.baseline!).toFixed(3)),
        ratioOff: Number((got.off! / got.baseline!).toFixed(3)),
        cpuUsOn: cpu.on!,
        cpuUsOff: cpu.off!,
      };
      rounds.push(round);
      log(
        `  round ${r + 1}: with the enqueue ${round.on}/s, without ${round.off}/s, baseline ${round.baseline}/s; ratios ${round.ratioOn} / ${round.ratioOff}; server CPU ${round.cpuUsOn} / ${round.cpuUsOff} us/event`,
      );
    }
    const ratioOn = Number(median(rounds.map((x) => x.ratioOn)).toFixed(3));
    const ratioOff = Number(median(rounds.map((x) => x.ratioOff)).toFixed(3));
    const { default: Database } = await import("better-sqlite3");
    const COUNT = "SELECT count(*) AS n FROM jobs WHERE kind = 'order.paid'";
    const countJobs = async (side: "on" | "off") => {
      const url = urls[side];
      if (url) {
        const pool = testPool(url);
        try {
          return Number((await pool.query<{ n: string }>(COUNT)).rows[0]!.n);
        } finally {
          await pool.end();
        }
      }
      const db = new Database(files[side], { readonly: true });
      try {
        return (db.prepare(COUNT).get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    return {
      connections: 32,
      eventsPerRound: httpEvents,
      rounds,
      ratioOn,
      ratioOff,
      // Paired per round (the two servers measured back to back, against the same baseline run):
      // the median of each round's move, which drift between rounds does not reach.
      change: Number(median(rounds.map((x) => 1 - x.on / x.off)).toFixed(4)),
      cpuUsOn: Math.round(median(rounds.map((x) => x.cpuUsOn))),
      cpuUsOff: Math.round(median(rounds.map((x) => x.cpuUsOff))),
      cpuChange: Number(median(rounds.map((x) => x.cpuUsOn / x.cpuUsOff - 1)).toFixed(4)),
      all2xx,
      orderPaidJobs: { on: await countJobs("on"), off: await countJobs("off") },
    };
  } finally {
    for (const server of Object.values(servers)) await server?.stop();
    for (const database of databases) await database.drop().catch(() => {});
  }
}

function httpRows(h: HttpPass): JobsRow[] {
  // With the enqueue every event of every round leaves its job; without, none.
  const checked = h.all2xx && h.orderPaidJobs.off === 0 && h.orderPaidJobs.on > 0;
  const ratio = {
    scenario: "",
    figure: "webhook (server.js): ratio to baseline, with / without enqueue",
    app: String(h.ratioOn),
    baseline: String(h.ratioOff),
    ratio: `${h.change >= 0 ? "-" : "+"}${(Math.abs(h.change) * 100).toFixed(1)}%`,
    target: `<= ${TARGET_SHARE * 100}%`,
    // A ratio that rises with the enqueue by more than the target is the load's noise, not a gain.
    met: !checked
      ? "NOT CHECKED"
      : h.change > TARGET_SHARE
        ? "NO"
        : h.change < -TARGET_SHARE
          ? "unresolved (noise)"
          : "yes",
  };
  // What the enqueue adds to the server's own work per event, read from /proc beside the rates.
  const cpu = {
    scenario: "",
    figure: "webhook (server.js): server CPU per event, with / without enqueue",
    app: `${h.cpuUsOn} us`,
    baseline: `${h.cpuUsOff} us`,
    ratio: `${h.cpuChange >= 0 ? "+" : "-"}${(Math.abs(h.cpuChange) * 100).toFixed(1)}% (paired)`,
    target: "",
    met: "",
  };
  return [ratio, cpu];
}

function summary(m: Measured) {
  const e = m.enqueueCost;
  return `  ${m.dialect}: ${Math.round(m.throughput.perSecond)} jobs/s; 10,000 drained in ${m.drain.seconds.toFixed(1)} s; state machine ${e.withUs} us/event with the enqueue, ${e.withoutUs} us without (+${(e.share * 100).toFixed(1)}%; CPU +${(e.cpuShare * 100).toFixed(1)}%); arriving together ${e.together.withUs} / ${e.together.withoutUs} us (+${(e.together.share * 100).toFixed(1)}%)`;
}

function rowsFor(scenario: string, m: Measured): JobsRow[] {
  const e = m.enqueueCost;
  const ok = (b: boolean) => (b ? "yes" : "NO");
  return [
    {
      scenario,
      figure: "jobs/s, one worker, no-op handler",
      app: `${Math.round(m.throughput.perSecond).toLocaleString("en-US")}/s (CPU ${m.throughput.cpuUsPerJob} us/job)`,
      baseline: "",
      ratio: "",
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: `drain ${m.drain.jobs.toLocaleString("en-US")} jobs`,
      app: `${m.drain.seconds.toFixed(2)} s (${Math.round(m.drain.perSecond).toLocaleString("en-US")}/s)`,
      baseline: "",
      ratio: "",
      target: "all done",
      met: ok(m.checks.allDone),
    },
    {
      scenario: "",
      figure: "state machine per event, one at a time, with / without enqueue",
      app: `${e.withUs} us (CPU ${e.withCpuUs} us)`,
      baseline: `${e.withoutUs} us (CPU ${e.withoutCpuUs} us)`,
      ratio: `${e.share >= 0 ? "+" : "-"}${Math.abs(e.share * 100).toFixed(1)}% (paired)`,
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "state machine per event, arriving together, with / without enqueue",
      app: `${e.together.withUs} us (CPU ${e.together.withCpuUs} us)`,
      baseline: `${e.together.withoutUs} us (CPU ${e.together.withoutCpuUs} us)`,
      ratio: `${e.together.share >= 0 ? "+" : "-"}${Math.abs(e.together.share * 100).toFixed(1)}% (paired)`,
      target: "",
      met: "",
    },
    {
      scenario: "",
      figure: "order.paid jobs left, one per fulfilled event with the enqueue on",
      app: String(m.checks.orderPaidJobs),
      baseline: String(m.checks.expectedOrderPaidJobs),
      ratio: "",
      target: "equal",
      met: ok(m.checks.orderPaidJobs === m.checks.expectedOrderPaidJobs),
    },
    ...(e.walPagesPerEvent
      ? [
          {
            scenario: "",
            figure: "WAL pages per event, with / without enqueue",
            app: String(e.walPagesPerEvent.with),
            baseline: String(e.walPagesPerEvent.without),
            ratio: (e.walPagesPerEvent.with / e.walPagesPerEvent.without).toFixed(2),
            target: "",
            met: "",
          },
        ]
      : []),
  ];
}

function runChild(env: Record<string, string>, quick: boolean): Promise<Measured> {
  return runJsonChild("the jobs benchmark", path.join(here, "jobs.ts"), ["child"], {
    NODE_ENV: "test",
    BENCH_QUICK: quick ? "1" : "0",
    ...env,
  });
}

/* -------------------------------------------------------------------------- */
/* The child: measures on the configured database                             */
/* -------------------------------------------------------------------------- */

async function child() {
  // Before the app is imported: its enqueue can then be switched off (enqueue-switch-hooks.mjs).
  register("./lib/enqueue-switch-hooks.mjs", import.meta.url);
  const size = sizes(process.env.BENCH_QUICK === "1");
  const { enqueueSwitch } = await import("./lib/enqueue-switch");
  const { processStripeEvent } = await import("../app/lib/checkout.server");
  const { handle } = await import("../app/lib/db.server");
  const { createWorker } = await import("../app/lib/jobs/worker.server");
  const sqliteStore = await import("../app/lib/jobs/sqlite-store.server");
  const pgStore = await import("../app/lib/jobs/pg-store.server");
  console.info = () => {};
  const quiet = { info() {}, warn() {}, error: console.error };
  const NOOP = "bench.noop";
  const store =
    handle.dialect === "sqlite"
      ? sqliteStore.createSqliteJobStore(handle.sqlite)
      : pgStore.createPgJobStore(handle.pool);

  async function enqueueMany(prefix: string, n: number) {
    const jobs = Array.from({ length: n }, (_, i) => ({ kind: NOOP, key: `${prefix}:${i}`, payload: { i } }));
    if (handle.dialect === "sqlite") {
      const sqlite = handle.sqlite;
      sqlite.transaction(() => {
        for (const job of jobs) sqliteStore.enqueue(sqlite, job);
      })();
      return;
    }
    const client = await handle.pool.connect();
    try {
      await client.query("BEGIN");
      for (const job of jobs) await pgStore.enqueue(client, job);
      await client.query("COMMIT");
    } finally {
      client.release();
    }
  }

  /** Starts one worker on `n` pending no-op jobs and stops it once all have run. */
  async function drain(n: number) {
    let ran = 0;
    let finished!: () => void;
    const all = new Promise<void>((resolve) => (finished = resolve));
    const worker = createWorker({
      store,
      handlers: [{ kind: NOOP, run: async () => void (++ran === n && finished()) }],
      log: quiet,
    });
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    worker.start();
    await all;
    await worker.stop({ graceMs: 30_000 });
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      jobs: n,
      seconds: Number(seconds.toFixed(3)),
      perSecond: Number((n / seconds).toFixed(1)),
      cpuUsPerJob: Math.round((used.user + used.system) / n),
    };
  }

  await enqueueMany("warm", size.throughputWarmup);
  await drain(size.throughputWarmup);
  await enqueueMany("throughput", size.throughputJobs);
  const throughput = await drain(size.throughputJobs);
  await enqueueMany("drain", size.drainJobs);
  const drained = await drain(size.drainJobs);
  const counts = await store.counts();
  const noop = size.throughputWarmup + size.throughputJobs + size.drainJobs;
  const allDone = counts.done === noop && counts.pending === 0 && counts.running === 0 && counts.dead === 0;

  // The state machine, one completed checkout after another, the enqueue on and off.
  const events = Array.from(
    { length: size.smWarmup + 2 * size.smRounds * size.smPerRound + 2 * size.walEvents },
    (_, i) => {
      const payload = completedEvent(i);
      return { payload, event: JSON.parse(payload) as Parameters<typeof processStripeEvent>[0] };
    },
  );
  let next = 0;
  async function apply(n: number) {
    for (const { event, payload } of events.slice(next, (next += n))) {
      const result = await processStripeEvent(event, { payload });
      if (!result.fulfilled) throw new Error(`event ${event.id} did not fulfill its checkout`);
    }
  }
  // All at once, as deliveries arriving together: on SQLite they share commits (group commit, ADR 180).
  async function applyTogether(n: number) {
    const list = events.slice(next, (next += n));
    const results = await Promise.all(list.map(({ event, payload }) => processStripeEvent(event, { payload })));
    if (results.some((result) => !result.fulfilled)) throw new Error("an event did not fulfill its checkout");
  }
  await apply(size.smWarmup);
  const rounds: Measured["enqueueCost"]["rounds"] = [];
  let expectedOrderPaidJobs = size.smWarmup;
  for (const together of [false, true]) {
    for (let r = 0; r < size.smRounds; r++) {
      const on = [true, false, false, true][r % 4]!;
      enqueueSwitch.on = on;
      const cpu = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await (together ? applyTogether : apply)(size.smPerRound);
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / size.smPerRound;
      const used = process.cpuUsage(cpu);
      rounds.push({
        enqueue: on,
        together,
        wallUs: Math.round(wallUs),
        cpuUs: Math.round((used.user + used.system) / size.smPerRound),
      });
      if (on) expectedOrderPaidJobs += size.smPerRound;
    }
  }
  // SQLite: the WAL pages each event's commit writes, with and without (what the fsync has to carry).
  let walPagesPerEvent: { with: number; without: number } | null = null;
  if (handle.dialect === "sqlite") {
    const sqlite = handle.sqlite;
    const pages = async (on: boolean) => {
      enqueueSwitch.on = on;
      sqlite.pragma("wal_checkpoint(TRUNCATE)");
      const before = sqlite.pragma("wal_autocheckpoint", { simple: true }) as number;
      sqlite.pragma("wal_autocheckpoint = 0");
      await apply(size.walEvents);
      const [result] = sqlite.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
      sqlite.pragma(`wal_autocheckpoint = ${before}`);
      return Number(((result?.log ?? 0) / size.walEvents).toFixed(1));
    };
    walPagesPerEvent = { with: await pages(true), without: await pages(false) };
    expectedOrderPaidJobs += size.walEvents;
  }
  enqueueSwitch.on = true;
  const orderPaidJobs = (await store.list({ limit: 1_000_000 })).filter((job) => job.kind === "order.paid").length;
  const pick = (on: boolean, key: "wallUs" | "cpuUs", together = false) =>
    Math.round(median(rounds.filter((x) => x.enqueue === on && x.together === together).map((x) => x[key])));
  const withUs = pick(true, "wallUs");
  const withoutUs = pick(false, "wallUs");
  const withCpuUs = pick(true, "cpuUs");
  const withoutCpuUs = pick(false, "cpuUs");
  // Paired: the rounds run on, off, off, on, ...; each two in a row are one on and one off,
  // measured back to back. The median of the pairs' shares is what drift between pairs cannot move.
  const pairedShare = (together: boolean) => {
    const list = rounds.filter((x) => x.together === together);
    const shares: number[] = [];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const on = list[i]!.enqueue ? list[i]! : list[i + 1]!;
      const off = list[i]!.enqueue ? list[i + 1]! : list[i]!;
      shares.push(1 - off.wallUs / on.wallUs);
    }
    return Number(median(shares).toFixed(4));
  };
  const togetherWith = pick(true, "wallUs", true);
  const togetherWithout = pick(false, "wallUs", true);
  const together = {
    withUs: togetherWith,
    withoutUs: togetherWithout,
    withCpuUs: pick(true, "cpuUs", true),
    withoutCpuUs: pick(false, "cpuUs", true),
    share: pairedShare(true),
  };
  const measured: Measured = {
    dialect: handle.dialect === "sqlite" ? "sqlite" : "postgresql",
    throughput,
    drain: drained,
    enqueueCost: {
      eventsPerRound: size.smPerRound,
      rounds,
      withUs,
      withoutUs,
      addedUs: withUs - withoutUs,
      withCpuUs,
      withoutCpuUs,
      share: pairedShare(false),
      cpuShare: Number(((withCpuUs - withoutCpuUs) / withCpuUs).toFixed(4)),
      walPagesPerEvent,
      together,
    },
    checks: { allDone, orderPaidJobs, expectedOrderPaidJobs },
  };
  await handle.close();
  process.stdout.write(`${JSON.stringify(measured)}\n`);
}

if (
  process.argv[2] === "child" &&
  process.argv[1] &&
  path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  await child();
}
