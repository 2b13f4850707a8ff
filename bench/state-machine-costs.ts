import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";

import { completedEvent, seedCheckouts } from "./lib/fixtures";

/**
 * Where the webhook's database time goes, without HTTP: the state machine
 * (`processStripeEvent`, the same code the webhook route calls) in-process,
 * one event after another, against the baseline's single INSERT. Measures
 * the cost per event one at a time (one commit each, synchronous=FULL),
 * without the fsync (synchronous=OFF, here only), for a duplicate, and when
 * events arrive together and share commits (group commit, up to 64 per
 * commit); and the WAL pages written per event. Run by bench/run.ts:
 *   BENCH_BASE_DB=<a migrated, catalog-seeded file> node --import tsx bench/state-machine-costs.ts 2000
 */

const N = Number(process.argv[2] ?? 2000);
const base = process.env.BENCH_BASE_DB;
if (!base) throw new Error("BENCH_BASE_DB is required (bench/run.ts passes the base database)");

const dir = mkdtempSync(path.join(os.tmpdir(), "shop-bench-sm-"));
const file = path.join(dir, "app.db");
copyFileSync(base, file);
const PHASES = 6;
seedCheckouts(file, { count: PHASES * N, kind: "open" });

process.env.DATABASE_PATH = file;
process.env.NODE_ENV = "test";
const { processStripeEvent } = await import("../app/lib/checkout.server");
const { handle } = await import("../app/lib/db.server");
if (handle.dialect !== "sqlite") throw new Error("state-machine-costs measures SQLite: unset DATABASE_URL");
const { sqlite } = handle;
console.info = () => {}; // the route's log lines are measured over HTTP, not here

const events = Array.from({ length: PHASES * N }, (_, i) => {
  const payload = completedEvent(i);
  return { payload, event: JSON.parse(payload) as Parameters<typeof processStripeEvent>[0] };
});
let phase = 0;
const next = () => events.slice(phase * N, ++phase * N);

async function time(run: () => unknown) {
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run();
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / N;
  const used = process.cpuUsage(cpu);
  return { wallUs: Math.round(wallUs), cpuUs: Math.round((used.user + used.system) / N) };
}

async function walFrames(db: Database.Database, run: () => unknown) {
  db.pragma("wal_checkpoint(TRUNCATE)");
  const before = db.pragma("wal_autocheckpoint", { simple: true }) as number;
  db.pragma("wal_autocheckpoint = 0");
  await run();
  const [result] = db.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
  db.pragma(`wal_autocheckpoint = ${before}`);
  return Number(((result?.log ?? 0) / N).toFixed(1));
}

// One at a time, each awaited: one event per commit, as at one connection.
const oneByOne = async (list: typeof events) => {
  for (const { event, payload } of list) {
    const result = await processStripeEvent(event, { payload });
    if (!result.fulfilled) throw new Error("an event did not fulfill its checkout");
  }
};
// All at once: the state machine's group commit puts up to 64 in one commit,
// as when deliveries arrive together (docs/decisions/180-group-commit-on-sqlite.md).
const together = async (list: typeof events) => {
  for (const result of await Promise.all(list.map(({ event, payload }) => processStripeEvent(event, { payload })))) {
    if (!result.fulfilled) throw new Error("an event did not fulfill its checkout");
  }
};

// Warm the code paths (and the statements) before timing anything.
await oneByOne(next());
const shipped = await time(() => oneByOne(next()));
const framesApp = await walFrames(sqlite, () => oneByOne(next()));
sqlite.pragma("synchronous = OFF");
const noFsync = await time(() => oneByOne(next()));
sqlite.pragma("synchronous = FULL");
const duplicates = await time(() =>
  Promise.all(events.slice(0, N).map(({ event, payload }) => processStripeEvent(event, { payload }))),
);
const batch = next();
const grouped = await time(() => together(batch.slice(0, N / 2)));
const framesGrouped = await walFrames(sqlite, () => together(batch.slice(N / 2)));
const remaining = next();

// The baseline's durable work: one INSERT OR IGNORE, same pragmas.
const baselineDb = new Database(path.join(dir, "baseline.db"));
baselineDb.pragma("journal_mode = WAL");
baselineDb.pragma("synchronous = FULL");
baselineDb.exec(
  "CREATE TABLE stripe_events (id TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, created INTEGER NOT NULL, livemode INTEGER NOT NULL, payload TEXT NOT NULL, received_at INTEGER NOT NULL)",
);
const insert = baselineDb.prepare("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?, ?, ?, ?)");
const insertAll = (list: typeof events) => {
  for (const { event, payload } of list)
    insert.run(event.id, event.type, event.created, event.livemode ? 1 : 0, payload, Date.now());
};
insertAll(remaining.slice(0, 200));
const baseline = await time(() => insertAll(events.slice(0, N)));
const framesBaseline = await walFrames(baselineDb, () => insertAll(events.slice(N, 2 * N)));
baselineDb.close();
sqlite.close();
rmSync(dir, { recursive: true, force: true });

process.stdout.write(
  `${JSON.stringify({
    events: N,
    stateMachine: {
      shipped,
      withoutFsync: noFsync,
      duplicate: duplicates,
      groupCommit: grouped,
      walPagesPerEvent: framesApp,
      walPagesPerEventGrouped: framesGrouped,
    },
    baselineInsert: { shipped: baseline, walPagesPerEvent: framesBaseline },
  })}\n`,
);
