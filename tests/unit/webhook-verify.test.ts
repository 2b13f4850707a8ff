import { createHmac } from "node:crypto";

import { describe, expect, it, vi } from "vitest";

import { DISCARD_LIMIT_BYTES, MAX_WEBHOOK_BODY_BYTES, readBoundedBody, verifyWebhook } from "~/lib/webhook.server";

import { UserError } from "~/lib/user-error";

import { CHECKOUT_EVENT, checkoutSessionObject, sign, stripeEvent } from "../support/stripe-fixtures";
import { PREVIOUS_WEBHOOK_SECRET, WEBHOOK_SECRET } from "../support/test-env";

/**
 * verifyWebhook with a fixed clock, so that the tolerance edges are exact.
 * The same cases go through the route (action and built server) in
 * tests/integration/webhook.test.ts.
 */

const NOW = 1_900_000_000_000;
const T = NOW / 1000;
const event = stripeEvent(
  CHECKOUT_EVENT.completed,
  checkoutSessionObject({ status: "complete", payment_status: "paid" }),
  {
    created: T,
  },
);
const payload = JSON.stringify(event, null, 2);
const hmac = (body: string, t: number | string, secret = WEBHOOK_SECRET) =>
  createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");

function verdict(body: string, header: string | null) {
  try {
    return { ok: true as const, id: verifyWebhook(body, header, { now: NOW }).id };
  } catch (error: unknown) {
    if (error instanceof UserError) return { ok: false as const, status: error.status, message: error.message };
    throw error;
  }
}

const rejected = (message: RegExp) => ({ ok: false, status: 400, message: expect.stringMatching(message) });

describe("verifyWebhook", () => {
  it.each([
    ["the current secret", sign(payload, { timestamp: T })],
    ["the previous secret, during a rotation", sign(payload, { secret: PREVIOUS_WEBHOOK_SECRET, timestamp: T })],
    ["a valid v1 among bad ones", `t=${T},v1=${"0".repeat(64)},v1=${hmac(payload, T)},v1=deadbeef`],
    ["a v0 next to a valid v1", `t=${T},v0=${hmac(payload, T)},v1=${hmac(payload, T)}`],
    ["exactly 300 s old", sign(payload, { timestamp: T - 300 })],
    ["300 s in the future (clock skew)", sign(payload, { timestamp: T + 300 })],
  ])("accepts a body signed with %s", (_name, header) => {
    expect(verdict(payload, header)).toEqual({ ok: true, id: event.id });
  });

  it.each([
    ["no header", null, /Missing Stripe-Signature/],
    ["an empty header", "", /Missing Stripe-Signature/],
    ["no t=", `v1=${hmac(payload, T)}`, /exactly one t=/],
    ["two t=", `t=${T},t=${T},v1=${hmac(payload, T)}`, /exactly one t=/],
    ["t that is not a number", `t=abc,v1=${hmac(payload, "abc")}`, /not a number/],
    // The SDK's parseInt would read 1900000000 here and accept the signature.
    ["t with trailing characters", `t=${T}abc,v1=${hmac(payload, T)}`, /not a number/],
    ["t negative", `t=-${T},v1=${hmac(payload, -T)}`, /not a number/],
    ["only v0", sign(payload, { timestamp: T, scheme: "v0" }), /no v1/],
    ["a wrong secret", sign(payload, { timestamp: T, secret: "whsec_someone_elses" }), /No signature matches/],
    ["a signature that is not hex", `t=${T},v1=zz${hmac(payload, T).slice(2)}`, /no v1/],
    ["301 s old", sign(payload, { timestamp: T - 301 }), /too old/],
    ["a day old", sign(payload, { timestamp: T - 86_400 }), /too old/],
    ["301 s in the future", sign(payload, { timestamp: T + 301 }), /in the future/],
    ["10 minutes in the future", sign(payload, { timestamp: T + 600 }), /in the future/],
  ])("refuses %s", (_name, header, message) => {
    expect(verdict(payload, header)).toEqual(rejected(message));
  });

  it("refuses a body changed by one byte after signing", () => {
    const header = sign(payload, { timestamp: T });
    const at = payload.indexOf('"amount_total"') + 1;
    const changed = `${payload.slice(0, at)}A${payload.slice(at + 1)}`;
    expect(changed).toHaveLength(payload.length);
    expect(verdict(changed, header)).toEqual(rejected(/No signature matches/));
  });

  it("refuses a body re-serialised after signing (same JSON, other bytes)", () => {
    const header = sign(payload, { timestamp: T });
    const reserialised = JSON.stringify(JSON.parse(payload));
    expect(JSON.parse(reserialised)).toEqual(JSON.parse(payload));
    expect(verdict(reserialised, header)).toEqual(rejected(/No signature matches/));
  });

  it("refuses everything when no secret is configured", () => {
    expect(() => verifyWebhook(payload, sign(payload, { timestamp: T }), { secrets: [], now: NOW })).toThrow(
      /No signature matches/,
    );
  });

  it.each([
    ["an empty body", "", /Empty body/],
    ["a body that is not JSON", "not json {", /not JSON/],
    ["a JSON array", "[]", /not a JSON object/],
    ["a JSON string", '"evt_123"', /not a JSON object/],
    ["another kind of object", JSON.stringify({ ...event, object: "charge" }), /"object" is not "event"/],
    ["an id that is not evt_", JSON.stringify({ ...event, id: "ch_123" }), /"id"/],
    ["no type", JSON.stringify({ ...event, type: undefined }), /"type"/],
    ["created as a string", JSON.stringify({ ...event, created: String(T) }), /"created"/],
    ["no livemode", JSON.stringify({ ...event, livemode: undefined }), /"livemode"/],
    ["no data.object", JSON.stringify({ ...event, data: {} }), /"data.object"/],
    ["data.object an array", JSON.stringify({ ...event, data: { object: [] } }), /"data.object"/],
    [
      "a checkout event about something else",
      JSON.stringify({ ...event, data: { object: { id: "ch_1", object: "charge" } } }),
      /not a checkout.session/,
    ],
    [
      "a v2 thin event",
      JSON.stringify({ id: "evt_1", object: "v2.core.event", type: "v1.billing.meter.error_report_triggered" }),
      /not a Stripe event/,
    ],
  ])("refuses %s even when it is signed", (_name, body, message) => {
    expect(verdict(body, sign(body || "x", { timestamp: T }))).toEqual(rejected(message));
  });
});

describe("readBoundedBody", () => {
  const chunks = (parts: Uint8Array[]) =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
  const post = (body: BodyInit | null, headers: Record<string, string> = {}) =>
    new Request("http://shop.test/stripe/webhook", { method: "POST", body, headers, duplex: "half" } as RequestInit);
  const status = (promise: Promise<unknown>) =>
    promise.then(
      () => 200,
      (error: unknown) => (error instanceof UserError ? error.status : Promise.reject(error)),
    );

  it("returns the body as text, also when a character is split across chunks", async () => {
    const bytes = new TextEncoder().encode('{"name":"Café ☕"}');
    const text = await readBoundedBody(post(chunks([bytes.slice(0, 12), bytes.slice(12, 13), bytes.slice(13)])));
    expect(text).toBe('{"name":"Café ☕"}');
  });

  it("takes exactly the limit", async () => {
    const body = "x".repeat(MAX_WEBHOOK_BODY_BYTES);
    expect(await readBoundedBody(post(body, { "Content-Length": String(body.length) }))).toHaveLength(
      MAX_WEBHOOK_BODY_BYTES,
    );
  });

  it("refuses a declared Content-Length over the limit before reading anything", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(10));
      },
    });
    expect(await status(readBoundedBody(post(body, { "Content-Length": String(MAX_WEBHOOK_BODY_BYTES + 1) })))).toBe(
      413,
    );
    // At most the stream's own read-ahead, never a read by the route.
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it("refuses a Content-Length that is not a number", async () => {
    expect(await status(readBoundedBody(post("{}", { "Content-Length": "12abc" })))).toBe(400);
  });

  it("answers 413 for an endless chunked body, drops a bounded rest and then cuts it off", async () => {
    const CHUNK = 64 * 1024;
    let pulled = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(CHUNK));
      },
      cancel() {
        cancelled = true;
      },
    });
    expect(await status(readBoundedBody(post(endless)))).toBe(413);
    await vi.waitFor(() => expect(cancelled).toBe(true));
    expect(pulled * CHUNK).toBeLessThanOrEqual(MAX_WEBHOOK_BODY_BYTES + DISCARD_LIMIT_BYTES + 3 * CHUNK);
  });
});
