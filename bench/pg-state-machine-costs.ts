import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import pg from "pg";

import { createTestDatabase } from "../tests/support/pg-database";
import { completedEvent, seedCheckouts } from "./lib/fixtures";
import { copyToPostgres } from "./lib/procs";

/**
 * The state machine on PostgreSQL without HTTP: `processStripeEvent` (the code
 * the webhook route calls) in-process, against a fresh database holding the
 * fixture. Per first completion: the statements sent (each a round trip), the
 * wall time one at a time, and the wall and Node CPU time with 10 at a time
 * (the pool's size, as under load); beside the baseline's BEGIN/INSERT/COMMIT.
 *   BENCH_BASE_DB=<a migrated, catalog-seeded SQLite file> TEST_DATABASE_URL=... node --import tsx bench/pg-state-machine-costs.ts 2000
 *   BENCH_PG_TRACE=1   also print, on stderr, how many of each statement (its first 40 characters) the 10-at-a-time pass sent
 */

const N = Number(process.argv[2] ?? 2000);
const base = process.env.BENCH_BASE_DB;
if (!base) throw new Error("BENCH_BASE_DB is required (a migrated, catalog-seeded SQLite file)");
const PHASES = 4;
const dir = mkdtempSync(path.join(os.tmpdir(), "shop-bench-pgsm-"));
const file = path.join(dir, "app.db");
copyFileSync(base, file);
seedCheckouts(file, { count: PHASES * N, kind: "open" });
const database = await createTestDatabase("bench_pg_sm", { migrated: false });
copyToPostgres(file, database.url);

// Every statement node-postgres sends, counted where it is sent.
let statements = 0;
const traced = new Map<string, number>();
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  statements++;
  if (process.env.BENCH_PG_TRACE) {
    const a = args[0] as { text?: string } | string;
    const k = (typeof a === "string" ? a : (a?.text ?? "")).slice(0, 40);
    traced.set(k, (traced.get(k) ?? 0) + 1);
  }
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

process.env.DATABASE_URL = database.url;
process.env.DATABASE_POOL_MAX = "10";
process.env.NODE_ENV = "test";
const { processStripeEvent } = await import("../app/lib/checkout.server");
const { handle } = await import("../app/lib/db.server");
if (handle.dialect !== "postgres") throw new Error("DATABASE_URL did not select PostgreSQL");
console.info = () => {};

const events = Array.from({ length: PHASES * N }, (_, i) => {
  const payload = completedEvent(i);
  return { payload, event: JSON.parse(payload) as Parameters<typeof processStripeEvent>[0] };
});
let phase = 0;
const next = () => events.slice(phase * N, ++phase * N);

async function time(run: () => Promise<unknown>) {
  const cpu = process.cpuUsage();
  const sent = statements;
  const t0 = process.hrtime.bigint();
  await run();
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / N;
  const used = process.cpuUsage(cpu);
  return {
    wallUs: Math.round(wallUs),
    cpuUs: Math.round((used.user + used.system) / N),
    statements: Number(((statements - sent) / N).toFixed(2)),
  };
}
const check = (result: { fulfilled: boolean }) => {
  if (!result.fulfilled) throw new Error("an event did not fulfill its checkout");
};
const oneByOne = async (list: typeof events) => {
  for (const { event, payload } of list) check(await processStripeEvent(event, { payload }));
};
const tenAtATime = async (list: typeof events) => {
  let i = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (i < list.length) {
        const { event, payload } = list[i++]!;
        check(await processStripeEvent(event, { payload }));
      }
    }),
  );
};

await oneByOne(next());
const one = await time(() => oneByOne(next()));
traced.clear();
const ten = await time(() => tenAtATime(next()));
if (process.env.BENCH_PG_TRACE) console.error(traced);
// The same events again: every one a duplicate.
const duplicate = await time(async () => {
  let i = 0;
  const list = events.slice(N, 2 * N);
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (i < list.length) {
        const { event, payload } = list[i++]!;
        if (!(await processStripeEvent(event, { payload })).duplicate)
          throw new Error("a redelivery was not a duplicate");
      }
    }),
  );
});

// The baseline's durable work on its own table in the same database.
const pool = new pg.Pool({ connectionString: database.url, max: 10 });
await pool.query(
  "CREATE TABLE baseline_events (id text PRIMARY KEY, type text NOT NULL, created bigint NOT NULL, livemode boolean NOT NULL, payload text NOT NULL, received_at bigint NOT NULL)",
);
const store = async ({ event, payload }: (typeof events)[number]) => {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("INSERT INTO baseline_events VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING", [
      event.id,
      event.type,
      event.created,
      event.livemode,
      payload,
      Date.now(),
    ]);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
};
const rest = next();
const baselineTen = await time(async () => {
  let i = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (i < rest.length) await store(rest[i++]!);
    }),
  );
});
await pool.end();
await handle.close?.();
await database.drop();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ events: N, oneAtATime: one, tenAtATime: ten, duplicateTenAtATime: duplicate, baselineTenAtATime: baselineTen })}\n`,
);
process.exit(0);
