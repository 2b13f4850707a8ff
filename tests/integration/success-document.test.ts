import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { startBuiltServer, type Proc } from "../support/server";

/**
 * The success and orders pages as a browser without JavaScript gets them from
 * the built server (`npm start`): the documents, their status codes and
 * headers, including the error pages the route's `headers` export decorates.
 */

const emu = emulatorControl();
let server: Proc;

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url });
});
afterAll(() => server?.stop());

const cookieOf = (response: Response) => response.headers.get("set-cookie")?.split(";")[0] ?? null;

async function get(path: string, cookie?: string | null) {
  const response = await fetch(`${server.url}${path}`, {
    headers: cookie ? { Cookie: cookie } : {},
    redirect: "manual",
  });
  return { response, html: await response.text() };
}

const success = (id: string, cookie?: string | null) =>
  get(`/checkout/success?session_id=${encodeURIComponent(id)}`, cookie);

/** Product page, then its Buy form, as plain HTTP: the new checkout's id and the shopper's cookie. */
async function buy(slug: string, cookie?: string | null, quantity = "1") {
  const page = await get(`/products/${slug}`, cookie);
  const shopper = cookie ?? cookieOf(page.response)!;
  const token = /name="token" value="([^"]+)"/.exec(page.html)![1]!;
  const post = await fetch(`${server.url}/products/${slug}`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: shopper, Origin: server.url },
    body: new URLSearchParams({ quantity, token }),
  });
  expect(post.status).toBe(303);
  const id = /\/(cs_test_[A-Za-z0-9]+)$/.exec(post.headers.get("location")!)![1]!;
  return { id, cookie: shopper };
}

function expectPrivate(response: Response) {
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(response.headers.get("referrer-policy")).toBe("no-referrer");
}

const REFRESH = /<meta http-equiv="refresh" content="(\d+)"\/?>/;

describe("the success page, served without JavaScript", () => {
  it("refreshes itself while processing, then shows the paid order", async () => {
    const { id, cookie } = await buy("ceramic-pour-over", null, "2");

    const processing = await success(id, cookie);
    expect(processing.response.status).toBe(200);
    expectPrivate(processing.response);
    expect(processing.html).toContain("Your payment is being processed.");
    expect(REFRESH.exec(processing.html)?.[1]).toBe("3");

    await emu.pay(id, "card", "nojs@example.com");
    const paid = await success(id, cookie);
    expect(paid.response.status).toBe(200);
    expectPrivate(paid.response);
    expect(paid.html).toContain("Thank you: your payment went through.");
    expect(paid.html).toContain("Ceramic Pour-Over Dripper");
    expect(paid.html).toContain("$64.00");
    expect(paid.html).toContain("nojs@example.com");
    expect(paid.html).not.toMatch(REFRESH);
  });

  it("waits for the bank with a slower refresh, and words an expired checkout with a link back", async () => {
    const delayed = await buy("ceramic-pour-over");
    await emu.pay(delayed.id, "delayed");
    const waiting = await success(delayed.id, delayed.cookie);
    expect(waiting.html).toContain("We will email you when the payment clears");
    expect(REFRESH.exec(waiting.html)?.[1]).toBe("10");

    const gift = await buy("gift-card", delayed.cookie);
    await emu.expire(gift.id);
    const expired = await success(gift.id, gift.cookie);
    expect(expired.html).toContain("You were not charged.");
    expect(expired.html).toContain('href="/products/gift-card"');
    expect(expired.html).not.toMatch(REFRESH);
  });

  it("answers 404 and 400 pages with the same private headers and nothing of the order", async () => {
    const { id, cookie } = await buy("linen-apron");
    await emu.pay(id, "card", "secret-owner@example.com");
    expect((await success(id, cookie)).response.status).toBe(200);

    const notFound = await success(id, null);
    expect(notFound.response.status).toBe(404);
    expectPrivate(notFound.response);
    expect(notFound.html).toContain("We could not find that order.");
    for (const secret of ["secret-owner@example.com", "€49.00", "Linen Work Apron", id]) {
      expect(notFound.html).not.toContain(secret);
    }
    // The same page for an id that does not exist.
    const unknown = await success("cs_test_doesnotexist0000", null);
    expect(unknown.response.status).toBe(404);
    expect(unknown.html.replace(/nonce="[^"]*"/g, "")).toBe(notFound.html.replace(/nonce="[^"]*"/g, ""));

    const malformed = await get("/checkout/success?session_id=not-an-id");
    expect(malformed.response.status).toBe(400);
    expectPrivate(malformed.response);
    expect(malformed.html).toContain("That is not a valid order link.");

    // Remix's data requests (single fetch: <path>.data) get the loader's own headers.
    const data = await get(`/checkout/success.data?session_id=${id}&_routes=routes%2Fcheckout.success`);
    expect(data.response.status).toBe(404);
    expectPrivate(data.response);
  });

  it("slows down guessing: a 429 page with Retry-After, still private", async () => {
    const statuses: number[] = [];
    let blocked: Awaited<ReturnType<typeof get>> | null = null;
    for (let i = 0; i < 12 && !blocked; i++) {
      const attempt = await success(`cs_test_guess${i}`, null);
      statuses.push(attempt.response.status);
      if (attempt.response.status === 429) blocked = attempt;
    }
    expect(blocked).not.toBeNull();
    expect(statuses.slice(0, -1).every((s) => s === 404)).toBe(true);
    expect(statuses.length).toBeLessThanOrEqual(11);
    expectPrivate(blocked!.response);
    expect(Number(blocked!.response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(blocked!.html).toContain("Too many order links tried.");
  });
});

describe("the orders page, served without JavaScript", () => {
  it("lists the shopper's own orders, not cached, and a friendly page for no cookie", async () => {
    const { id, cookie } = await buy("coffee-club");
    await emu.pay(id);
    expect((await success(id, cookie)).response.status).toBe(200); // stores the completion

    const mine = await get("/orders", cookie);
    expect(mine.response.status).toBe(200);
    expect(mine.response.headers.get("cache-control")).toBe("no-store");
    expect(mine.html).toContain("Coffee Club Monthly");
    expect(mine.html).toContain("Paid: Subscription active");
    expect(mine.html).toMatch(/<form method="post" action="\/orders"/);
    expect(mine.html).toContain(`name="checkout" value="${id}"`);

    const anonymous = await get("/orders");
    expect(anonymous.response.status).toBe(200);
    expect(anonymous.response.headers.get("cache-control")).toBe("no-store");
    expect(anonymous.html).toContain("No orders yet.");
    expect(anonymous.html).not.toContain("Coffee Club Monthly");

    // Manage subscription: a plain form post answered with 303 to Stripe's portal.
    const post = await fetch(`${server.url}/orders`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie, Origin: server.url },
      body: new URLSearchParams({ intent: "portal", checkout: id }),
    });
    expect(post.status).toBe(303);
    expect(post.headers.get("location")).toMatch(new RegExp(`^${emu.url}/`));

    // Another browser naming the same checkout gets a page saying no, and Stripe is not asked.
    const before = (await emu.requestsTo("POST", "/v1/billing_portal/sessions")).length;
    const { cookie: stranger } = await buy("gift-card");
    const refused = await fetch(`${server.url}/orders`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: stranger, Origin: server.url },
      body: new URLSearchParams({ intent: "portal", checkout: id }),
    });
    expect(refused.status).toBe(404);
    expect(await refused.text()).toContain("We could not find that subscription among your orders.");
    expect(await emu.requestsTo("POST", "/v1/billing_portal/sessions")).toHaveLength(before);
  });
});
