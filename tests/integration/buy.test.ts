import { count, eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";

import { db, schema } from "../support/db";
import { action, loader } from "~/routes/products.$slug";

import { expectConsoleError } from "../support/console";
import { emulatorControl } from "../support/emulator";
import { cookieFrom, formRequest, getRequest, settle } from "../support/http";

const emu = emulatorControl();

async function openProductPage(slug: string, cookie?: string | null) {
  const response = await settle(() =>
    loader({ request: getRequest(`/products/${slug}`, { cookie }), params: { slug }, context: {} }),
  );
  const data = (await response.json()) as { token: string };
  return { response, token: data.token, cookie: cookie ?? cookieFrom(response) };
}

function buy(slug: string, fields: Record<string, string>, options: Parameters<typeof formRequest>[2] = {}) {
  return settle(() =>
    action({ request: formRequest(`/products/${slug}`, fields, options), params: { slug }, context: {} }),
  );
}

const rows = async () => await db.select().from(schema.checkoutSessions);
const shopperCount = async () => (await db.select({ n: count() }).from(schema.shoppers))[0]!.n;
const creates = () => emu.requestsTo("POST", "/v1/checkout/sessions");

beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
  await db.delete(schema.refunds);
  await db.delete(schema.checkoutSessions);
  await db.delete(schema.shoppers);
  await db.update(schema.products).set({ active: true });
});

describe("product page", () => {
  it("serves the product with a fresh one-time token and gives a new shopper a cookie", async () => {
    const first = await openProductPage("ceramic-pour-over");
    expect(first.response.status).toBe(200);
    expect(first.response.headers.get("Cache-Control")).toBe("no-store");
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(first.cookie).toMatch(/^shopper=/);
    const second = await openProductPage("ceramic-pour-over", first.cookie);
    expect(second.token).not.toBe(first.token);
    // The same shopper keeps the cookie it has.
    expect(second.response.headers.get("Set-Cookie")).toBeNull();
  });

  it("answers 404 for an unknown or inactive product", async () => {
    expect(
      (await settle(() => loader({ request: getRequest("/products/nope"), params: { slug: "nope" }, context: {} })))
        .status,
    ).toBe(404);
    await db.update(schema.products).set({ active: false }).where(eq(schema.products.slug, "gift-card"));
    expect(
      (
        await settle(() =>
          loader({ request: getRequest("/products/gift-card"), params: { slug: "gift-card" }, context: {} }),
        )
      ).status,
    ).toBe(404);
  });
});

describe("Buy action", () => {
  it("creates a one-time payment session with exactly the catalog's price and answers 303 to it", async () => {
    const page = await openProductPage("ceramic-pour-over");
    const { token } = page;
    const response = await buy("ceramic-pour-over", { quantity: "2", token }, { cookie: page.cookie });

    expect(response.status).toBe(303);
    const location = response.headers.get("Location")!;
    expect(location).toMatch(new RegExp(`^${emu.url}/c/pay/cs_test_[A-Za-z0-9]+$`));

    // The page gives a new shopper the cookie that the form's token is bound to.
    const setCookie = page.response.headers.get("Set-Cookie")!;
    expect(setCookie).toMatch(/^shopper=[^;]+;/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/; Secure/); // Secure only in production

    const [request, ...others] = await creates();
    expect(others).toHaveLength(0);
    const shopper = (await db.select().from(schema.shoppers))[0]!;
    expect(request!.params).toEqual({
      mode: "payment",
      line_items: { "0": { price: "price_1TSceramicPourOver", quantity: "2" } },
      success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
      cancel_url: "http://shop.test/products/ceramic-pour-over?canceled=1",
      client_reference_id: shopper.id,
      metadata: { product: "ceramic-pour-over", shopper: shopper.id },
      customer_creation: "always",
    });
    expect(request!.idempotencyKey).toBe(`checkout-${token}`);

    const [row] = await rows();
    expect(location.endsWith(row!.id)).toBe(true);
    expect(row).toMatchObject({
      shopperId: shopper.id,
      quantity: 2,
      mode: "payment",
      status: "open",
      paymentStatus: "unpaid",
      amountTotal: 6400,
      currency: "usd",
      url: location,
      formToken: token,
      fulfilledAt: null,
    });
  });

  it("creates a subscription session for a subscription product, with no quantity field", async () => {
    const { token, cookie } = await openProductPage("coffee-club");
    const response = await buy("coffee-club", { token }, { cookie });
    expect(response.status).toBe(303);
    const [request] = await creates();
    expect(request!.params).toMatchObject({
      mode: "subscription",
      line_items: { "0": { price: "price_1TScoffeeClub", quantity: "1" } },
      success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
      cancel_url: "http://shop.test/products/coffee-club?canceled=1",
    });
    expect(request!.params).not.toHaveProperty("customer_creation");
    expect((await rows())[0]).toMatchObject({ mode: "subscription", quantity: 1, amountTotal: 1800, currency: "usd" });
  });

  it("reuses the shopper's Stripe customer once one is known", async () => {
    const { token, cookie } = await openProductPage("linen-apron");
    // The shopper from the page's cookie, who bought before and has a customer.
    const first = await buy("linen-apron", { quantity: "1", token }, { cookie });
    expect(first.status).toBe(303);
    await db.update(schema.shoppers).set({ stripeCustomerId: "cus_existing123" });
    await emu.reset();
    const customer = await fetch(`${emu.url}/v1/customers`, {
      method: "POST",
      headers: { Authorization: "Bearer sk_test_x", "Content-Type": "application/x-www-form-urlencoded" },
      body: "email=returning%40example.com",
    }).then((r) => r.json() as Promise<{ id: string }>);
    await db.update(schema.shoppers).set({ stripeCustomerId: customer.id });

    const again = await openProductPage("linen-apron", cookie);
    expect((await buy("linen-apron", { quantity: "3", token: again.token }, { cookie })).status).toBe(303);
    const [request] = await creates();
    expect(request!.params).toMatchObject({
      customer: customer.id,
      line_items: { "0": { price: "price_1TSlinenApron", quantity: "3" } },
    });
    expect(request!.params).not.toHaveProperty("customer_creation");
  });

  it("ignores prices, amounts, URLs and hosts that the form or the headers try to set", async () => {
    const { token, cookie } = await openProductPage("ceramic-pour-over");
    const response = await buy(
      "ceramic-pour-over",
      {
        quantity: "1",
        token,
        price: "price_cheap",
        unit_amount: "1",
        amount: "1",
        currency: "jpy",
        mode: "subscription",
        customer: "cus_someone_else",
        success_url: "https://evil.example/steal?session_id={CHECKOUT_SESSION_ID}",
        cancel_url: "https://evil.example/",
        slug: "gift-card",
      },
      {
        cookie,
        headers: {
          Host: "evil.example",
          "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Proto": "http",
          Origin: "http://shop.test",
        },
      },
    );
    expect(response.status).toBe(303);
    const [request] = await creates();
    expect(request!.params).toMatchObject({
      mode: "payment",
      line_items: { "0": { price: "price_1TSceramicPourOver", quantity: "1" } },
      success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
      cancel_url: "http://shop.test/products/ceramic-pour-over?canceled=1",
    });
    expect(request!.params).not.toHaveProperty("customer");
    expect((await rows())[0]).toMatchObject({ amountTotal: 3200, currency: "usd", mode: "payment" });
  });

  describe("refuses bad input with a clear message, storing nothing and calling no one", () => {
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ["a missing quantity", {}, /enter a quantity/],
      ["an empty quantity", { quantity: " " }, /enter a quantity/],
      ["a quantity that is not a number", { quantity: "two" }, /whole number/],
      ["a fractional quantity", { quantity: "1.5" }, /whole number/],
      ["a negative quantity", { quantity: "-1" }, /whole number/],
      ["a zero quantity", { quantity: "0" }, /at least 1/],
      ["a quantity above the product's maximum", { quantity: "6" }, /at most 5/],
      ["a huge quantity", { quantity: "99999999999999999999" }, /at most 5/],
    ];
    it.each(cases)("%s: 400", async (_name, fields, message) => {
      const { token, cookie } = await openProductPage("ceramic-pour-over");
      const response = await buy("ceramic-pour-over", { token, ...fields }, { cookie });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
      expect(await rows()).toHaveLength(0);
      expect(await shopperCount()).toBe(0);
      expect(await creates()).toHaveLength(0);
    });

    it("a missing or malformed token: 400", async () => {
      for (const token of [undefined, "", "short", "has spaces in it and more"]) {
        const response = await buy(
          "ceramic-pour-over",
          token === undefined ? { quantity: "1" } : { quantity: "1", token },
        );
        expect(response.status).toBe(400);
        expect(((await response.json()) as { error: string }).error).toMatch(/form has expired/);
      }
      expect(await rows()).toHaveLength(0);
      expect(await creates()).toHaveLength(0);
    });

    it("an unknown or inactive product: 404", async () => {
      expect((await buy("no-such-thing", { quantity: "1", token: "a".repeat(24) })).status).toBe(404);
      await db.update(schema.products).set({ active: false }).where(eq(schema.products.slug, "gift-card"));
      expect((await buy("gift-card", { token: "b".repeat(24) })).status).toBe(404);
      expect(await rows()).toHaveLength(0);
      expect(await shopperCount()).toBe(0);
      expect(await creates()).toHaveLength(0);
    });
  });

  it("answers a double submit of one form with the same session, making only one", async () => {
    const { token, cookie } = await openProductPage("ceramic-pour-over");
    const first = await buy("ceramic-pour-over", { quantity: "2", token }, { cookie });
    const second = await buy("ceramic-pour-over", { quantity: "2", token }, { cookie });
    expect(first.status).toBe(303);
    expect(second.status).toBe(303);
    expect(second.headers.get("Location")).toBe(first.headers.get("Location"));
    expect(await rows()).toHaveLength(1);
    expect(await creates()).toHaveLength(1);
  });

  it("answers two simultaneous submits of one form with the same session", async () => {
    const { token, cookie } = await openProductPage("ceramic-pour-over");
    const responses = await Promise.all(
      [1, 2, 3].map(() => buy("ceramic-pour-over", { quantity: "1", token }, { cookie })),
    );
    expect(responses.map((r) => r.status)).toEqual([303, 303, 303]);
    expect(new Set(responses.map((r) => r.headers.get("Location"))).size).toBe(1);
    expect(await rows()).toHaveLength(1);
    // Stripe saw the same idempotency key each time: one session exists there.
    const sessions = await fetch(`${emu.url}/v1/checkout/sessions`, {
      headers: { Authorization: "Bearer sk_test_x" },
    }).then((r) => r.json() as Promise<{ data: unknown[] }>);
    expect(sessions.data).toHaveLength(1);
  });

  it("refuses a reused token with a different quantity: 409, nothing new", async () => {
    const { token, cookie } = await openProductPage("ceramic-pour-over");
    expect((await buy("ceramic-pour-over", { quantity: "1", token }, { cookie })).status).toBe(303);
    const response = await buy("ceramic-pour-over", { quantity: "3", token }, { cookie });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toMatch(/already submitted for a quantity of 1/);
    expect(await rows()).toHaveLength(1);
    expect((await rows())[0]!.quantity).toBe(1);
    expect(await creates()).toHaveLength(1);
  });

  it("tells the shopper that nothing was charged when Stripe fails, and stores nothing", async () => {
    expectConsoleError(/checkout create failed/);
    await emu.fault({ pathPrefix: "/v1/checkout/sessions", status: 500 });
    const { token, cookie } = await openProductPage("ceramic-pour-over");
    const response = await buy("ceramic-pour-over", { quantity: "1", token }, { cookie });
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: string }).error).toBe(
      "The payment service did not answer. You have not been charged. Please try again.",
    );
    expect(await rows()).toHaveLength(0);
    expect(await shopperCount()).toBe(0);

    // The same form works once Stripe is back.
    await emu.clearFaults();
    expect((await buy("ceramic-pour-over", { quantity: "1", token }, { cookie })).status).toBe(303);
    expect(await rows()).toHaveLength(1);
  });

  it("gives up on a Stripe that never answers within the client's timeout", async () => {
    expectConsoleError(/checkout create failed/);
    await emu.fault({ pathPrefix: "/v1/checkout/sessions", hang: true });
    const { token, cookie } = await openProductPage("ceramic-pour-over");
    // With the SDK's 80 s default this would outlive the test's own 20 s limit.
    const response = await buy("ceramic-pour-over", { quantity: "1", token }, { cookie });
    expect(response.status).toBe(502);
    // The timeout is the whole wait: a timed-out try is not tried again.
    const tries = await creates();
    expect(tries).toHaveLength(1);
    expect(new Set(tries.map((t) => t.idempotencyKey))).toEqual(new Set([`checkout-${token}`]));
    expect(await rows()).toHaveLength(0);
    expect(await shopperCount()).toBe(0);
  });
});
