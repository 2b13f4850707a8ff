import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { beforeEach, describe, expect, it } from "vitest";

import { applyCheckoutSession, processStripeEvent } from "~/lib/checkout.server";
import { acquireLease } from "~/lib/locks.server";
import { upsertOperator } from "~/lib/operators.server";
import { RECONCILE_JOB } from "~/lib/reconcile.server";
import { stripe } from "~/lib/stripe.server";
import * as catchAll from "~/routes/admin.$";
import * as ordersPage from "~/routes/admin._index";
import * as eventsPage from "~/routes/admin.events";
import * as jobsPage from "~/routes/admin.jobs";
import * as loginPage from "~/routes/admin.login";
import * as logoutRoute from "~/routes/admin.logout";
import * as orderPage from "~/routes/admin.orders.$id";
import * as refundPage from "~/routes/admin.orders.$id_.refund";
import * as reconcilePage from "~/routes/admin.reconcile";
import { db, query, schema, snapshot } from "../support/db";
import { cookieFrom, formRequest, getRequest, settle } from "../support/http";
import { buy, deliverWebhook, emu, eventFor, newShopper, resetData, tamper } from "./success-support";

/** The operator console: who gets in, the sign-in bound, cross-site posts, refunds through the emulator. */

const EMAIL = "ops@example.com";
const PASSWORD = "correct horse battery staple";

type Args = { request: Request; params: Record<string, string>; context: Record<string, unknown> };
type Handler = (args: Args) => Promise<unknown>;

function call(handler: Handler, request: Request, params: Record<string, string> = {}, address = "10.0.0.1") {
  return settle(() => handler({ request, params, context: { clientAddress: address } }));
}

async function signInCookie(email = EMAIL, password = PASSWORD, address = "10.0.0.1") {
  const response = await call(loginPage.action, formRequest("/admin/login", { email, password }), {}, address);
  expect(response.status).toBe(303);
  const cookie = cookieFrom(response);
  expect(cookie).toMatch(/^operator=/);
  return cookie!;
}

const ORDER = "cs_test_unknown0000000000";
/** Every admin page's loader, with the params its URL gives it. */
const PAGES: [string, Handler, Record<string, string>][] = [
  ["/admin", ordersPage.loader, {}],
  ["/admin/events", eventsPage.loader, {}],
  ["/admin/reconcile", reconcilePage.loader, {}],
  ["/admin/jobs", jobsPage.loader, {}],
  [`/admin/orders/${ORDER}`, orderPage.loader, { id: ORDER }],
  [`/admin/orders/${ORDER}/refund`, refundPage.loader, { id: ORDER }],
  ["/admin/logout", logoutRoute.loader, {}],
  ["/admin/anything/else", catchAll.loader, { "*": "anything/else" }],
];
/** Every admin action that needs a session (sign-in itself does not). */
const ACTIONS: [string, Handler, Record<string, string>, Record<string, string>][] = [
  ["/admin/reconcile", reconcilePage.action, {}, { intent: "run" }],
  ["/admin/jobs", jobsPage.action, {}, { intent: "retry-all" }],
  [`/admin/orders/${ORDER}/refund`, refundPage.action, { id: ORDER }, { amount: "100", token: "x.y" }],
  ["/admin/anything", catchAll.action, { "*": "anything" }, {}],
];

async function expectSignInPage(cookie: string | null) {
  for (const [path, loader, params] of PAGES) {
    const response = await call(loader, getRequest(path, { cookie }), params);
    expect(response.status, path).toBe(303);
    expect(response.headers.get("Location"), path).toBe("/admin/login");
  }
  for (const [path, action, params, fields] of ACTIONS) {
    const response = await call(action, formRequest(path, fields, { cookie }), params);
    expect(response.status, path).toBe(303);
    expect(response.headers.get("Location"), path).toBe("/admin/login");
  }
}

beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
  await resetData();
  await db.delete(schema.rateLimits);
  await db.delete(schema.operatorSessions);
  await db.delete(schema.operators);
  await upsertOperator(EMAIL, PASSWORD);
});

describe("access to /admin", () => {
  it("stores a scrypt hash with its salt and parameters, never the password", async () => {
    const [row] = await db.select().from(schema.operators).where(eq(schema.operators.email, EMAIL));
    expect(row!.passwordHash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[\w-]{22}\$[\w-]{43}$/);
    expect(row!.passwordHash).not.toContain(PASSWORD);
  });

  it("without a session, every page and action sends the browser to the sign-in page", async () => {
    await expectSignInPage(null);
  });

  it("a shopper's cookie gives nothing", async () => {
    await expectSignInPage(await newShopper());
  });

  it("a tampered operator cookie gives nothing", async () => {
    const cookie = await signInCookie();
    await expectSignInPage(tamper(cookie));
  });

  it("a session that ran out gives nothing", async () => {
    const cookie = await signInCookie();
    await db.update(schema.operatorSessions).set({ expiresAt: Date.now() - 1 });
    await expectSignInPage(cookie);
  });

  it("signing out ends the session: the same cookie gives nothing afterwards", async () => {
    const cookie = await signInCookie();
    const out = await call(logoutRoute.action, formRequest("/admin/logout", {}, { cookie }));
    expect(out.status).toBe(303);
    expect(out.headers.get("Set-Cookie")).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/);
    await expectSignInPage(cookie);
  });

  it("a password reset signs the operator out everywhere", async () => {
    const cookie = await signInCookie();
    expect((await call(ordersPage.loader, getRequest("/admin", { cookie }))).status).toBe(200);
    await upsertOperator(EMAIL, "another long password here");
    await expectSignInPage(cookie);
    await signInCookie(EMAIL, "another long password here");
  });

  it("a session opens every page; the cookie is HttpOnly, SameSite=Strict, hours long, new at each sign-in", async () => {
    const first = await call(loginPage.action, formRequest("/admin/login", { email: EMAIL, password: PASSWORD }));
    const header = first.headers.get("Set-Cookie")!;
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    const maxAge = Number(/Max-Age=(\d+)/.exec(header)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(12 * 3600);
    const cookie = cookieFrom(first)!;
    expect(await signInCookie()).not.toBe(cookie);
    for (const [path, loader, params] of PAGES.filter(
      ([p]) => !p.startsWith("/admin/orders") && !p.includes("/else"),
    )) {
      const response = await call(loader, getRequest(path, { cookie }), params);
      if (path === "/admin/logout") expect(response.headers.get("Location")).toBe("/admin");
      else expect(response.status, path).toBe(200);
    }
    expect((await call(orderPage.loader, getRequest(`/admin/orders/${ORDER}`, { cookie }), { id: ORDER })).status).toBe(
      404,
    );
    expect((await call(catchAll.loader, getRequest("/admin/nope", { cookie }), { "*": "nope" })).status).toBe(404);
  });
});

describe("sign-in", () => {
  it("a wrong password or an unknown address: 400 with one message, no cookie", async () => {
    for (const [email, password] of [
      [EMAIL, "wrong password, long enough"],
      ["nobody@example.com", PASSWORD],
    ]) {
      const response = await call(
        loginPage.action,
        formRequest("/admin/login", { email: email!, password: password! }),
      );
      expect(response.status).toBe(400);
      expect(response.headers.get("Set-Cookie")).toBeNull();
      expect(((await response.json()) as { error: string }).error).toMatch(/do not match/);
    }
  });

  it("guessing one account's password is answered 429 with Retry-After, even with the right one", async () => {
    for (let i = 0; i < 5; i++) {
      const response = await call(
        loginPage.action,
        formRequest("/admin/login", { email: EMAIL, password: `guess ${i} long enough` }),
        {},
        `10.0.1.${i}`,
      );
      expect(response.status).toBe(400);
    }
    const blocked = await call(
      loginPage.action,
      formRequest("/admin/login", { email: EMAIL, password: PASSWORD }),
      {},
      "10.0.2.1",
    );
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(blocked.headers.get("Set-Cookie")).toBeNull();
  });

  it("one address trying many accounts is answered 429", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) {
      const response = await call(
        loginPage.action,
        formRequest("/admin/login", { email: `user${i}@example.com`, password: "some password here" }),
        {},
        "10.9.9.9",
      );
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 20).every((s) => s === 400)).toBe(true);
    expect(statuses[20]).toBe(429);
    // Another address still signs in.
    await signInCookie(EMAIL, PASSWORD, "10.9.9.10");
  });
});

describe("cross-site posts", () => {
  it("every admin action refuses another site's form with 403 and changes nothing", async () => {
    const cookie = await signInCookie();
    const before = await snapshot();
    const crossSite = { "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" };
    const all: [string, Handler, Record<string, string>, Record<string, string>][] = [
      ...ACTIONS,
      ["/admin/login", loginPage.action, {}, { email: EMAIL, password: PASSWORD }],
      ["/admin/logout", logoutRoute.action, {}, {}],
    ];
    for (const [path, action, params, fields] of all) {
      if (action === catchAll.action) continue; // no form posts there; server.js refuses it first anyway
      const response = await call(action, formRequest(path, fields, { cookie, headers: crossSite }), params);
      expect(response.status, path).toBe(403);
      expect(response.headers.get("Set-Cookie"), path).toBeNull();
    }
    expect(await snapshot()).toEqual(before);
    expect(await emu.requestsTo("POST", "/v1/refunds")).toEqual([]);
  });
});

async function paidOrder() {
  const shopper = await newShopper();
  const id = await buy("ceramic-pour-over", shopper, 1);
  await emu.pay(id, "card", "buyer@example.com");
  await deliverWebhook(id);
  return id;
}

async function confirmPage(cookie: string, id: string, amount?: string) {
  const url = `/admin/orders/${id}/refund${amount === undefined ? "" : `?amount=${encodeURIComponent(amount)}`}`;
  const response = await call(refundPage.loader, getRequest(url, { cookie }), { id });
  return {
    response,
    data: (await response.json()) as { error: string | null; confirm: { amount: number; token: string } | null },
  };
}

async function stripeEventsOf(type: string): Promise<Stripe.Event[]> {
  const response = await fetch(`${emu.url}/v1/events?type=${encodeURIComponent(type)}&limit=100`, {
    headers: { Authorization: "Bearer sk_test_shop_tests_only" },
  });
  return ((await response.json()) as { data: Stripe.Event[] }).data;
}

describe("refunds from the console", () => {
  it("a double submit of one confirmed form refunds once; the order shows the refund when Stripe's event lands", async () => {
    const cookie = await signInCookie();
    const id = await paidOrder();
    const { data } = await confirmPage(cookie, id, "5.00");
    expect(data.error).toBeNull();
    expect(data.confirm!.amount).toBe(500);
    const submit = () =>
      call(
        refundPage.action,
        formRequest(`/admin/orders/${id}/refund`, { amount: "500", token: data.confirm!.token }, { cookie }),
        { id },
      );
    const [first, second] = await Promise.all([submit(), submit()]);
    expect(first.status).toBe(303);
    expect(second.status).toBe(303);
    expect(first.headers.get("Location")).toBe(second.headers.get("Location"));
    const refunds = (await emu.requestsTo("POST", "/v1/refunds")).length;
    expect(refunds).toBeGreaterThanOrEqual(1);
    const created = await stripeEventsOf("refund.created");
    expect(created).toHaveLength(1);

    // Nothing in the order changed until the news arrives.
    const order = () => call(orderPage.loader, getRequest(`/admin/orders/${id}`, { cookie }), { id });
    const before = (await (await order()).json()) as { order: { events: { type: string }[] } };
    expect(before.order.events.map((e) => e.type)).not.toContain("charge.refunded");
    for (const event of [...created, ...(await stripeEventsOf("charge.refunded"))]) {
      await processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
    }
    const after = (await (await order()).json()) as {
      order: {
        events: { type: string }[];
        stateInWords: string;
        changes: { changes: string[]; eventType: string | null }[];
      };
    };
    expect(after.order.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["refund.created", "charge.refunded"]),
    );
    expect(after.order.stateInWords).toMatch(/^Refunded \$5\.00 of /);
    // The refund's state change, by whichever of its events landed first.
    const refunded = after.order.changes.filter((c) => c.changes.includes("refunded: $0.00 → $5.00"));
    expect(refunded).toHaveLength(1);
    expect(["refund.created", "charge.refunded"]).toContain(refunded[0]!.eventType);
  });

  it("more than is left: a clear message on the confirm page and at submit, nothing sent to Stripe", async () => {
    const cookie = await signInCookie();
    const id = await paidOrder();
    const { response, data } = await confirmPage(cookie, id, "9999.00");
    expect(response.status).toBe(400);
    expect(data.error).toMatch(/more than is left to refund.*Nothing was sent/);
    expect(data.confirm).toBeNull();

    // A confirmed full refund, then a second confirmed form for the same amount.
    const full = await confirmPage(cookie, id);
    const again = await confirmPage(cookie, id);
    const post = (token: string, amount: number) =>
      call(
        refundPage.action,
        formRequest(`/admin/orders/${id}/refund`, { amount: String(amount), token }, { cookie }),
        {
          id,
        },
      );
    expect((await post(full.data.confirm!.token, full.data.confirm!.amount)).status).toBe(303);
    const sent = (await emu.requestsTo("POST", "/v1/refunds")).length;
    const late = await post(again.data.confirm!.token, again.data.confirm!.amount);
    expect(late.status).toBe(400);
    expect(((await late.json()) as { error: string }).error).toMatch(/already refunded in full/);
    expect((await emu.requestsTo("POST", "/v1/refunds")).length).toBe(sent);
  });

  it("a token for another amount or a forged one: 400, nothing sent", async () => {
    const cookie = await signInCookie();
    const id = await paidOrder();
    const { data } = await confirmPage(cookie, id, "1.00");
    for (const fields of [
      { amount: "200", token: data.confirm!.token },
      { amount: "100", token: "AAAAAAAAAAAAAAAAAAAAAAAA.forged" },
    ]) {
      const response = await call(refundPage.action, formRequest(`/admin/orders/${id}/refund`, fields, { cookie }), {
        id,
      });
      expect(response.status).toBe(400);
    }
    expect(await emu.requestsTo("POST", "/v1/refunds")).toEqual([]);
    expect(await query("SELECT id FROM stripe_events WHERE type LIKE 'refund%'")).toEqual([]);
  });
});

type Change = { at: number; changes: string[]; eventId: string | null; eventType: string | null; source: string };
const changesOf = async (cookie: string, id: string) =>
  (
    (await (await call(orderPage.loader, getRequest(`/admin/orders/${id}`, { cookie }), { id })).json()) as {
      order: { changes: Change[] };
    }
  ).order.changes;

describe("the order's state changes", () => {
  it("each change of state with its time and the event that made it; a duplicate event adds none", async () => {
    const cookie = await signInCookie();
    const id = await paidOrder();
    const completed = await eventFor(id, "checkout.session.completed");
    const [change] = await changesOf(cookie, id);
    expect(await changesOf(cookie, id)).toHaveLength(1);
    expect(change).toMatchObject({
      changes: ["status: open → complete", "payment: unpaid → paid", "fulfilled"],
      eventId: completed.id,
      eventType: "checkout.session.completed",
      source: "webhook",
    });
    expect(change!.at).toBeGreaterThan(0);

    expect((await deliverWebhook(id)).duplicate).toBe(true);
    expect(await changesOf(cookie, id)).toHaveLength(1);
  });

  it("a session the success page retrieved from Stripe: the change names the success page, no event", async () => {
    const cookie = await signInCookie();
    const id = await buy("ceramic-pour-over", await newShopper(), 1);
    expect(await changesOf(cookie, id)).toEqual([]);
    await emu.pay(id, "card", "buyer@example.com");
    await applyCheckoutSession(await stripe.checkout.sessions.retrieve(id));
    expect(await changesOf(cookie, id)).toEqual([
      expect.objectContaining({
        changes: ["status: open → complete", "payment: unpaid → paid", "fulfilled"],
        eventId: null,
        eventType: null,
        source: "success_page",
      }),
    ]);
    // The webhook arriving later finds nothing left to change.
    await deliverWebhook(id);
    expect(await changesOf(cookie, id)).toHaveLength(1);
  });
});

describe("the reconcile page", () => {
  type Status = { status: { lastRun: { ok: boolean; report: string[] } | null; lease: unknown } };
  const page = async (cookie: string) =>
    (await (await call(reconcilePage.loader, getRequest("/admin/reconcile", { cookie }))).json()) as Status;
  const runNow = (cookie: string) =>
    call(reconcilePage.action, formRequest("/admin/reconcile", { intent: "run" }, { cookie }));

  it("Run now runs once and the page shows its report; while another run holds the lease: 409, nothing started", async () => {
    const cookie = await signInCookie();
    await db.delete(schema.jobRuns);
    await db.delete(schema.jobLocks);
    expect((await page(cookie)).status.lastRun).toBeNull();

    const held = await acquireLease(RECONCILE_JOB, { ttlMs: 60_000, waitMs: 0 });
    try {
      const refused = await runNow(cookie);
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { lines: string[] }).lines[0]).toMatch(/holds the lease/);
      expect((await page(cookie)).status.lastRun).toBeNull();
      expect((await page(cookie)).status.lease).not.toBeNull();
    } finally {
      await held.release();
    }

    const ran = await runNow(cookie);
    expect(ran.status).toBe(200);
    const { lines } = (await ran.json()) as { lines: string[] };
    expect((await page(cookie)).status.lastRun).toEqual({ ok: true, report: lines, finishedAt: expect.any(Number) });
    expect(lines.length).toBeGreaterThan(0);
  });
});

describe("pages", () => {
  it("webhook events: the failed deliveries, still failing first, then resolved once the event is stored", async () => {
    const cookie = await signInCookie();
    const id = await paidOrder();
    const stored = await eventFor(id, "checkout.session.completed");
    await db.delete(schema.webhookFailures);
    await db.insert(schema.webhookFailures).values([
      { eventId: stored.id, type: stored.type, error: "SQLITE_BUSY", count: 2, firstAt: 1, lastAt: 3 },
      { eventId: "evt_test_still_failing", type: "charge.refunded", error: "Error", count: 1, firstAt: 1, lastAt: 2 },
    ]);
    const response = await call(eventsPage.loader, getRequest("/admin/events", { cookie }));
    expect(response.status).toBe(200);
    const { failures } = (await response.json()) as {
      failures: { eventId: string; error: string; count: number; resolvedAt: number | null }[];
    };
    expect(failures).toEqual([
      expect.objectContaining({ eventId: "evt_test_still_failing", error: "Error", count: 1, resolvedAt: null }),
      expect.objectContaining({ eventId: stored.id, error: "SQLITE_BUSY", count: 2, resolvedAt: expect.any(Number) }),
    ]);
  });

  it("orders: found by id, email and state, flagged first with the reason", async () => {
    const cookie = await signInCookie();
    const paid = await paidOrder();
    const other = await buy("ceramic-pour-over", await newShopper(), 1);
    await db
      .update(schema.checkoutSessions)
      .set({ flag: "amount differs" })
      .where(eq(schema.checkoutSessions.id, other));
    const list = async (search: string) =>
      (
        (await (await call(ordersPage.loader, getRequest(`/admin?${search}`, { cookie }))).json()) as {
          orders: { id: string; flag: string | null }[];
        }
      ).orders;
    expect((await list("")).map((o) => o.id)).toEqual([other, paid]);
    expect((await list("")).at(0)!.flag).toBe("amount differs");
    expect((await list(`q=${paid}`)).map((o) => o.id)).toEqual([paid]);
    expect((await list("q=BUYER%40example.com")).map((o) => o.id)).toEqual([paid]);
    expect((await list("state=paid")).map((o) => o.id)).toEqual([paid]);
    expect((await list("state=flagged")).map((o) => o.id)).toEqual([other]);
  });
});
