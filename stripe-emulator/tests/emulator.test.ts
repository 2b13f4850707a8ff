import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { startEmulator, type Emulator } from "../server";

/**
 * The Stripe emulator (stripe-emulator) as a client of Stripe sees it:
 * the real `stripe` SDK against it, its hosted page through plain form posts,
 * its webhooks verified with stripe.webhooks.constructEvent.
 */

const root = path.resolve(import.meta.dirname, "../..");
const fixture = (name: string) =>
  Object.keys(
    JSON.parse(readFileSync(path.join(root, "stripe-emulator/fixtures", `${name}.json`), "utf8")) as object,
  ).sort();
const keys = (value: unknown) => Object.keys(value as object).sort();

const SECRET = "whsec_emulator_tests_secret";
const API_KEY = "sk_test_emulator_tests";
const CERAMIC = "price_1TSceramicPourOver"; // 32.00 USD, one-time
const APRON = "price_1TSlinenApron"; // 49.00 EUR, one-time
const CLUB = "price_1TScoffeeClub"; // 18.00 USD a month
const SUCCESS = "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}";
const CANCEL = "http://shop.test/products/ceramic-pour-over?canceled=1";

let emulator: Emulator;
let stripe: Stripe;

function client(options: Partial<Stripe.StripeConfig> = {}) {
  return new Stripe(API_KEY, {
    host: "127.0.0.1",
    port: emulator.port,
    protocol: "http",
    maxNetworkRetries: 0,
    telemetry: false,
    ...options,
  });
}

async function control<T = unknown>(
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${emulator.url}/_emulator${route}`, {
    method,
    headers: body === undefined ? undefined : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

function createSession(params: Partial<Stripe.Checkout.SessionCreateParams> = {}, options?: Stripe.RequestOptions) {
  return stripe.checkout.sessions.create(
    {
      mode: "payment",
      line_items: [{ price: CERAMIC, quantity: 2 }],
      success_url: SUCCESS,
      cancel_url: CANCEL,
      ...params,
    },
    options,
  );
}

/** Submits the hosted page's form like a browser with JavaScript off. */
function submitPage(sessionId: string, action: "card" | "declined" | "delayed", email = "buyer@example.com") {
  return fetch(`${emulator.url}/c/pay/${sessionId}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ email, action }).toString(),
    redirect: "manual",
  });
}

type Received = { headers: http.IncomingHttpHeaders; body: string; event: Stripe.Event };

/** A webhook endpoint that verifies each delivery and answers the queued statuses (then 200). */
class Receiver {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const status = this.statuses.shift() ?? 200;
      try {
        const event = Stripe.webhooks.constructEvent(body, req.headers["stripe-signature"] as string, SECRET);
        this.received.push({ headers: req.headers, body, event });
      } catch (error) {
        this.rejected.push(String(error));
      }
      res.writeHead(status, { "Content-Type": "text/plain" }).end(status < 300 ? "ok" : "fail");
    });
  });
  received: Received[] = [];
  rejected: string[] = [];
  statuses: number[] = [];
  url = "";

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/stripe/webhook`;
  }
  clear() {
    this.received = [];
    this.rejected = [];
    this.statuses = [];
  }
  async waitFor(count: number, timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} deliveries, got ${this.received.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received;
  }
  close() {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const receiver = new Receiver();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds (these tests run beside others on two cores: no fixed sleeps for progress). */
async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function deliveryStatuses() {
  return (await control<Array<{ status: number }>>("GET", "/deliveries")).body.map((d) => d.status);
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, quiet: true, retryBaseMs: 40, maxAttempts: 3 });
  stripe = client();
  await receiver.start();
});

afterAll(async () => {
  await emulator.close();
  await receiver.close();
});

beforeEach(async () => {
  await control("POST", "/reset");
  await control("POST", "/webhook", { url: null });
  receiver.clear();
});

describe("catalog: prices and products", () => {
  it("lists the catalog's prices, newest first, with products expanded on request", async () => {
    const prices = await stripe.prices.list({ expand: ["data.product"] });
    expect(prices.object).toBe("list");
    expect(prices.url).toBe("/v1/prices");
    expect(prices.has_more).toBe(false);
    expect(prices.data.map((p) => p.id)).toEqual([
      "price_1TSbeeswaxCandle",
      "price_1TSstonewareMug",
      CLUB,
      "price_1TSgiftCard",
      APRON,
      CERAMIC,
    ]);
    for (const price of prices.data) expect(keys(price)).toEqual(fixture("price"));
    const club = prices.data[2]!;
    expect(club).toMatchObject({
      type: "recurring",
      unit_amount: 1800,
      currency: "usd",
      recurring: { interval: "month" },
    });
    expect((club.product as Stripe.Product).name).toBe("Coffee Club Monthly");

    const page = await stripe.prices.list({ limit: 2, starting_after: "price_1TSgiftCard" });
    expect(page.data.map((p) => p.id)).toEqual([APRON, CERAMIC]);
    expect(page.has_more).toBe(false);
  });

  it("retrieves prices and products like Stripe", async () => {
    const price = await stripe.prices.retrieve(CERAMIC, { expand: ["product"] });
    expect(price).toMatchObject({ id: CERAMIC, object: "price", type: "one_time", recurring: null, unit_amount: 3200 });
    expect((price.product as Stripe.Product).id).toBe("prod_TSceramicPourOver");

    const product = await stripe.products.retrieve("prod_TSlinenApron");
    expect(keys(product)).toEqual(fixture("product"));
    expect(product).toMatchObject({ name: "Linen Work Apron", default_price: APRON, active: true });
    expect((await stripe.products.list()).data).toHaveLength(6);

    const missing = await stripe.prices.retrieve("price_nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
      message: "No such price: 'price_nope'",
    });
  });
});

describe("checkout sessions", () => {
  it("creates a session shaped like Stripe's, with amounts from the catalog", async () => {
    const session = await createSession({
      metadata: { product: "ceramic-pour-over" },
      client_reference_id: "shopper-1",
    });
    expect(keys(session)).toEqual(fixture("checkout.session"));
    expect(session.id).toMatch(/^cs_test_[A-Za-z0-9]{58}$/);
    expect(session).toMatchObject({
      object: "checkout.session",
      status: "open",
      payment_status: "unpaid",
      mode: "payment",
      amount_subtotal: 6400,
      amount_total: 6400,
      currency: "usd",
      customer: null,
      customer_details: null,
      payment_intent: null,
      subscription: null,
      client_reference_id: "shopper-1",
      metadata: { product: "ceramic-pour-over" },
      success_url: SUCCESS,
      cancel_url: CANCEL,
      livemode: false,
      ui_mode: "hosted_page",
      url: `${emulator.url}/c/pay/${session.id}`,
    });
    expect(session.expires_at - session.created).toBe(24 * 3600);
    expect(Math.abs(session.created - Date.now() / 1000)).toBeLessThan(5);
  });

  it("retrieves a session, with line items on request, and lists its line items", async () => {
    const created = await createSession({ line_items: [{ price: CERAMIC, quantity: 3 }] });
    const session = await stripe.checkout.sessions.retrieve(created.id, { expand: ["line_items"] });
    expect(session.id).toBe(created.id);
    const list = session.line_items!;
    expect(list).toMatchObject({
      object: "list",
      has_more: false,
      url: `/v1/checkout/sessions/${created.id}/line_items`,
    });
    expect(list.data).toHaveLength(1);
    const item = list.data[0]!;
    expect(keys(item)).toEqual(fixture("item"));
    expect(keys(item.price)).toEqual(fixture("price"));
    expect(item).toMatchObject({
      object: "item",
      description: "Ceramic Pour-Over Dripper",
      quantity: 3,
      amount_subtotal: 9600,
      amount_total: 9600,
      currency: "usd",
      price: { id: CERAMIC },
    });
    expect(item.id).toMatch(/^li_/);

    const items = await stripe.checkout.sessions.listLineItems(created.id, { expand: ["data.price.product"] });
    expect(items.data.map((i) => i.id)).toEqual([item.id]);
    expect((items.data[0]!.price!.product as Stripe.Product).name).toBe("Ceramic Pour-Over Dripper");

    // The stored session does not keep the expansion.
    expect((await stripe.checkout.sessions.retrieve(created.id)).line_items).toBeUndefined();
  });

  it("lists sessions newest first with Stripe's pagination and filters", async () => {
    const customer = await stripe.customers.create({ email: "list@example.com" });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createSession(i === 1 ? { customer: customer.id } : {})).id);
    const newestFirst = [...ids].reverse();

    const first = await stripe.checkout.sessions.list({ limit: 2 });
    expect(first).toMatchObject({ object: "list", has_more: true, url: "/v1/checkout/sessions" });
    expect(first.data.map((s) => s.id)).toEqual(newestFirst.slice(0, 2));
    const second = await stripe.checkout.sessions.list({ limit: 2, starting_after: first.data[1]!.id });
    expect(second.data.map((s) => s.id)).toEqual(newestFirst.slice(2, 4));
    const last = await stripe.checkout.sessions.list({ limit: 2, starting_after: second.data[1]!.id });
    expect(last.data.map((s) => s.id)).toEqual(newestFirst.slice(4));
    expect(last.has_more).toBe(false);
    const back = await stripe.checkout.sessions.list({ limit: 2, ending_before: last.data[0]!.id });
    expect(back.data.map((s) => s.id)).toEqual(newestFirst.slice(2, 4));
    expect(back.has_more).toBe(true);

    const all = await stripe.checkout.sessions.list({ limit: 3 }).autoPagingToArray({ limit: 100 });
    expect(all.map((s) => s.id)).toEqual(newestFirst);

    expect((await stripe.checkout.sessions.list({ customer: customer.id })).data.map((s) => s.id)).toEqual([ids[1]]);
    await stripe.checkout.sessions.expire(ids[0]!);
    expect((await stripe.checkout.sessions.list({ status: "expired" })).data.map((s) => s.id)).toEqual([ids[0]]);
    expect((await stripe.checkout.sessions.list({ status: "open" })).data).toHaveLength(4);

    const badLimit = await stripe.checkout.sessions.list({ limit: 101 }).catch((e: unknown) => e);
    expect(badLimit).toMatchObject({ type: "StripeInvalidRequestError", param: "limit" });
  });

  it("expires an open session once, and says so like Stripe the second time", async () => {
    const session = await createSession();
    const expired = await stripe.checkout.sessions.expire(session.id);
    expect(expired).toMatchObject({ id: session.id, status: "expired", payment_status: "unpaid", url: null });
    const again = await stripe.checkout.sessions.expire(session.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((again as Stripe.errors.StripeError).statusCode).toBe(400);
    expect((again as Error).message).toBe(
      'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of `expired`.',
    );
    const events = await stripe.events.list({ type: "checkout.session.expired" });
    expect(events.data).toHaveLength(1);
    expect(events.data[0]!.data.object).toMatchObject({ id: session.id, status: "expired" });
    // The event names the API request that caused it.
    expect(events.data[0]!.request).toEqual({
      id: expired.lastResponse.requestId,
      idempotency_key: expect.any(String),
    });
  });

  it("creates subscription-mode sessions for recurring prices", async () => {
    const session = await createSession({ mode: "subscription", line_items: [{ price: CLUB, quantity: 1 }] });
    expect(session).toMatchObject({
      mode: "subscription",
      amount_total: 1800,
      currency: "usd",
      subscription: null,
      customer_creation: null,
    });
  });

  it("honours expires_at between 30 minutes and 24 hours ahead", async () => {
    const now = Math.floor(Date.now() / 1000);
    const session = await createSession({ expires_at: now + 2 * 3600 });
    expect(session.expires_at).toBe(now + 2 * 3600);
    for (const expires_at of [now + 10 * 60, now + 25 * 3600]) {
      const error = await createSession({ expires_at }).catch((e: unknown) => e);
      expect(error).toMatchObject({ type: "StripeInvalidRequestError", param: "expires_at" });
    }
  });

  const invalidCases: Array<[string, Record<string, unknown>, string, RegExp?]> = [
    ["no mode", { mode: undefined }, "mode", /^Missing required param: mode\.$/],
    ["an unknown mode", { mode: "donation" }, "mode"],
    ["no line items", { line_items: [] }, "line_items", /Missing required param: line_items/],
    [
      "an unknown price",
      { line_items: [{ price: "price_nope", quantity: 1 }] },
      "line_items[0][price]",
      /No such price: 'price_nope'/,
    ],
    ["a zero quantity", { line_items: [{ price: CERAMIC, quantity: 0 }] }, "line_items[0][quantity]"],
    ["no quantity", { line_items: [{ price: CERAMIC }] }, "line_items[0][quantity]"],
    [
      "a fractional quantity",
      { line_items: [{ price: CERAMIC, quantity: 1.5 }] },
      "line_items[0][quantity]",
      /Invalid integer/,
    ],
    [
      "a recurring price in payment mode",
      { line_items: [{ price: CLUB, quantity: 1 }] },
      "line_items[0][price]",
      /recurring price/,
    ],
    [
      "only one-time prices in subscription mode",
      { mode: "subscription" },
      "line_items",
      /at least one recurring price/,
    ],
    ["a relative success_url", { success_url: "/checkout/success" }, "success_url", /Not a valid URL/],
    ["a non-http cancel_url", { cancel_url: "javascript:alert(1)" }, "cancel_url", /Not a valid URL/],
    ["an unknown customer", { customer: "cus_nope" }, "customer", /No such customer: 'cus_nope'/],
    [
      "customer_creation in subscription mode",
      { mode: "subscription", line_items: [{ price: CLUB, quantity: 1 }], customer_creation: "always" },
      "customer_creation",
    ],
    ["a long client_reference_id", { client_reference_id: "x".repeat(201) }, "client_reference_id"],
    ["an unknown parameter", { colour: "blue" }, "colour", /Received unknown parameter: colour/],
  ];
  it.each(invalidCases)("rejects %s with the parameter named", async (_name, params, param, message) => {
    const error = await createSession(params as Partial<Stripe.Checkout.SessionCreateParams>).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400, param, rawType: "invalid_request_error" });
    if (message) expect((error as Error).message).toMatch(message);
  });

  it("creates nothing for a rejected request", async () => {
    await createSession({ mode: undefined }).catch(() => undefined);
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(0);
    expect((await stripe.events.list()).data).toHaveLength(0);
  });

  it("answers 404 resource_missing for an unknown session", async () => {
    const error = await stripe.checkout.sessions.retrieve("cs_test_nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
      message: "No such checkout.session: 'cs_test_nope'",
    });
  });
});

describe("customers", () => {
  it("creates and retrieves customers shaped like Stripe's", async () => {
    const customer = await stripe.customers.create({
      email: "ada@example.com",
      name: "Ada",
      metadata: { shopper: "s1" },
    });
    expect(keys(customer)).toEqual(fixture("customer"));
    expect(customer).toMatchObject({
      object: "customer",
      email: "ada@example.com",
      name: "Ada",
      metadata: { shopper: "s1" },
    });
    expect(customer.id).toMatch(/^cus_/);
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id, email: "ada@example.com" });

    const session = await createSession({ customer: customer.id });
    expect(session.customer).toBe(customer.id);
    const expanded = await stripe.checkout.sessions.retrieve(session.id, { expand: ["customer"] });
    expect((expanded.customer as Stripe.Customer).email).toBe("ada@example.com");
  });
});

describe("authentication and errors", () => {
  it("requires a test secret key and answers Stripe's error shapes", async () => {
    const anonymous = await fetch(`${emulator.url}/v1/checkout/sessions`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("request-id")).toMatch(/^req_[A-Za-z0-9]{14}$/);
    expect(await anonymous.json()).toEqual({
      error: { type: "invalid_request_error", message: expect.stringMatching(/You did not provide an API key/) },
    });

    const wrongKey = await new Stripe("sk_live_nope_1234", {
      host: "127.0.0.1",
      port: emulator.port,
      protocol: "http",
    }).prices
      .list()
      .catch((e: unknown) => e);
    expect(wrongKey).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect((wrongKey as Error).message).toMatch(/^Invalid API Key provided: sk_live_\**1234$/);

    const unknown = await fetch(`${emulator.url}/v1/nothing`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(
      /^Unrecognized request URL \(GET: \/v1\/nothing\)/,
    );
  });
});

describe("idempotency", () => {
  it("replays the same response for the same key and parameters and creates nothing more", async () => {
    const first = await createSession({ metadata: { try: "1" } }, { idempotencyKey: "order-42" });
    const second = await createSession({ metadata: { try: "1" } }, { idempotencyKey: "order-42" });
    expect(second.id).toBe(first.id);
    expect((second.lastResponse.headers as Record<string, string>)["idempotent-replayed"]).toBe("true");
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(1);
    const requests = (await control<Array<{ idempotencyKey: string }>>("GET", "/requests")).body;
    expect(requests.filter((r) => r.idempotencyKey === "order-42")).toHaveLength(2);
  });

  it("refuses the same key with other parameters", async () => {
    await createSession({}, { idempotencyKey: "order-43" });
    const error = await createSession(
      { line_items: [{ price: CERAMIC, quantity: 5 }] },
      { idempotencyKey: "order-43" },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(error).toMatchObject({ statusCode: 400, rawType: "idempotency_error" });
    expect((error as Error).message).toMatch(/Keys for idempotent requests can only be used with the same parameters/);
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(1);
  });

  it("saves no result for a request that failed validation", async () => {
    await expect(createSession({ mode: undefined }, { idempotencyKey: "order-44" })).rejects.toThrow(/mode/);
    const session = await createSession({}, { idempotencyKey: "order-44" });
    expect(session.status).toBe("open");
  });
});

describe("hosted checkout page", () => {
  it("shows the order and a form that works without JavaScript", async () => {
    const session = await createSession();
    const response = await fetch(session.url!);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toMatch(/<title>[^<]*Checkout \(Stripe emulator\)[^<]*<\/title>/);
    expect(html).toContain("Ceramic Pour-Over Dripper");
    expect(html).toContain("$32.00");
    expect(html).toContain("$64.00");
    expect(html).toMatch(/<form method="post" action="\/c\/pay\/cs_test_/);
    expect(html).toContain('id="email" name="email" type="email"');
    expect(html).toContain('value="shopper@example.com"');
    for (const id of ["pay-card", "pay-declined", "pay-delayed"]) expect(html).toContain(`id="${id}"`);
    expect(html).toContain(`<a id="back" href="${CANCEL.replace("&", "&amp;")}">Back</a>`);
    expect(html).not.toMatch(/<script/i);

    const euro = await createSession({ line_items: [{ price: APRON, quantity: 1 }] });
    expect(await (await fetch(euro.url!)).text()).toContain("€49.00");
  });

  it("re-renders with 402 for a declined card and leaves the session open", async () => {
    const session = await createSession();
    const response = await submitPage(session.id, "declined");
    expect(response.status).toBe(402);
    const html = await response.text();
    expect(html).toContain("Your card was declined.");
    expect(html).toContain('value="buyer@example.com"');
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe("open");
    expect((await stripe.events.list()).data).toHaveLength(0);
  });

  it("pays by card: 303 to success_url with the id, session paid, one event", async () => {
    const session = await createSession();
    const response = await submitPage(session.id, "card");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`http://shop.test/checkout/success?session_id=${session.id}`);

    const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent"] });
    expect(paid).toMatchObject({
      status: "complete",
      payment_status: "paid",
      customer: null,
      url: null,
      customer_details: { email: "buyer@example.com" },
    });
    const details = JSON.parse(readFileSync(path.join(root, "stripe-emulator/fixtures/checkout.session.json"), "utf8"))
      .customer_details as object;
    expect(keys(paid.customer_details)).toEqual(keys(details));
    const intent = paid.payment_intent as Stripe.PaymentIntent;
    expect(intent.id).toMatch(/^pi_/);
    expect(keys(intent)).toEqual(fixture("payment_intent"));
    expect(intent).toMatchObject({ status: "succeeded", amount: 6400, amount_received: 6400, currency: "usd" });

    const events = await stripe.events.list();
    expect(events.data.map((e) => e.type)).toEqual(["checkout.session.completed"]);
    expect(events.data[0]!.data.object).toMatchObject({
      id: session.id,
      payment_status: "paid",
      payment_intent: intent.id,
    });

    const page = await fetch(session.url!);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("already paid");
    expect(html).not.toContain("<button");
  });

  it("creates a customer when customer_creation is always", async () => {
    const session = await createSession({ customer_creation: "always" });
    await submitPage(session.id, "card", "new@example.com");
    const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ["customer"] });
    expect((paid.customer as Stripe.Customer).email).toBe("new@example.com");
  });

  it("subscribes: customer and active subscription, subscription.created before session.completed", async () => {
    const session = await createSession({ mode: "subscription", line_items: [{ price: CLUB, quantity: 1 }] });
    expect((await submitPage(session.id, "card")).status).toBe(303);
    const paid = await stripe.checkout.sessions.retrieve(session.id);
    expect(paid).toMatchObject({ status: "complete", payment_status: "paid", payment_intent: null });
    expect(paid.customer).toMatch(/^cus_/);
    expect(paid.subscription).toMatch(/^sub_/);
    const subscription = await stripe.subscriptions.retrieve(paid.subscription as string);
    expect(subscription).toMatchObject({ status: "active", customer: paid.customer, object: "subscription" });
    expect(subscription.items.data[0]!.price.id).toBe(CLUB);

    const events = await stripe.events.list();
    expect(events.data.map((e) => e.type)).toEqual(["checkout.session.completed", "customer.subscription.created"]);
  });

  it("pays by bank transfer: complete but unpaid, then async success or failure", async () => {
    const good = await createSession();
    expect((await submitPage(good.id, "delayed")).status).toBe(303);
    expect(await stripe.checkout.sessions.retrieve(good.id)).toMatchObject({
      status: "complete",
      payment_status: "unpaid",
    });
    const succeeded = await control<Stripe.Checkout.Session>("POST", `/sessions/${good.id}/async_succeed`);
    expect(succeeded.body).toMatchObject({ id: good.id, payment_status: "paid" });

    const bad = await createSession();
    await control("POST", `/sessions/${bad.id}/pay`, { method: "delayed" });
    const failed = await control<Stripe.Checkout.Session>("POST", `/sessions/${bad.id}/async_fail`);
    expect(failed.body).toMatchObject({ status: "complete", payment_status: "unpaid" });
    expect((await control("POST", `/sessions/${bad.id}/async_succeed`)).status).toBe(400);

    const types = (await stripe.events.list()).data.map((e) => e.type);
    expect(types).toEqual([
      "checkout.session.async_payment_failed",
      "checkout.session.completed",
      "checkout.session.async_payment_succeeded",
      "checkout.session.completed",
    ]);
    expect((await fetch(good.url!)).status).toBe(200);
  });

  it("says an expired session has expired, with 410 and no form", async () => {
    const session = await createSession();
    await stripe.checkout.sessions.expire(session.id);
    const page = await fetch(session.url!);
    expect(page.status).toBe(410);
    const html = await page.text();
    expect(html).toContain("This checkout session has expired");
    expect(html).not.toContain("<form");
    expect((await submitPage(session.id, "card")).status).toBe(410);
  });
});

describe("events API", () => {
  it("lists events newest first with type filters, wildcards, created and pagination", async () => {
    const sessions = [await createSession(), await createSession(), await createSession()];
    await control("POST", `/sessions/${sessions[0]!.id}/pay`, { method: "card" });
    await stripe.checkout.sessions.expire(sessions[1]!.id);
    await control("POST", `/sessions/${sessions[2]!.id}/pay`, { method: "delayed" });
    await control("POST", `/sessions/${sessions[2]!.id}/async_succeed`);

    const all = await stripe.events.list();
    expect(all.data.map((e) => e.type)).toEqual([
      "checkout.session.async_payment_succeeded",
      "checkout.session.completed",
      "checkout.session.expired",
      "checkout.session.completed",
    ]);
    for (const event of all.data) {
      expect(keys(event)).toEqual(fixture("event"));
      expect(event).toMatchObject({
        object: "event",
        api_version: "2026-10-28.endive",
        livemode: false,
        pending_webhooks: 0,
      });
      expect(event.id).toMatch(/^evt_/);
    }

    expect((await stripe.events.list({ type: "checkout.session.completed" })).data).toHaveLength(2);
    expect((await stripe.events.list({ type: "checkout.session.*" })).data).toHaveLength(4);
    expect((await stripe.events.list({ type: "customer.*" })).data).toHaveLength(0);
    const some = await stripe.events.list({
      types: ["checkout.session.expired", "checkout.session.async_payment_succeeded"],
    });
    expect(some.data.map((e) => e.type)).toEqual([
      "checkout.session.async_payment_succeeded",
      "checkout.session.expired",
    ]);
    const created = all.data[3]!.created;
    expect((await stripe.events.list({ created: { gte: created } })).data).toHaveLength(4);
    expect((await stripe.events.list({ created: { gt: created + 3600 } })).data).toHaveLength(0);

    const page1 = await stripe.events.list({ limit: 3 });
    expect(page1.has_more).toBe(true);
    const page2 = await stripe.events.list({ limit: 3, starting_after: page1.data[2]!.id });
    expect(page2.data.map((e) => e.id)).toEqual([all.data[3]!.id]);
    expect(page2.has_more).toBe(false);

    const one = await stripe.events.retrieve(all.data[2]!.id);
    expect(JSON.parse(JSON.stringify(one))).toEqual(JSON.parse(JSON.stringify(all.data[2])));
    await expect(stripe.events.retrieve("evt_nope")).rejects.toMatchObject({
      statusCode: 404,
      code: "resource_missing",
    });
  });
});

describe("webhook delivery", () => {
  const useReceiver = () => control("POST", "/webhook", { url: receiver.url, secret: SECRET });

  it("signs each event like Stripe, so that constructEvent accepts it", async () => {
    await useReceiver();
    const session = await createSession();
    await control("POST", `/sessions/${session.id}/pay`, { method: "card", email: "hook@example.com" });
    const [delivery] = await receiver.waitFor(1);
    expect(receiver.rejected).toEqual([]);
    expect(delivery!.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(delivery!.headers["user-agent"]).toBe("Stripe/1.0 (+https://stripe.com/docs/webhooks)");
    expect(delivery!.headers["stripe-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(delivery!.event).toMatchObject({
      type: "checkout.session.completed",
      data: { object: { id: session.id, customer_details: { email: "hook@example.com" } } },
    });
    const listed = await stripe.events.retrieve(delivery!.event.id);
    expect(listed.pending_webhooks).toBe(0);
    const wrongSecret = () =>
      Stripe.webhooks.constructEvent(delivery!.body, delivery!.headers["stripe-signature"] as string, "whsec_other");
    expect(wrongSecret).toThrow(Stripe.errors.StripeSignatureVerificationError);

    const deliveries = await control<Array<{ eventId: string; status: number; attempt: number; at: number }>>(
      "GET",
      "/deliveries/wait?count=1&timeoutMs=2000",
    );
    expect(deliveries.status).toBe(200);
    expect(deliveries.body).toEqual([
      {
        eventId: delivery!.event.id,
        type: "checkout.session.completed",
        attempt: 1,
        status: 200,
        at: expect.any(Number),
      },
    ]);
  });

  it("retries after a 500 with back-off, signing again, until it gets a 2xx", async () => {
    await useReceiver();
    receiver.statuses = [500];
    const session = await createSession();
    await stripe.checkout.sessions.expire(session.id);
    const received = await receiver.waitFor(2);
    expect(received[0]!.event.id).toBe(received[1]!.event.id);
    const deliveries = (await control<Array<{ attempt: number; status: number }>>("GET", "/deliveries")).body;
    expect(deliveries.map((d) => [d.attempt, d.status])).toEqual([
      [1, 500],
      [2, 200],
    ]);
  });

  it("gives up after maxAttempts, and records connection errors as status 0", async () => {
    await useReceiver();
    receiver.statuses = [503, 503, 503, 503];
    await stripe.checkout.sessions.expire((await createSession()).id);
    await until(async () => (await deliveryStatuses()).length === 3, "three attempts");
    await sleep(300); // the next back-off would be 160 ms: nothing more comes
    expect(await deliveryStatuses()).toEqual([503, 503, 503]);

    await control("POST", "/reset");
    await control("POST", "/webhook", { url: "http://127.0.0.1:9/nothing-listens-here", secret: SECRET });
    await stripe.checkout.sessions.expire((await createSession()).id);
    await until(async () => (await deliveryStatuses()).length === 3, "three failed connections");
    expect(await deliveryStatuses()).toEqual([0, 0, 0]);
  });

  it("drop records the event but never delivers it", async () => {
    await useReceiver();
    await control("POST", "/delivery", { mode: "drop" });
    await stripe.checkout.sessions.expire((await createSession()).id);
    const waited = await control("GET", "/deliveries/wait?count=1&timeoutMs=200");
    expect(waited.status).toBe(408);
    expect(receiver.received).toHaveLength(0);
    expect((await stripe.events.list()).data.map((e) => e.type)).toEqual(["checkout.session.expired"]);
  });

  it("hold queues deliveries until released, newest first with reverse", async () => {
    await useReceiver();
    await control("POST", "/delivery", { mode: "hold", order: "reverse" });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await stripe.checkout.sessions.expire((await createSession()).id)).id);
    await sleep(100);
    expect(receiver.received).toHaveLength(0);
    expect((await control<{ released: number }>("POST", "/deliveries/release")).body).toEqual({ released: 3 });
    const received = await receiver.waitFor(3);
    expect(received.map((r) => (r.event.data.object as { id: string }).id)).toEqual([...ids].reverse());
  });

  it("duplicate delivers every event twice; redeliver sends one again", async () => {
    await useReceiver();
    await control("POST", "/delivery", { duplicate: true });
    await stripe.checkout.sessions.expire((await createSession()).id);
    const twice = await receiver.waitFor(2);
    expect(twice[0]!.event.id).toBe(twice[1]!.event.id);

    await control("POST", "/delivery", { duplicate: false });
    expect((await control("POST", "/deliveries/redeliver", { eventId: twice[0]!.event.id })).status).toBe(200);
    const thrice = await receiver.waitFor(3);
    expect(thrice[2]!.event.id).toBe(twice[0]!.event.id);
    expect((await control("POST", "/deliveries/redeliver", { eventId: "evt_nope" })).status).toBe(404);
  });

  it("delayMs waits before the first attempt; the API call never waits", async () => {
    await useReceiver();
    await control("POST", "/delivery", { delayMs: 300 });
    const session = await createSession();
    const started = Date.now();
    await stripe.checkout.sessions.expire(session.id);
    // The API answered before the delivery went out.
    expect(receiver.received).toHaveLength(0);
    await receiver.waitFor(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });
});

describe("faults", () => {
  it("answers the next requests with a Stripe api_error, then recovers", async () => {
    await control("POST", "/faults", { method: "POST", pathPrefix: "/v1/checkout/sessions", status: 500, count: 1 });
    const error = await createSession().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(error).toMatchObject({ statusCode: 500, rawType: "api_error" });
    expect((await createSession()).status).toBe("open");
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(1);
  });

  it("lets the SDK retry a failed create under the same idempotency key", async () => {
    await control("POST", "/faults", { method: "POST", status: 503, count: 1 });
    const session = await createSession({}, { maxNetworkRetries: 1 });
    expect(session.status).toBe("open");
    const posts = (await control<Array<{ method: string; idempotencyKey: string }>>("GET", "/requests")).body.filter(
      (r) => r.method === "POST",
    );
    expect(posts).toHaveLength(2);
    expect(posts[0]!.idempotencyKey).toBe(posts[1]!.idempotencyKey);
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(1);
  });

  it("hangs until the client times out, only on the matching path", async () => {
    await control("POST", "/faults", { pathPrefix: "/v1/checkout/sessions", hang: true });
    const impatient = client({ timeout: 300 });
    const started = Date.now();
    const error = await impatient.checkout.sessions.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await stripe.prices.list()).data).toHaveLength(6);
    await control("DELETE", "/faults");
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(0);
  });
});

describe("expiry", () => {
  it("expires a session on its own when expires_at passes, and sends the event", async () => {
    await control("POST", "/webhook", { url: receiver.url, secret: SECRET });
    const session = await createSession();
    const moved = await control<Stripe.Checkout.Session>("POST", `/sessions/${session.id}/expires_at`, { in_ms: 150 });
    expect(moved.body.status).toBe("open");
    const [delivery] = await receiver.waitFor(1, 2000);
    expect(delivery!.event).toMatchObject({
      type: "checkout.session.expired",
      data: { object: { id: session.id, status: "expired" } },
    });
    expect(delivery!.event.request).toEqual({ id: null, idempotency_key: null });
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe("expired");
    expect((await fetch(session.url!)).status).toBe(410);
  });

  it("treats a session past expires_at as expired on the next access", async () => {
    const session = await createSession();
    await control("POST", `/sessions/${session.id}/expires_at`, { expires_at: Math.floor(Date.now() / 1000) - 1 });
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe("expired");
    expect((await stripe.events.list({ type: "checkout.session.expired" })).data).toHaveLength(1);
    expect((await control("POST", `/sessions/${session.id}/pay`, { method: "card" })).status).toBe(400);
  });
});

describe("billing portal and subscriptions", () => {
  it("creates a portal session whose page links back to return_url", async () => {
    const customer = await stripe.customers.create({ email: "portal@example.com" });
    const portal = await stripe.billingPortal.sessions.create({
      customer: customer.id,
      return_url: "http://shop.test/orders",
    });
    expect(portal).toMatchObject({
      object: "billing_portal.session",
      customer: customer.id,
      return_url: "http://shop.test/orders",
      livemode: false,
    });
    expect(portal.id).toMatch(/^bps_/);
    expect(portal.url).toBe(`${emulator.url}/p/session/${portal.id}`);
    const page = await fetch(portal.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<a id="return" href="http://shop.test/orders">');

    await expect(stripe.billingPortal.sessions.create({ customer: "cus_nope" })).rejects.toMatchObject({
      param: "customer",
    });
    await expect(
      stripe.billingPortal.sessions.create({} as Stripe.BillingPortal.SessionCreateParams),
    ).rejects.toMatchObject({ param: "customer", message: "Missing required param: customer." });
  });

  it("cancels and updates subscriptions through the control API, with events", async () => {
    const session = await createSession({ mode: "subscription", line_items: [{ price: CLUB, quantity: 1 }] });
    const paid = (await control<Stripe.Checkout.Session>("POST", `/sessions/${session.id}/pay`, { method: "card" }))
      .body;
    const id = paid.subscription as string;
    const updated = await control<Stripe.Subscription>("POST", `/subscriptions/${id}/update`, { status: "past_due" });
    expect(updated.body.status).toBe("past_due");
    const canceled = await control<Stripe.Subscription>("POST", `/subscriptions/${id}/cancel`);
    expect(canceled.body).toMatchObject({ status: "canceled", canceled_at: expect.any(Number) });

    const events = (await stripe.events.list({ type: "customer.subscription.*" })).data;
    expect(events.map((e) => e.type)).toEqual([
      "customer.subscription.deleted",
      "customer.subscription.updated",
      "customer.subscription.created",
    ]);
    expect(events[1]!.data.previous_attributes).toEqual({ status: "active" });
    expect(await stripe.subscriptions.retrieve(id)).toMatchObject({ status: "canceled" });
  });
});

describe("control API", () => {
  it("logs the /v1 requests it received, oldest first", async () => {
    await createSession({ metadata: { a: "b" } }, { idempotencyKey: "log-1" });
    await stripe.checkout.sessions.list({ limit: 1 });
    const log = (await control<Array<Record<string, unknown>>>("GET", "/requests")).body;
    expect(log).toEqual([
      {
        method: "POST",
        path: "/v1/checkout/sessions",
        query: {},
        params: expect.objectContaining({
          mode: "payment",
          metadata: { a: "b" },
          line_items: { 0: { price: CERAMIC, quantity: "2" } },
        }),
        idempotencyKey: "log-1",
        stripeVersion: "2026-10-28.endive",
        at: expect.any(Number),
      },
      expect.objectContaining({ method: "GET", path: "/v1/checkout/sessions", query: { limit: "1" }, params: {} }),
    ]);
  });

  it("reset forgets sessions, events and customers but keeps the webhook endpoint", async () => {
    await control("POST", "/webhook", { url: receiver.url, secret: SECRET });
    const session = await createSession();
    await stripe.checkout.sessions.expire(session.id);
    await receiver.waitFor(1);
    await control("POST", "/reset");
    await expect(stripe.checkout.sessions.retrieve(session.id)).rejects.toMatchObject({ statusCode: 404 });
    expect((await stripe.events.list()).data).toHaveLength(0);
    expect((await control<unknown[]>("GET", "/deliveries")).body).toEqual([]);
    await stripe.checkout.sessions.expire((await createSession()).id);
    await receiver.waitFor(2);
  });

  it("keeps up with a burst of sessions", async () => {
    const started = Date.now();
    const sessions = await Promise.all(Array.from({ length: 300 }, () => createSession()));
    expect(new Set(sessions.map((s) => s.id)).size).toBe(300);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await stripe.checkout.sessions.list({ limit: 100 })).data).toHaveLength(100);
  });
});

describe("command line", () => {
  it("prints its URL once listening and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "stripe-emulator/main.ts")], {
      cwd: root,
      env: { ...process.env, EMULATOR_PORT: "0", EMULATOR_QUIET: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${stdout}`)), 15_000);
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /^stripe-emulator listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once("exit", (code) => reject(new Error(`exited with ${code}: ${stdout}`)));
    });
    const prices = await fetch(`${url}/v1/prices`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(prices.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stdout).toBe(`stripe-emulator listening on ${url}\n`);
  });
});
