// The PostgreSQL webhook baseline: bench/baseline-webhook-server.mjs with `pg`
// in place of better-sqlite3. Read the body, verify the signature with the
// SDK's constructEvent, then BEGIN / INSERT ... ON CONFLICT DO NOTHING / COMMIT
// on one pooled client (the app's pool size, synchronous_commit on), answer 200
// after the commit. No framework, no logging, no state machine.
//   PORT=3001 DATABASE_URL=postgres://... DATABASE_POOL_MAX=10 STRIPE_WEBHOOK_SECRET=whsec_... node bench/baseline-webhook-server-pg.mjs
import http from "node:http";

import pg from "pg";
import Stripe from "stripe";

const port = Number(process.env.PORT ?? 3001);
const secret = process.env.STRIPE_WEBHOOK_SECRET ?? "";
const url = process.env.DATABASE_URL ?? "";
if (!secret.startsWith("whsec_") || !url.startsWith("postgres")) {
  console.error("baseline: STRIPE_WEBHOOK_SECRET (whsec_...) and DATABASE_URL (postgres://...) are required");
  process.exit(1);
}

const pool = new pg.Pool({ connectionString: url, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
pool.on("error", () => {});
await pool.query(`CREATE TABLE IF NOT EXISTS baseline_events (
  id text PRIMARY KEY,
  type text NOT NULL,
  created bigint NOT NULL,
  livemode boolean NOT NULL,
  payload text NOT NULL,
  received_at bigint NOT NULL
)`);
const durability = (await pool.query("SHOW synchronous_commit")).rows[0].synchronous_commit;
if (durability !== "on") {
  console.error(`baseline: synchronous_commit is ${durability}; the baseline must be durable`);
  process.exit(1);
}

const stripe = new Stripe("sk_test_baseline_not_used", { telemetry: false });

async function store(event, body) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      "INSERT INTO baseline_events (id, type, created, livemode, payload, received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
      [event.id, event.type, event.created, event.livemode, body, Date.now()],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = stripe.webhooks.constructEvent(body, req.headers["stripe-signature"] ?? "", secret);
    } catch {
      res.writeHead(400, { "Content-Type": "text/plain" }).end("bad signature\n");
      return;
    }
    store(event, body).then(
      () => res.writeHead(200, { "Content-Type": "application/json" }).end('{"received":true}'),
      () => res.writeHead(503, { "Content-Type": "text/plain" }).end("not stored\n"),
    );
  });
});

server.keepAliveTimeout = 5_000;
server.listen(port, "127.0.0.1", () => {
  console.log(`baseline listening on http://127.0.0.1:${server.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    pool.end().finally(() => process.exit(0));
  });
}
