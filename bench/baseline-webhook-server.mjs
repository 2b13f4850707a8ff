// The webhook baseline: only what a durable, verified webhook cannot skip.
// Read the body, verify the signature with the Stripe SDK's constructEvent,
// insert one row (INSERT OR IGNORE) with better-sqlite3 under the app's
// pragmas (WAL, synchronous=FULL, busy_timeout, foreign_keys), answer 200
// after the commit. No framework, no logging, no state machine.
//   PORT=3001 DATABASE_PATH=/tmp/base.db STRIPE_WEBHOOK_SECRET=whsec_... node bench/baseline-webhook-server.mjs
import http from "node:http";

import Database from "better-sqlite3";
import Stripe from "stripe";

const port = Number(process.env.PORT ?? 3001);
const secret = process.env.STRIPE_WEBHOOK_SECRET ?? "";
const databasePath = process.env.DATABASE_PATH ?? "";
if (!secret.startsWith("whsec_") || !databasePath) {
  console.error("baseline: STRIPE_WEBHOOK_SECRET (whsec_...) and DATABASE_PATH are required");
  process.exit(1);
}

const db = new Database(databasePath);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");
db.pragma("foreign_keys = ON");
db.exec(`CREATE TABLE IF NOT EXISTS stripe_events (
  id TEXT PRIMARY KEY NOT NULL,
  type TEXT NOT NULL,
  created INTEGER NOT NULL,
  livemode INTEGER NOT NULL,
  payload TEXT NOT NULL,
  received_at INTEGER NOT NULL
)`);
const insert = db.prepare(
  "INSERT OR IGNORE INTO stripe_events (id, type, created, livemode, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)",
);

const stripe = new Stripe("sk_test_baseline_not_used", { telemetry: false });

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
    try {
      insert.run(event.id, event.type, event.created, event.livemode ? 1 : 0, body, Date.now());
    } catch {
      res.writeHead(500, { "Content-Type": "text/plain" }).end("not stored\n");
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end('{"received":true}');
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
    db.close();
    process.exit(0);
  });
}
