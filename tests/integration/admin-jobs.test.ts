import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { processStripeEvent } from "~/lib/checkout.server";
import { config } from "~/lib/config.server";
import { scrape } from "~/lib/metrics.server";
import { upsertOperator } from "~/lib/operators.server";
import * as jobsPage from "~/routes/admin.jobs";
import * as orderPage from "~/routes/admin.orders.$id";
import { db, schema, snapshot } from "../support/db";
import { cookieFrom, formRequest, getRequest, settle } from "../support/http";
import { CHECKOUT_EVENT, sessionFor, stripeEvent, storeCheckout } from "../support/stripe-fixtures";
import * as loginPage from "~/routes/admin.login";
import { resetData } from "./success-support";

/** /admin/jobs (dead jobs and their retry), the order timeline's jobs, and the jobs metrics. */

const EMAIL = "ops-jobs@example.com";
const PASSWORD = "correct horse battery staple";

type Args = { request: Request; params: Record<string, string>; context: Record<string, unknown> };
type Handler = (args: Args) => Promise<unknown>;

const call = (handler: Handler, request: Request, params: Record<string, string> = {}) =>
  settle(() => handler({ request, params, context: { clientAddress: "10.0.0.2" } }));

async function signInCookie() {
  const response = await call(loginPage.action, formRequest("/admin/login", { email: EMAIL, password: PASSWORD }));
  expect(response.status).toBe(303);
  return cookieFrom(response)!;
}

let seq = 0;
async function insertJob(state: "pending" | "running" | "done" | "dead", extra: { createdAt?: number } = {}) {
  const now = Date.now();
  const createdAt = extra.createdAt ?? now;
  const [row] = await db
    .insert(schema.jobs)
    .values({
      key: `test.job:${state}:${++seq}:${now}`,
      kind: "order.paid",
      payload: JSON.stringify({ checkoutId: `cs_test_none_${seq}` }),
      state,
      attempts: state === "dead" ? 8 : state === "pending" ? 0 : 1,
      runAfter: createdAt,
      lastError: state === "dead" ? `SMTP 550 mailbox unavailable (${seq})` : null,
      createdAt,
      updatedAt: now,
    })
    .returning({ id: schema.jobs.id });
  return row!.id;
}

const jobRow = async (id: number) => (await db.select().from(schema.jobs).where(eq(schema.jobs.id, id)))[0]!;

type PageData = {
  counts: { state: string; n: number }[];
  dead: { id: number; kind: string; key: string; attempts: number; lastError: string | null }[];
};
async function page(cookie: string) {
  const response = await call(jobsPage.loader, getRequest("/admin/jobs", { cookie }));
  expect(response.status).toBe(200);
  return (await response.json()) as PageData;
}
const post = (cookie: string | null, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  call(jobsPage.action, formRequest("/admin/jobs", fields, { cookie, headers }));

beforeEach(async () => {
  await resetData();
  await db.delete(schema.jobs);
  await db.delete(schema.rateLimits);
  await db.delete(schema.operatorSessions);
  await db.delete(schema.operators);
  await upsertOperator(EMAIL, PASSWORD);
});

describe("/admin/jobs", () => {
  it("without a session, the page and its action send the browser to the sign-in page, changing nothing", async () => {
    const dead = await insertJob("dead");
    const get = await call(jobsPage.loader, getRequest("/admin/jobs"));
    expect(get.status).toBe(303);
    expect(get.headers.get("Location")).toBe("/admin/login");
    const retry = await post(null, { intent: "retry", id: String(dead) });
    expect(retry.status).toBe(303);
    expect(retry.headers.get("Location")).toBe("/admin/login");
    expect((await jobRow(dead)).state).toBe("dead");
  });

  it("a cross-site post is refused with 403 and nothing changes", async () => {
    const cookie = await signInCookie();
    const dead = await insertJob("dead");
    const before = await snapshot();
    const crossSite = { "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" };
    const forms: Record<string, string>[] = [{ intent: "retry", id: String(dead) }, { intent: "retry-all" }];
    for (const fields of forms) {
      expect((await post(cookie, fields, crossSite)).status).toBe(403);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("lists counts by state and each dead job with its kind, key, attempts and last error", async () => {
    const cookie = await signInCookie();
    const dead = await insertJob("dead");
    await insertJob("pending");
    await insertJob("done");
    await insertJob("done");
    const data = await page(cookie);
    expect(data.counts).toEqual([
      { state: "pending", n: 1 },
      { state: "running", n: 0 },
      { state: "done", n: 2 },
      { state: "dead", n: 1 },
    ]);
    const row = await jobRow(dead);
    expect(data.dead).toHaveLength(1);
    expect(data.dead[0]).toMatchObject({
      id: dead,
      kind: "order.paid",
      key: row.key,
      attempts: 8,
      lastError: row.lastError,
    });
    expect(data.dead[0]!.lastError).toMatch(/^SMTP 550 mailbox unavailable/);
  });

  it("Retry makes one dead job pending again with attempts from zero, and 303s back", async () => {
    const cookie = await signInCookie();
    const dead = await insertJob("dead");
    const other = await insertJob("dead");
    const response = await post(cookie, { intent: "retry", id: String(dead) });
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/admin/jobs?retried=1");
    const row = await jobRow(dead);
    expect(row.state).toBe("pending");
    expect(row.attempts).toBe(0);
    expect(row.runAfter).toBeLessThanOrEqual(Date.now());
    expect((await jobRow(other)).state).toBe("dead");
    expect((await page(cookie)).dead.map((job) => job.id)).toEqual([other]);
  });

  it("Retry all dead requeues every dead job and nothing else", async () => {
    const cookie = await signInCookie();
    const deadOnes = [await insertJob("dead"), await insertJob("dead"), await insertJob("dead")];
    const done = await insertJob("done");
    const response = await post(cookie, { intent: "retry-all" });
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/admin/jobs?retried=3");
    for (const id of deadOnes) expect((await jobRow(id)).state).toBe("pending");
    expect((await jobRow(done)).state).toBe("done");
    expect((await page(cookie)).dead).toEqual([]);
  });

  it("an unknown, malformed or not-dead job id: a clear 4xx message, nothing changed", async () => {
    const cookie = await signInCookie();
    await insertJob("dead");
    const done = await insertJob("done");
    const before = await snapshot();
    const unknown = await post(cookie, { intent: "retry", id: "999999" });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe("No job #999999.");
    const notDead = await post(cookie, { intent: "retry", id: String(done) });
    expect(notDead.status).toBe(409);
    expect(await notDead.text()).toBe(`Job #${done} is done, not dead: nothing to retry.`);
    const malformed = await post(cookie, { intent: "retry", id: "1; drop table jobs" });
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toMatch(/job id/);
    expect((await post(cookie, { intent: "explode" })).status).toBe(400);
    expect(await snapshot()).toEqual(before);
  });
});

describe("the order timeline", () => {
  it("lists the order's order.paid job with its state and attempts", async () => {
    const cookie = await signInCookie();
    const checkout = await storeCheckout(db);
    const unrelated = await storeCheckout(db);
    for (const c of [checkout, unrelated]) {
      const event = stripeEvent(CHECKOUT_EVENT.completed, sessionFor(c, "paid"));
      await processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
    }
    await db
      .update(schema.jobs)
      .set({ state: "dead", attempts: 8, lastError: "SMTP down" })
      .where(eq(schema.jobs.key, `order.paid:${checkout.id}`));
    const response = await call(orderPage.loader, getRequest(`/admin/orders/${checkout.id}`, { cookie }), {
      id: checkout.id,
    });
    expect(response.status).toBe(200);
    const data = (await response.json()) as {
      order: { jobs: { kind: string; key: string; state: string; attempts: number; lastError: string | null }[] };
    };
    expect(data.order.jobs).toEqual([
      expect.objectContaining({
        kind: "order.paid",
        key: `order.paid:${checkout.id}`,
        state: "dead",
        attempts: 8,
        lastError: "SMTP down",
      }),
    ]);
  });
});

describe("jobs metrics", () => {
  const TOKEN = "metrics-token-for-jobs-tests-0123456789";
  const saved = config.metricsToken;
  afterEach(() => {
    config.metricsToken = saved;
  });

  const sample = (text: string, series: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it("reports jobs by state and the oldest pending job's age, 0 when none is pending", async () => {
    config.metricsToken = TOKEN;
    const read = async () => {
      const answer = await scrape(`Bearer ${TOKEN}`);
      expect(answer.status).toBe(200);
      return answer.body;
    };
    const empty = await read();
    for (const state of ["pending", "running", "done", "dead"]) {
      expect(sample(empty, `shop_jobs{state="${state}"}`), state).toBe(0);
    }
    expect(sample(empty, "shop_jobs_oldest_pending_age_seconds")).toBe(0);

    const now = Date.now();
    await insertJob("pending", { createdAt: now - 600_000 });
    await insertJob("pending", { createdAt: now - 5_000 });
    await insertJob("running");
    await insertJob("dead");
    await insertJob("dead");
    await insertJob("dead");
    const text = await read();
    expect(sample(text, 'shop_jobs{state="pending"}')).toBe(2);
    expect(sample(text, 'shop_jobs{state="running"}')).toBe(1);
    expect(sample(text, 'shop_jobs{state="done"}')).toBe(0);
    expect(sample(text, 'shop_jobs{state="dead"}')).toBe(3);
    // The oldest is ten minutes old (a few seconds more if the run is slow).
    const age = sample(text, "shop_jobs_oldest_pending_age_seconds")!;
    expect(age).toBeGreaterThanOrEqual(600);
    expect(age).toBeLessThan(660);
  });
});
