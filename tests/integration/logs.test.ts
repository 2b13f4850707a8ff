import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { readableLine, redactSecrets, shopLogger } from "~/lib/logger.server";
import { hashPassword } from "~/lib/operators.server";
import { openServerDb, schema } from "../support/db";
import { emulatorControl } from "../support/emulator";
import { BUILT_SERVER_ENV, startBuiltServer, type Proc } from "../support/server";
import { CHECKOUT_EVENT, sessionFor, sign, storeCheckout, stripeEvent } from "../support/stripe-fixtures";

/** The built server's log: JSON lines with a request id, and none of the secrets a request carried. */

const emu = emulatorControl();
const METRICS_TOKEN = "metrics-token-logged-never-0123456789";
let server: Proc & { databasePath: string };

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url, env: { METRICS_TOKEN } });
});
afterAll(() => server?.stop());

describe("the log", () => {
  it("holds ids, types and request ids, never cookies, tokens, signatures, passwords, emails, payloads or secrets", async () => {
    const cookieValue = "cookie-value-never-logged-7f3a";
    const password = "password-never-logged-9c2e";
    const payloadMarker = "payload-marker-never-logged-41d0";

    const home = await fetch(`${server.url}/`, { headers: { Cookie: `shopper=${cookieValue}` } });
    expect(home.status).toBe(200);
    expect(
      (await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).status,
    ).toBe(200);
    const login = await fetch(`${server.url}/admin/login`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: `operator=${cookieValue}` },
      body: new URLSearchParams({ email: "ops@example.com", password }).toString(),
    });
    expect(login.status).toBe(400);

    const event = stripeEvent("customer.created", { id: "cus_test_logs", object: "customer", name: payloadMarker });
    const payload = JSON.stringify(event, null, 2);
    const signature = sign(payload);
    const delivered = await fetch(`${server.url}/stripe/webhook`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
      body: payload,
    });
    expect(delivered.status).toBe(200);
    const requestId = delivered.headers.get("X-Request-Id");

    // An operator signs in and reads an order: neither the password nor the session cookie is logged.
    const operatorPassword = "operator-password-never-logged-5b71";
    const emailMarker = "buyer-never-logged-3e9a@example.com";
    const serverDb = await openServerDb(server);
    await serverDb.db
      .insert(schema.operators)
      .values({ email: "ops@example.com", passwordHash: await hashPassword(operatorPassword) });
    const checkout = await storeCheckout(serverDb.db);
    await serverDb.close();
    const signedIn = await fetch(`${server.url}/admin/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: "ops@example.com", password: operatorPassword }).toString(),
    });
    expect(signedIn.status).toBe(303);
    const operatorCookie = signedIn.headers.get("Set-Cookie")!.split(";")[0]!;
    const operatorCookieValue = operatorCookie.split("=").slice(1).join("=");
    expect(operatorCookieValue.length).toBeGreaterThan(16);
    // A paid completion naming the buyer's email, then the order's console page.
    const completion = stripeEvent(
      CHECKOUT_EVENT.completed,
      sessionFor(checkout, "paid", { customer_details: { email: emailMarker } as never }),
    );
    const completionBody = JSON.stringify(completion);
    const paid = await fetch(`${server.url}/stripe/webhook`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": sign(completionBody) },
      body: completionBody,
    });
    expect(paid.status).toBe(200);
    const orderPage = await fetch(`${server.url}/admin/orders/${checkout.id}`, { headers: { Cookie: operatorCookie } });
    expect(orderPage.status).toBe(200);
    expect(await orderPage.text()).toContain(emailMarker);

    // The lines reach this process through a pipe, a moment after the answers.
    await vi.waitFor(() =>
      expect(server.output.some((l) => l.includes(`"requestId":"${requestId}","method"`))).toBe(true),
    );
    await vi.waitFor(() =>
      expect(
        server.output.some((l) => l.includes(`"requestId":"${orderPage.headers.get("X-Request-Id")}","method"`)),
      ).toBe(true),
    );
    const output = server.output.join("\n");
    for (const secret of [
      cookieValue,
      password,
      operatorPassword,
      operatorCookieValue,
      decodeURIComponent(operatorCookieValue),
      emailMarker,
      payloadMarker,
      signature,
      signature.split(",v1=")[1]!,
      METRICS_TOKEN,
      BUILT_SERVER_ENV.STRIPE_SECRET_KEY,
      ...BUILT_SERVER_ENV.STRIPE_WEBHOOK_SECRET.split(","),
      ...BUILT_SERVER_ENV.SESSION_SECRET.split(","),
    ]) {
      expect(output).not.toContain(secret);
    }

    // Production logs are JSON, one object a line; the webhook's lines carry its request id and the event's id and type.
    const entries = server.output
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.find((e) => String(e.msg).startsWith("webhook received "))).toMatchObject({
      requestId,
      eventId: event.id,
      eventType: "customer.created",
    });
    // Every field of every line is one of these: ids, types, levels, times, codes; never a header, body or payload.
    const FIELDS = new Set(
      "level time msg requestId method route status ms eventId eventType checkoutId flag shopperId customerId worker product errorType stripeRequestId".split(
        " ",
      ),
    );
    for (const entry of entries) {
      expect(
        Object.keys(entry).filter((key) => !FIELDS.has(key)),
        String(entry.msg),
      ).toEqual([]);
    }
    expect(entries.filter((e) => e.msg === "request" && e.requestId === requestId)).toEqual([
      expect.objectContaining({ route: "routes/stripe.webhook", status: 200, method: "POST" }),
    ]);
  });

  it("the net blanks the fields that may hold secrets, should a caller pass them, on lines and on a child's bindings", () => {
    const lines: string[] = [];
    const log = shopLogger({ write: (line: string) => lines.push(line) });
    const failure = Object.assign(new Error("boom"), { headers: { Authorization: "SECRET-bearer" }, code: "E1" });
    log.info(
      {
        password: "SECRET-password",
        payload: "SECRET-payload",
        headers: {
          "stripe-signature": "SECRET-sig",
          cookie: "SECRET-c",
          authorization: "SECRET-a",
          "content-type": "text/plain",
        },
        req: { headers: { "stripe-signature": "SECRET-sig2", cookie: "SECRET-c2", host: "shop.test" } },
        account: { Token: "SECRET-tok", secret: "SECRET-s", name: "kept" },
        list: [{ token: "SECRET-in-an-array" }],
        err: failure,
        eventId: "evt_1",
      },
      "x",
    );
    log.child({ requestId: "r1", session: { cookie: "SECRET-sid" } }).info({ flag: "f" }, "y");
    // A child of a child, too.
    log.child({ requestId: "r2" }).child({ token: "SECRET-grandchild" }).info("z");
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      password: "[redacted]",
      payload: "[redacted]",
      headers: {
        "stripe-signature": "[redacted]",
        cookie: "[redacted]",
        authorization: "[redacted]",
        "content-type": "text/plain",
      },
      req: { headers: { "stripe-signature": "[redacted]", cookie: "[redacted]", host: "shop.test" } },
      account: { Token: "[redacted]", secret: "[redacted]", name: "kept" },
      list: [{ token: "[redacted]" }],
      // An Error is still serialized as one (its type, message and stack), its secret blanked.
      err: { type: "Error", message: "boom", code: "E1", headers: { Authorization: "[redacted]" } },
      eventId: "evt_1",
    });
    expect(String((entry.err as { stack: string }).stack)).toContain("boom");
    expect(lines.join("\n")).not.toContain("SECRET-");
    expect(JSON.parse(lines[1]!)).toMatchObject({ requestId: "r1", session: { cookie: "[redacted]" }, flag: "f" });
    expect(JSON.parse(lines[2]!)).toMatchObject({ requestId: "r2", token: "[redacted]", msg: "z" });
    expect(readableLine(lines[0]!).text).toBe("x");
    // The caller's objects are left as they were.
    expect(failure.headers.Authorization).toBe("SECRET-bearer");
  });

  it("the net leaves a line with nothing secret as it is, without copying it", () => {
    const fields = { method: "POST", route: "routes/stripe.webhook", status: 200, nested: { id: "cs_1" } };
    expect(redactSecrets(fields)).toBe(fields);
  });
});
