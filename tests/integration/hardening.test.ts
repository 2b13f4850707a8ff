import { readdirSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";

import { createCookie } from "@remix-run/node";
import { serverQuery, testDialect } from "../support/db";
import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { startBuiltServer, tempDatabase, type Proc } from "../support/server";
import { PREVIOUS_SESSION_SECRET, SESSION_SECRET, WEBHOOK_SECRET } from "../support/test-env";

/** Attacks and faults against the built server (`npm start`) with the emulator. */

const emu = emulatorControl();
let server: Proc & { databasePath: string };

beforeAll(async () => {
  server = await startBuiltServer({
    stripeApiBase: emu.url,
    env: { HTTP_HEADERS_TIMEOUT_MS: "500", HTTP_REQUEST_TIMEOUT_MS: "2000" },
  });
});
afterAll(() => server?.stop());
beforeEach(() => emu.reset());

const readDb = <T>(sql: string, ...params: unknown[]) => serverQuery<T>(server, sql, params);

async function openProduct(slug = "ceramic-pour-over", cookie?: string) {
  const response = await fetch(`${server.url}/products/${slug}`, { headers: cookie ? { Cookie: cookie } : {} });
  const html = await response.text();
  return {
    response,
    html,
    token: /name="token" value="([^"]+)"/.exec(html)![1]!,
    cookie: response.headers.get("set-cookie")?.split(";")[0] ?? cookie ?? null,
  };
}

function post(pathname: string, body: string | URLSearchParams, headers: Record<string, string> = {}) {
  return fetch(`${server.url}${pathname}`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
}

describe("security headers", () => {
  const pages = [
    ["/", 200],
    ["/products/ceramic-pour-over", 200],
    ["/products/no-such-thing", 404],
    ["/orders", 200],
    ["/checkout/success?session_id=nope", 400],
  ] as const;

  it.each(pages)("%s carries the CSP with a nonce on every script, and the other headers", async (pathname, status) => {
    const response = await fetch(`${server.url}${pathname}`);
    expect(response.status).toBe(status);
    const csp = response.headers.get("content-security-policy")!;
    expect(csp).toBeTruthy();
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'none'");
    // The hosted checkout's origin, or the 303 after the Buy form is blocked.
    expect(csp).toMatch(new RegExp(`form-action 'self' [^;]*${emu.url.replace(/[.]/g, "\\.")}`));
    expect(csp).toContain("https://checkout.stripe.com");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBeTruthy();
    expect(response.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);

    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
  });

  it("uses a new nonce for every response", async () => {
    const a = (await fetch(`${server.url}/`)).headers.get("content-security-policy");
    const b = (await fetch(`${server.url}/`)).headers.get("content-security-policy");
    expect(a).not.toBe(b);
  });
});

describe("cross-site form posts", () => {
  it("refuses a Buy post from another site (Fetch Metadata) with 403, storing and sending nothing", async () => {
    const { token, cookie } = await openProduct();
    const response = await post("/products/ceramic-pour-over", new URLSearchParams({ quantity: "1", token }), {
      Cookie: cookie!,
      "Sec-Fetch-Site": "cross-site",
      Origin: "https://evil.example",
    });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("sent from another site");
    expect(await readDb("SELECT id FROM checkout_sessions WHERE form_token = ?", token)).toHaveLength(0);
    expect(await emu.requestsTo("POST", "/v1/checkout/sessions")).toHaveLength(0);
  });

  it("refuses a post whose Origin is foreign when the browser sends no Fetch Metadata", async () => {
    const { token, cookie } = await openProduct();
    const response = await post("/products/ceramic-pour-over", new URLSearchParams({ quantity: "1", token }), {
      Cookie: cookie!,
      Origin: "https://evil.example",
    });
    expect(response.status).toBe(403);
    expect(await readDb("SELECT id FROM checkout_sessions WHERE form_token = ?", token)).toHaveLength(0);
    expect(await emu.requestsTo("POST", "/v1/checkout/sessions")).toHaveLength(0);
  });

  it("refuses a same-site but cross-origin post", async () => {
    const { token, cookie } = await openProduct();
    const response = await post("/products/ceramic-pour-over", new URLSearchParams({ quantity: "1", token }), {
      Cookie: cookie!,
      "Sec-Fetch-Site": "same-site",
    });
    expect(response.status).toBe(403);
  });

  it("accepts a same-origin post", async () => {
    const { token, cookie } = await openProduct();
    const response = await post("/products/ceramic-pour-over", new URLSearchParams({ quantity: "1", token }), {
      Cookie: cookie!,
      "Sec-Fetch-Site": "same-origin",
      Origin: server.url,
    });
    expect(response.status).toBe(303);
    expect(await readDb("SELECT id FROM checkout_sessions WHERE form_token = ?", token)).toHaveLength(1);
  });
});

describe("cookies", () => {
  const name = "__Host-shopper";
  const cookieWith = (secret: string) =>
    createCookie(name, { secrets: [secret], httpOnly: true, secure: true, sameSite: "lax", path: "/" });
  const shopperId = "AAAAAAAAAAAAAAAAAAAAAA";

  async function buyWith(cookie: string) {
    const page = await openProduct("ceramic-pour-over", cookie);
    const response = await post(
      "/products/ceramic-pour-over",
      new URLSearchParams({ quantity: "1", token: page.token }),
      {
        Cookie: page.cookie ?? cookie,
        "Sec-Fetch-Site": "same-origin",
      },
    );
    return { page, response };
  }

  it("keeps the cookie small: the shopper id and when it was issued, nothing else", async () => {
    const { response } = await openProduct();
    const value = response.headers.get("set-cookie")!.split(";")[0]!;
    expect(value.length).toBeLessThan(200);
    const parsed = await cookieWith(SESSION_SECRET).parse(value);
    expect(Object.keys(parsed).sort()).toEqual(["issuedAt", "shopperId"]);
  });

  it("treats a tampered cookie as no cookie: a new shopper, never a 500", async () => {
    const good = (await openProduct()).cookie!;
    const [cookieName, rest] = good.split("=");
    const tampered = `${cookieName}=${rest!.slice(0, -3)}abc`;
    const { page, response } = await buyWith(tampered);
    expect(page.response.status).toBe(200);
    expect(page.response.headers.get("set-cookie")).toMatch(/^__Host-shopper=/);
    expect(response.status).toBe(303);
  });

  it("treats a cookie signed with a retired secret as no cookie", async () => {
    const retired = await cookieWith("a-retired-secret-that-is-long-enough-000").serialize({
      shopperId,
      issuedAt: Date.now(),
    });
    const { page, response } = await buyWith(retired.split(";")[0]!);
    expect(page.response.status).toBe(200);
    expect(page.response.headers.get("set-cookie")).toBeTruthy();
    expect(response.status).toBe(303);
    expect(await readDb("SELECT id FROM checkout_sessions WHERE shopper_id = ?", shopperId)).toHaveLength(0);
  });

  it("accepts a cookie signed with the previous secret and re-signs it with the newest", async () => {
    const previous = await cookieWith(PREVIOUS_SESSION_SECRET).serialize({ shopperId, issuedAt: Date.now() });
    const page = await openProduct("ceramic-pour-over", previous.split(";")[0]!);
    const resigned = page.response.headers.get("set-cookie")!;
    expect(resigned).toBeTruthy();
    expect(await cookieWith(SESSION_SECRET).parse(resigned.split(";")[0]!)).toMatchObject({ shopperId });
    const response = await post(
      "/products/ceramic-pour-over",
      new URLSearchParams({ quantity: "1", token: page.token }),
      {
        Cookie: resigned.split(";")[0]!,
        "Sec-Fetch-Site": "same-origin",
      },
    );
    expect(response.status).toBe(303);
    expect(await readDb("SELECT id FROM checkout_sessions WHERE shopper_id = ?", shopperId)).toHaveLength(1);
  });

  it("treats a cookie older than the server-side age limit as no cookie", async () => {
    const old = await cookieWith(SESSION_SECRET).serialize({ shopperId, issuedAt: Date.now() - 31 * 24 * 3600 * 1000 });
    const page = await openProduct("ceramic-pour-over", old.split(";")[0]!);
    const fresh = await cookieWith(SESSION_SECRET).parse(page.response.headers.get("set-cookie")!.split(";")[0]!);
    expect(fresh.shopperId).not.toBe(shopperId);
  });
});

describe("limits", () => {
  it.each([
    ["/products/ceramic-pour-over", 17 * 1024],
    ["/", 17 * 1024],
    ["/orders", 17 * 1024],
    ["/checkout/success?session_id=cs_test_x", 17 * 1024],
    ["/stripe/webhook", 1024 * 1024 + 1],
  ])("POST %s with an oversized body: 413", async (pathname, size) => {
    const before = [
      (await readDb("SELECT id FROM checkout_sessions")).length,
      (await readDb("SELECT id FROM stripe_events")).length,
    ];
    const response = await post(pathname, `q=${"x".repeat(size)}`, { "Sec-Fetch-Site": "same-origin" });
    expect(response.status).toBe(413);
    expect([
      (await readDb("SELECT id FROM checkout_sessions")).length,
      (await readDb("SELECT id FROM stripe_events")).length,
    ]).toEqual(before);
    expect(await emu.requestsTo("POST", "/v1/checkout/sessions")).toHaveLength(0);
  });

  it("refuses a form body without a length (chunked): 411", async () => {
    const response = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, "127.0.0.1", () => {
        socket.write(
          "POST /products/ceramic-pour-over HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nq=abc\r\n0\r\n\r\n",
        );
      });
      let data = "";
      socket.on("data", (chunk) => (data += chunk.toString()));
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 411/);
  });

  it("cuts off a client that sends its headers too slowly", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
      let data = "";
      socket.on("data", (chunk) => (data += chunk.toString()));
      socket.on("close", () => resolve(data));
      socket.on("error", reject);
    });
    // Node answers 408 and closes the connection once headersTimeout (500 ms here) passes.
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe("the client bundle", () => {
  it("holds no secret, no database path and no server-only code", () => {
    const root = path.resolve(import.meta.dirname, "../../build/client");
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir)) {
        const full = path.join(dir, entry);
        if (statSync(full).isDirectory()) walk(full);
        else files.push(full);
      }
    };
    walk(root);
    expect(files.some((f) => f.endsWith(".js"))).toBe(true);
    const forbidden = [
      /\b[sr]k_(test|live)_/,
      /whsec_/,
      /test-session-secret/,
      /dev-only-session-secret/,
      /emulator_local_only/,
      /data\/app\.db/,
      /DATABASE_PATH/,
      /STRIPE_SECRET_KEY/,
      /better-sqlite3/,
      /drizzle/i,
      /sqlite_master|PRAGMA/,
    ];
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const pattern of forbidden) {
        expect.soft(pattern.test(text), `${path.relative(root, file)} matches ${pattern}`).toBe(false);
      }
    }
  });
});

describe("unexpected errors", () => {
  let broken: Proc & { databasePath: string; databaseUrl?: string };

  beforeAll(async () => {
    broken = await startBuiltServer({ stripeApiBase: emu.url, databasePath: tempDatabase() });
    // Break the database under the running server: its queries now fail.
    await serverQuery(
      broken,
      testDialect === "sqlite"
        ? "DROP TABLE checkout_sessions"
        : "DROP TABLE checkout_sessions, products, stripe_events CASCADE",
    );
    if (testDialect === "sqlite") {
      await serverQuery(broken, "DROP TABLE products");
      await serverQuery(broken, "DROP TABLE stripe_events");
    }
  });
  afterAll(() => broken?.stop());

  function expectGenericPage(body: string) {
    expect(body).not.toMatch(/SQLITE|no such table|sqlite|drizzle|\n\s+at |node_modules|whsec_|sk_test_/i);
  }

  it("a loader: 500 with a generic page and a reference id that the log carries", async () => {
    const response = await fetch(`${broken.url}/products/ceramic-pour-over`);
    expect(response.status).toBe(500);
    const html = await response.text();
    expect(html).toContain("Something went wrong on our side.");
    const ref = /reference: <code>([a-f0-9]{16})<\/code>/.exec(html)?.[1];
    expect(ref).toBe(response.headers.get("x-request-id"));
    expectGenericPage(html);
    await expect.poll(() => broken.output.some((line) => line.includes(`ref=${ref}`))).toBe(true);
  });

  it("an action: 500, generic, nothing sent to Stripe", async () => {
    const response = await fetch(`${broken.url}/products/ceramic-pour-over`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin" },
      body: new URLSearchParams({ quantity: "1", token: "t".repeat(24) }),
    });
    expect(response.status).toBe(500);
    expectGenericPage(await response.text());
    expect(await emu.requestsTo("POST", "/v1/checkout/sessions")).toHaveLength(0);
  });

  it("the webhook: 5xx so that Stripe retries, with no detail in the body", async () => {
    const payload = JSON.stringify({
      id: "evt_test_broken",
      object: "event",
      type: "checkout.session.completed",
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      api_version: "2026-10-28.endive",
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: { id: "cs_test_x", object: "checkout.session" } },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
    const response = await fetch(`${broken.url}/stripe/webhook`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
      body: payload,
    });
    expect(response.status).toBeGreaterThanOrEqual(500);
    expectGenericPage(await response.text());
  });
});
