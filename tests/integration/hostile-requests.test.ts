import { randomBytes } from "node:crypto";

import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { rawRequest, requestText } from "../support/raw-http";
import { serverQuery } from "../support/db";
import { startBuiltServer, type Proc } from "../support/server";
import { WEBHOOK_SECRET } from "../support/test-env";

/**
 * Requests anyone with an HTTP client can send, against the built server
 * (`node server.js`): each answers 4xx with the shop's own short message,
 * never a 5xx or a library's default page, and reaches Stripe only when the
 * shopper's own Buy form was posted.
 */

const emu = emulatorControl();
let server: Proc & { databasePath: string; databaseUrl?: string };
const PRODUCT = "/products/ceramic-pour-over";

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url });
});
afterAll(() => server?.stop());
beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
});

const creates = () => emu.requestsTo("POST", "/v1/checkout/sessions");
const readDb = <T>(sql: string, ...params: unknown[]) => serverQuery<T>(server, sql, params);

async function openProduct(cookie?: string | null) {
  const response = await fetch(`${server.url}${PRODUCT}`, { headers: cookie ? { Cookie: cookie } : {} });
  const html = await response.text();
  return {
    token: /name="token" value="([^"]+)"/.exec(html)![1]!,
    cookie: response.headers.get("set-cookie")?.split(";")[0] ?? cookie ?? null,
  };
}

function postForm(fields: Record<string, string>, headers: Record<string, string> = {}, pathname = PRODUCT) {
  return fetch(`${server.url}${pathname}`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin", ...headers },
    body: new URLSearchParams(fields),
  });
}

const raw = (line: string, headers: Record<string, string | undefined>, body = "") =>
  rawRequest(server.port, requestText(line, { Host: `127.0.0.1:${server.port}`, ...headers }, body));

/** Express's default error page is `<pre>Error...</pre>`; Node's has no body at all. */
function expectOwnShortAnswer(answer: Awaited<ReturnType<typeof raw>>, status: number, message: RegExp) {
  if (!answer.ok) throw new Error(`no answer: ${answer.error}`);
  expect(answer.status).toBe(status);
  expect(answer.headers["content-type"]).toMatch(/^text\/plain/);
  expect(answer.body).toMatch(message);
  expect(answer.body).not.toMatch(/<pre>|Cannot |Error:|\bat \S+:\d+/);
  expect(answer.body.length).toBeLessThan(200);
}

describe("bodies a form route does not read", () => {
  const bodies: [string, Record<string, string | undefined>, string, number][] = [
    ["no body", { "Content-Length": "0" }, "", 415],
    ["JSON", { "Content-Type": "application/json" }, '{"quantity":1}', 415],
    ["text/plain", { "Content-Type": "text/plain" }, "quantity=1", 415],
    ["no Content-Type", {}, "quantity=1", 415],
    ["a broken multipart body", { "Content-Type": "multipart/form-data; boundary=zz" }, "--zz\r\nnot a part", 400],
  ];
  for (const pathname of [PRODUCT, "/orders"]) {
    it.each(bodies)(
      `${pathname}, %s: a 4xx that says so, and Stripe is not asked`,
      async (_name, headers, body, status) => {
        const answer = await raw(`POST ${pathname} HTTP/1.1`, { ...headers, "Sec-Fetch-Site": "same-origin" }, body);
        if (!answer.ok) throw new Error(answer.error);
        expect(answer.status).toBe(status);
        expect(answer.body).toMatch(status === 415 ? /takes a form/ : /could not be read/);
        expect(await emu.requests()).toHaveLength(0);
      },
    );
  }
});

describe("hosts and request targets", () => {
  it.each([
    ["a space", "shop example"],
    ["a bracket", "["],
    ["a port out of range", "127.0.0.1:99999"],
    ["a port that is not a number", "127.0.0.1:http"],
    ["credentials", "user:pass@127.0.0.1"],
    ["a path", "127.0.0.1/stripe/webhook"],
  ])("a Host with %s: 400", async (_name, host) => {
    expectOwnShortAnswer(await raw("GET / HTTP/1.1", { Host: host }), 400, /Host header is not a valid host/);
    expectOwnShortAnswer(
      await raw(`POST ${PRODUCT} HTTP/1.1`, { Host: host, "Content-Type": "application/x-www-form-urlencoded" }, "a=b"),
      400,
      /Host header/,
    );
  });

  it("a malformed X-Forwarded-Host: 400", async () => {
    for (const value of ["[", "a b", "x:99999", "u@x", "ok.example, ["]) {
      expectOwnShortAnswer(
        await raw("GET / HTTP/1.1", { "X-Forwarded-Host": value }),
        400,
        /X-Forwarded-Host header is not a valid host/,
      );
    }
  });

  it("an absolute-form target and OPTIONS *: 400", async () => {
    expectOwnShortAnswer(await raw("GET http://evil.example/ HTTP/1.1", {}), 400, /must be a path/);
    expectOwnShortAnswer(await raw(`POST http://127.0.0.1${PRODUCT} HTTP/1.1`, {}, "a=b"), 400, /must be a path/);
    expectOwnShortAnswer(await raw("OPTIONS * HTTP/1.1", {}), 400, /must be a path/);
  });

  it("TRACE, PUT, DELETE, OPTIONS, CONNECT: 405 with Allow", async () => {
    for (const line of [
      "TRACE / HTTP/1.1",
      `PUT ${PRODUCT} HTTP/1.1`,
      "DELETE /orders HTTP/1.1",
      "OPTIONS / HTTP/1.1",
    ]) {
      const answer = await raw(line, {});
      expectOwnShortAnswer(answer, 405, /not allowed/);
      expect(answer.ok && answer.headers.allow).toBe("GET, HEAD, POST");
    }
    const connect = await raw("CONNECT 127.0.0.1:443 HTTP/1.1", {});
    expect(connect.ok && connect.status).toBe(405);
  });

  it("a path that does not decode, under assets or not: 400, not a library's error page", async () => {
    expectOwnShortAnswer(await raw("GET /%E0%A4%A HTTP/1.1", {}), 400, /not a valid path/);
    expectOwnShortAnswer(await raw("GET /assets/%E0%A4%A.js HTTP/1.1", {}), 400, /not a valid path/);
  });

  it("the old ?_data= of Remix before single fetch: 400, not the framework's error", async () => {
    expectOwnShortAnswer(await raw("GET /?_data=root HTTP/1.1", {}), 400, /_data parameter/);
    expectOwnShortAnswer(await raw("GET /checkout/success?_data=routes%2Fcheckout.success HTTP/1.1", {}), 400, /_data/);
  });

  it("a request Node cannot parse: the shop's own 400", async () => {
    const answer = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    expectOwnShortAnswer(answer, 400, /could not be read/);
  });
});

describe("one view of the URL", () => {
  it("a cross-site post is refused whatever the path's case, trailing slash or escapes", async () => {
    const { token, cookie } = await openProduct();
    for (const pathname of [PRODUCT, `${PRODUCT}/`, "/PRODUCTS/Ceramic-Pour-Over", "/products/ceramic%2Dpour-over"]) {
      const response = await postForm(
        { quantity: "1", token },
        { Cookie: cookie!, "Sec-Fetch-Site": "cross-site" },
        pathname,
      );
      expect(response.status).toBe(403);
    }
    expect(await creates()).toHaveLength(0);
  });

  it("a Host naming the attacker's site does not make the attacker's Origin same-origin", async () => {
    const { token, cookie } = await openProduct();
    const answer = await raw(
      `POST ${PRODUCT} HTTP/1.1`,
      {
        Host: "evil.example",
        Origin: "http://evil.example",
        Cookie: cookie!,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      new URLSearchParams({ quantity: "1", token }).toString(),
    );
    expectOwnShortAnswer(answer, 403, /another site/);
    expect(await creates()).toHaveLength(0);
  });

  it("a form body over 16 KiB is refused on every spelling of a form route, before it is read", async () => {
    for (const pathname of [PRODUCT, `${PRODUCT}/`, "/Products/ceramic-pour-over", "/orders/"]) {
      const answer = await raw(
        `POST ${pathname} HTTP/1.1`,
        { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(200 * 1024 * 1024) },
        "",
      );
      expectOwnShortAnswer(answer, 413, /at most 16384 bytes/);
    }
  });

  it("a signed 20 KB event to /stripe/webhook/ (trailing slash) is taken, not refused as too large", async () => {
    const id = `evt_test_${randomBytes(8).toString("hex")}`;
    const payload = JSON.stringify({
      id,
      object: "event",
      type: "customer.created",
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      api_version: "2026-10-28.endive",
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: { id: "cus_test_big", object: "customer", metadata: { note: "x".repeat(20_000) } } },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
    for (const pathname of ["/stripe/webhook/", "/Stripe/Webhook"]) {
      const response = await fetch(`${server.url}${pathname}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
        body: payload,
      });
      expect(response.status).toBe(200);
    }
    expect(await readDb("SELECT id FROM stripe_events WHERE id = ?", id)).toHaveLength(1);
  });
});

describe("one origin check", () => {
  it("a same-origin post whose Host a proxy rewrote goes to Stripe (303), not Remix's 500", async () => {
    const { token, cookie } = await openProduct();
    const answer = await raw(
      `POST ${PRODUCT} HTTP/1.1`,
      {
        Host: "app-internal:8080",
        "X-Forwarded-Host": "proxy.internal",
        Origin: server.url,
        Cookie: cookie!,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      new URLSearchParams({ quantity: "1", token }).toString(),
    );
    expect(answer.ok && answer.status).toBe(303);
    expect(answer.ok && answer.headers.location).toMatch(/\/c\/pay\/cs_test_/);
  });

  it("an Origin that is not a URL: 403 without Fetch Metadata, the page with it; never 500", async () => {
    const { token, cookie } = await openProduct();
    const refused = await postForm(
      { quantity: "1", token },
      { Cookie: cookie!, Origin: "not a url", "Sec-Fetch-Site": "" },
    );
    expect(refused.status).toBe(403);
    const taken = await postForm({ quantity: "1", token }, { Cookie: cookie!, Origin: "not a url" });
    expect(taken.status).toBe(303);
    expect(await creates()).toHaveLength(1);
  });
});

describe("the Buy form's token", () => {
  it("no cookie and no page load: 400, and Stripe is not asked", async () => {
    const response = await postForm({ quantity: "1", token: randomBytes(18).toString("base64url") });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("This form has expired");
    expect(await creates()).toHaveLength(0);
  });

  it("a forged token with a real cookie, or another shopper's token: 400, and Stripe is not asked", async () => {
    const mine = await openProduct();
    const theirs = await openProduct();
    for (const token of [
      randomBytes(18).toString("base64url"),
      theirs.token,
      `${mine.token.slice(0, 12)}${theirs.token.slice(12)}`,
    ]) {
      const response = await postForm({ quantity: "1", token }, { Cookie: mine.cookie! });
      expect(response.status).toBe(400);
    }
    expect(await creates()).toHaveLength(0);
    // The shopper's own token still works.
    expect((await postForm({ quantity: "1", token: mine.token }, { Cookie: mine.cookie! })).status).toBe(303);
    expect(await creates()).toHaveLength(1);
  });
});

describe("Stripe", () => {
  it("STRIPE_TIMEOUT_MS is the whole wait: a Stripe that hangs is asked once, and the shopper told", async () => {
    // Only the first create hangs: a retry after the timeout would succeed and answer 303.
    await emu.fault({ method: "POST", pathPrefix: "/v1/checkout/sessions", hang: true, count: 1 });
    const { token, cookie } = await openProduct();
    const response = await postForm({ quantity: "1", token }, { Cookie: cookie! });
    expect(response.status).toBe(502);
    expect(await response.text()).toContain("The payment service did not answer");
    expect(await creates()).toHaveLength(1);
    expect(server.output.some((line) => line.includes("checkout create failed"))).toBe(true);
  });

  it("a stored customer Stripe no longer has is forgotten, and the Buy goes on", async () => {
    // A shopper pays once: the webhook links the customer Stripe made.
    await emu.setWebhook(`${server.url}/stripe/webhook`, WEBHOOK_SECRET);
    const first = await openProduct();
    const bought = await postForm({ quantity: "1", token: first.token }, { Cookie: first.cookie! });
    expect(bought.status).toBe(303);
    const sessionId = /cs_test_\w+/.exec(bought.headers.get("location")!)![0];
    await emu.pay(sessionId);
    // The shopper's stored customer (a tiny read helper: HTTP does not show it).
    const linked = async () =>
      (
        await readDb<{ customer: string | null }>(
          "SELECT s.stripe_customer_id AS customer FROM shoppers s JOIN checkout_sessions c ON c.shopper_id = s.id WHERE c.id = ?",
          sessionId,
        )
      )[0]?.customer ?? null;
    await expect.poll(linked, { timeout: 10_000 }).toMatch(/^cus_/);
    const stale = (await linked())!;

    // Stripe forgets it (keys switched, customer deleted): the emulator starts afresh.
    await emu.reset();
    const again = await openProduct(first.cookie);
    const response = await postForm({ quantity: "1", token: again.token }, { Cookie: first.cookie! });
    expect(response.status).toBe(303);
    const tries = await creates();
    expect(tries.map((t) => t.params.customer ?? null)).toEqual([stale, null]);
    expect(tries[1]!.params.customer_creation).toBe("always");
    expect(await linked()).toBeNull();
    expect(server.output.some((line) => line.includes("checkout customer missing at Stripe"))).toBe(true);

    // The next Buy asks Stripe once, with no stale customer.
    const third = await openProduct(first.cookie);
    expect((await postForm({ quantity: "1", token: third.token }, { Cookie: first.cookie! })).status).toBe(303);
    expect((await creates()).slice(2).map((t) => t.params.customer ?? null)).toEqual([null]);
  });
});
