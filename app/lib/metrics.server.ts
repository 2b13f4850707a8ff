import { timingSafeEqual } from "node:crypto";
import { count, eq, isNotNull, min, sql } from "drizzle-orm";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

import { config } from "./config.server";
import { db, schema } from "./db.server";
import { JOB_STATES } from "./jobs/types";
import { onGroupCommit } from "./orders/commits";
import { handledEvent } from "./orders/events";
import { getCheckpoint } from "./reconcile.server";
import { unresolvedWebhookFailures } from "./webhook-failures.server";

/**
 * The numbers /metrics serves (Prometheus text, prom-client). Counters are
 * this process's; what the database holds (orders by state, fulfillments,
 * flags, the checkpoint) is queried at scrape time, so every instance reports
 * the same truth. Labels come from closed sets only: handled event types
 * (else "other"), route ids (never raw paths), status codes.
 * docs/decisions/143-metrics.md
 */

const globalForMetrics = globalThis as unknown as { __shopMetrics?: ReturnType<typeof createMetrics> };

function createMetrics() {
  const registry = new Registry();
  const { checkoutSessions, jobs } = schema;

  const webhookDeliveries = new Counter({
    name: "shop_webhook_deliveries_total",
    help: "Webhook deliveries by event type (handled types, else other) and outcome.",
    labelNames: ["type", "outcome"] as const,
    registers: [registry],
  });
  const webhookSeconds = new Histogram({
    name: "shop_webhook_handling_seconds",
    help: "Time from a verified webhook body to the answer, by outcome.",
    labelNames: ["outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const eventsPerCommit = new Histogram({
    name: "shop_webhook_events_per_commit",
    help: "Stripe events stored per commit of the state machine (group commit).",
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });
  onGroupCommit((events) => eventsPerCommit.observe(events));
  const httpRequests = new Counter({
    name: "shop_http_requests_total",
    help: "HTTP requests answered, by route id and status code.",
    labelNames: ["route", "method", "status"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "shop_orders",
    help: "Orders (checkout sessions) by status and payment status, from the database at scrape time.",
    labelNames: ["status", "payment_status"] as const,
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ status: checkoutSessions.status, paymentStatus: checkoutSessions.paymentStatus, n: count() })
        .from(checkoutSessions)
        .groupBy(checkoutSessions.status, checkoutSessions.paymentStatus);
      this.reset();
      for (const row of rows) this.set({ status: row.status, payment_status: row.paymentStatus }, Number(row.n));
    },
  });
  new Gauge({
    name: "shop_orders_fulfilled",
    help: "Orders fulfilled (fulfilled_at set, once per order), from the database at scrape time.",
    registers: [registry],
    async collect() {
      const [row] = await db
        .select({ n: count() })
        .from(checkoutSessions)
        .where(isNotNull(checkoutSessions.fulfilledAt));
      this.set(Number(row?.n ?? 0));
    },
  });
  new Gauge({
    name: "shop_orders_flagged",
    help: "Orders flagged for the operator (not fulfilled, with a reason), from the database at scrape time.",
    registers: [registry],
    async collect() {
      const [row] = await db
        .select({ n: count() })
        .from(checkoutSessions)
        .where(sql`${checkoutSessions.flag} is not null`);
      this.set(Number(row?.n ?? 0));
    },
  });
  new Gauge({
    name: "shop_jobs",
    help: "Jobs by state (pending, running, done, dead), from the database at scrape time.",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const rows = await db.select({ state: jobs.state, n: count() }).from(jobs).groupBy(jobs.state);
      // Every state is reported, 0 included, so an alert on dead jobs has a series to read.
      for (const state of JOB_STATES) this.set({ state }, Number(rows.find((row) => row.state === state)?.n ?? 0));
    },
  });
  new Gauge({
    name: "shop_jobs_oldest_pending_age_seconds",
    help: "Seconds since the oldest pending job was created; 0 when none is pending.",
    registers: [registry],
    async collect() {
      const [row] = await db
        .select({ oldest: min(jobs.createdAt) })
        .from(jobs)
        .where(eq(jobs.state, "pending"));
      const oldest = row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
      this.set(oldest === null ? 0 : Math.max(0, Math.floor((Date.now() - oldest) / 1000)));
    },
  });
  new Gauge({
    name: "shop_webhook_failures_unresolved",
    help: "Verified webhook events answered 5xx that no later delivery has stored yet, from the database at scrape time.",
    registers: [registry],
    async collect() {
      this.set(await unresolvedWebhookFailures());
    },
  });
  new Gauge({
    name: "shop_reconcile_checkpoint_age_seconds",
    help: "Seconds since the reconcile checkpoint (the newest event up to which a run applied everything); -1 before the first run.",
    registers: [registry],
    async collect() {
      const checkpoint = await getCheckpoint();
      this.set(checkpoint === null ? -1 : Math.max(0, Math.floor(Date.now() / 1000) - checkpoint));
    },
  });
  return { registry, webhookDeliveries, webhookSeconds, httpRequests };
}

const metrics = (globalForMetrics.__shopMetrics ??= createMetrics());

export type WebhookOutcome = "stored" | "duplicate" | "rejected" | "failed";

/** One webhook delivery: its type (bounded to the registry) and what the shop answered. */
export function recordWebhook(type: string | null, outcome: WebhookOutcome, seconds?: number) {
  const label = type !== null && handledEvent(type) ? type : "other";
  metrics.webhookDeliveries.inc({ type: label, outcome });
  if (seconds !== undefined) metrics.webhookSeconds.observe({ outcome }, seconds);
}

const METHODS = new Set(["GET", "HEAD", "POST"]);

/** One answered HTTP request (server.js calls this once per response). */
export function recordHttpRequest(routeId: string | null, method: string, status: number) {
  metrics.httpRequests.inc({
    route: routeId ?? "none",
    method: METHODS.has(method) ? method : "other",
    status: String(Math.trunc(status) || 0),
  });
}

export type MetricsAnswer = { status: 200; body: string; contentType: string } | { status: 401 | 404; body: string };

/** GET /metrics: 404 when METRICS_TOKEN is unset, 401 without `Authorization: Bearer <token>`. */
export async function scrape(authorization: string | null): Promise<MetricsAnswer> {
  const token = config.metricsToken;
  if (!token) return { status: 404, body: "Not found." };
  const given = Buffer.from(/^Bearer (.+)$/.exec(authorization ?? "")?.[1] ?? "");
  const expected = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { status: 401, body: "A bearer token is required." };
  }
  return { status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
}
