import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { createTestDatabase, type TestDatabase } from "../tests/support/pg-database";
import { WEBHOOK_SECRET } from "../tests/support/test-env";
import { checkpoint, copyDatabase, seedCheckouts } from "./lib/fixtures";
import { runLoad } from "./lib/load";
import { copyToPostgres, type Server, startApp, startEmulator } from "./lib/procs";

/**
 * Two builds of the app side by side, on the same machine at the same time:
 * webhook ingest at 32 connections (or BENCH_AB_CONNECTIONS), the two alternating who goes first over
 * several rounds, each on its own copy of the same fixture. On a shared,
 * busy machine the per-round ratio B/A holds better than either figure.
 *
 *   node --import tsx bench/ab-webhook.ts <dirA> <dirB>      (each: server.js and build/, as BENCH_APP_DIR)
 *   BENCH_AB_DB=postgres  the same with DATABASE_URL (TEST_DATABASE_URL's server, a database per side, dropped after)
 *   BENCH_AB_ROUNDS=4 BENCH_AB_EVENTS=1500 BENCH_AB_WARMUP=300 BENCH_AB_CONNECTIONS=32
 */

const [dirA, dirB] = process.argv.slice(2).map((d) => path.resolve(d));
if (!dirA || !dirB) throw new Error("usage: bench/ab-webhook.ts <dirA> <dirB>");
const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 4);
const events = Number(process.env.BENCH_AB_EVENTS ?? 1_500);
const warmup = Number(process.env.BENCH_AB_WARMUP ?? 300);
const postgres = process.env.BENCH_AB_DB === "postgres";
const connections = Number(process.env.BENCH_AB_CONNECTIONS ?? 32);
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
  const start = async (appDir: string, side: string) => {
    const databasePath = path.join(tmp, `${side}.db`);
    copyDatabase(base, databasePath);
    if (!postgres) return startApp({ appDir, databasePath, stripeApiBase: emulator.url });
    const database = await createTestDatabase(`bench_ab_${side}`, { migrated: false });
    databases.push(database);
    copyToPostgres(base, database.url);
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
    const got: Record<string, { rps: number; p50: number; p99: number; ok: boolean }> = {};
    for (const [side, server] of order) {
      const { measured } = await runLoad({
        kind: "webhook",
        url: server.url,
        connections,
        warmup,
        amount: events,
        from: r * perRound,
        secret: WEBHOOK_SECRET,
      });
      const ok = Object.keys(measured.status).every((code) => code.startsWith("2")) && measured.errors === 0;
      got[side] = { rps: measured.rps, p50: measured.latency.p50, p99: measured.latency.p99, ok };
    }
    const ratio = got.B!.rps / got.A!.rps;
    ratios.push(ratio);
    console.log(
      `round ${r + 1} (load ${os.loadavg()[0]!.toFixed(1)}): A ${got.A!.rps.toFixed(0)}/s p50 ${got.A!.p50.toFixed(2)} p99 ${got.A!.p99.toFixed(2)} ms${got.A!.ok ? "" : " NOT all 2xx"}; B ${got.B!.rps.toFixed(0)}/s p50 ${got.B!.p50.toFixed(2)} p99 ${got.B!.p99.toFixed(2)} ms${got.B!.ok ? "" : " NOT all 2xx"}; B/A ${ratio.toFixed(2)}`,
    );
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  console.log(`B/A median ${median.toFixed(2)} over ${rounds} rounds (${postgres ? "PostgreSQL" : "SQLite"})`);
} finally {
  for (const server of servers) await server.stop();
  await emulator.stop();
  for (const database of databases) await database.drop().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
