import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import pg from "pg";

import { createTestDatabase, type TestDatabase } from "../tests/support/pg-database";
import { WEBHOOK_SECRET } from "../tests/support/test-env";
import { shopperCookie } from "./lib/cookie";
import { checkpoint, copyDatabase, PRODUCT_SLUG, seedCheckouts } from "./lib/fixtures";
import { median, runLoad } from "./lib/load";
import { analyzeLoadedTables, copyToPostgres, cpuUs, type Server, startApp, startEmulator } from "./lib/procs";

/**
 * Two builds of the app side by side, on the same machine at the same time:
 * webhook ingest at 32 connections (or BENCH_AB_CONNECTIONS), the two alternating who goes first over
 * several rounds, each on its own copy of the same fixture. On a shared,
 * busy machine the per-round ratio B/A holds better than either figure.
 * Beside each side's rate: its server's CPU per request (from /proc) and this
 * process's, which reads the servers' stdout as a log shipper would; their
 * medians end the output.
 *
 *   node --import tsx bench/ab-webhook.ts <dirA> <dirB>      (each: server.js and build/, as BENCH_APP_DIR)
 *   BENCH_AB_DB=postgres  the same with DATABASE_URL (TEST_DATABASE_URL's server, a database per side, dropped after;
 *                         the tables that hold rows analyzed, as bench/run.ts's P1 does)
 *   BENCH_AB_SQL_A, BENCH_AB_SQL_B  SQL run on that side's copy before its server starts (a schema change to weigh:
 *                         both sides run this checkout's migrations, so the build alone cannot differ in schema)
 *   BENCH_AB_ROUNDS=4 BENCH_AB_EVENTS=1500 BENCH_AB_WARMUP=300 BENCH_AB_CONNECTIONS=32
 *   BENCH_AB_KIND=buy     Buy now instead (scenario 3: form posts at one connection, each a session at the
 *                         emulator); per round the difference of the p50s, B - A, and its median
 */

const [dirA, dirB] = process.argv.slice(2).map((d) => path.resolve(d));
if (!dirA || !dirB) throw new Error("usage: bench/ab-webhook.ts <dirA> <dirB>");
const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 4);
const events = Number(process.env.BENCH_AB_EVENTS ?? 1_500);
const warmup = Number(process.env.BENCH_AB_WARMUP ?? 300);
const postgres = process.env.BENCH_AB_DB === "postgres";
const buy = process.env.BENCH_AB_KIND === "buy";
const connections = Number(process.env.BENCH_AB_CONNECTIONS ?? (buy ? 1 : 32));
const perRound = warmup + events;

const tmp = mkdtempSync(path.join(os.tmpdir(), "shop-bench-ab-"));
const emulator = await startEmulator();
const servers: Server[] = [];
const databases: TestDatabase[] = [];
try {
  const base = path.join(tmp, "base.db");
  // The app migrates and seeds the catalog of an empty file (as bench/run.ts does).
  await (await startApp({ appDir: dirA, databasePath: base, stripeApiBase: emulator.url })).stop();
  checkpoint(base);
  seedCheckouts(base, { count: rounds * perRound, kind: "open" });
  const start = async (appDir: string, side: "a" | "b") => {
    const databasePath = path.join(tmp, `${side}.db`);
    copyDatabase(base, databasePath);
    const sideSql = process.env[`BENCH_AB_SQL_${side.toUpperCase()}`];
    if (!postgres) {
      if (sideSql) {
        const file = new Database(databasePath);
        file.exec(sideSql);
        file.close();
      }
      return startApp({ appDir, databasePath, stripeApiBase: emulator.url });
    }
    const database = await createTestDatabase(`bench_ab_${side}`, { migrated: false });
    databases.push(database);
    copyToPostgres(base, database.url);
    if (sideSql) {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query(sideSql).finally(() => client.end());
    }
    await analyzeLoadedTables(database.url);
    return startApp({
      appDir,
      databasePath,
      stripeApiBase: emulator.url,
      env: { DATABASE_URL: database.url, DATABASE_POOL_MAX: "10" },
    });
  };
  const a = await start(dirA, "a");
  servers.push(a);
  const b = await start(dirB, "b");
  servers.push(b);
  const ratios: number[] = [];
  const differences: number[] = [];
  type Side = { rps: number; p50: number; p99: number; ok: boolean; status: string; cpu: number; reader: number };
  const describe = (side: Side) =>
    `${side.rps.toFixed(0)}/s p50 ${side.p50.toFixed(2)} p99 ${side.p99.toFixed(2)} ms, CPU ${side.cpu.toFixed(0)} us (reader ${side.reader.toFixed(0)})${side.ok ? "" : ` NOT all ${buy ? "303" : "2xx"} (${side.status})`}`;
  const cpu: Record<"A" | "B", { server: number[]; reader: number[] }> = {
    A: { server: [], reader: [] },
    B: { server: [], reader: [] },
  };
  for (let r = 0; r < rounds; r++) {
    const order =
      r % 2 === 0
        ? ([
            ["A", a],
            ["B", b],
          ] as const)
        : ([
            ["B", b],
            ["A", a],
          ] as const);
    const got: Record<string, Side> = {};
    for (const [side, server] of order) {
      const serverBefore = cpuUs(server.pid);
      const readerBefore = process.cpuUsage();
      // A shopper of the bench's own, as bench/run.ts makes one: it signs a fresh form token per post.
      const buyer = randomBytes(16).toString("base64url");
      const { measured } = buy
        ? await runLoad({
            kind: "buy",
            url: server.url,
            path: `/products/${PRODUCT_SLUG}`,
            connections,
            warmup,
            amount: events,
            cookie: await shopperCookie(buyer),
            shopperId: buyer,
            origin: server.url,
          })
        : await runLoad({
            kind: "webhook",
            url: server.url,
            connections,
            warmup,
            amount: events,
            from: r * perRound,
            secret: WEBHOOK_SECRET,
          });
      // Buy now answers 303 to Stripe's page; a webhook 2xx.
      const ok =
        Object.keys(measured.status).every((code) => (buy ? code === "303" : code.startsWith("2"))) &&
        measured.errors === 0;
      const reader = process.cpuUsage(readerBefore);
      const requests = warmup + events;
      got[side] = {
        cpu: (cpuUs(server.pid) - serverBefore) / requests,
        reader: (reader.user + reader.system) / requests,
        rps: measured.rps,
        p50: measured.latency.p50,
        p99: measured.latency.p99,
        ok,
        status: JSON.stringify(measured.status),
      };
    }
    for (const side of ["A", "B"] as const) {
      cpu[side].server.push(got[side]!.cpu);
      cpu[side].reader.push(got[side]!.reader);
    }
    const ratio = got.B!.rps / got.A!.rps;
    ratios.push(ratio);
    const difference = got.B!.p50 - got.A!.p50;
    if (buy) differences.push(difference);
    console.log(
      `round ${r + 1} (load ${os.loadavg()[0]!.toFixed(1)}): A ${describe(got.A!)}; B ${describe(got.B!)}; B/A ${ratio.toFixed(2)}${buy ? `; p50 B - A ${difference.toFixed(2)} ms` : ""}`,
    );
  }
  const where = `${rounds} rounds (${postgres ? "PostgreSQL" : "SQLite"}${buy ? ", Buy now" : ""})`;
  console.log(`B/A median ${median(ratios).toFixed(2)} over ${where}`);
  for (const side of ["A", "B"] as const) {
    console.log(
      `${side}: server CPU median ${median(cpu[side].server).toFixed(0)} us per request, reader ${median(cpu[side].reader).toFixed(0)} us`,
    );
  }
  if (buy) console.log(`p50 B - A median ${median(differences).toFixed(2)} ms over ${where}`);
} finally {
  for (const server of servers) await server.stop();
  await emulator.stop();
  for (const database of databases) await database.drop().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
