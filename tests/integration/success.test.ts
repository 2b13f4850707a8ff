import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { SuccessView } from "~/components/order-status";
import { onFulfill } from "~/lib/fulfillment.server";
import { orderLookups } from "~/lib/rate-limit.server";
import { stripe } from "~/lib/stripe.server";
import { loader, meta } from "~/routes/checkout.success";
import { loader as productLoader } from "~/routes/products.$slug";

import { getRequest, settle } from "../support/http";
import { PREVIOUS_SESSION_SECRET, SESSION_SECRET } from "../support/test-env";
import {
  buy,
  checkoutRow,
  cookieSignedWith,
  deliverWebhook,
  emu,
  newShopper,
  resetData,
  retrievals,
  shopperIn,
  tamper,
} from "./success-support";

/**
 * GET /checkout/success: the loader against a real temporary SQLite file and
 * the Stripe emulator. Checkouts are made through the Buy action, driven on
 * the emulator (pay, delayed payment, expiry, faults) and then looked up with
 * the shopper's cookie, another shopper's, or none.
 */

function successPage(sessionId: string | null, cookie?: string | null, context: Record<string, unknown> = {}) {
  const path =
    sessionId === null ? "/checkout/success" : `/checkout/success?session_id=${encodeURIComponent(sessionId)}`;
  return settle(() => loader({ request: getRequest(path, { cookie }), params: {}, context }));
}

async function viewOf(response: Response) {
  expect(response.status).toBe(200);
  return (await response.json()) as SuccessView;
}

function expectPrivate(response: Response) {
  expect(response.headers.get("Cache-Control")).toBe("no-store");
  expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
}

const NOT_FOUND_TEXT =
  "Orders show only in the browser they were bought with. If you paid, your receipt is in your email.";

let fulfilled: string[] = [];
let stopCounting: () => void = () => {};

beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
  await resetData();
  orderLookups.reset();
  fulfilled = [];
  stopCounting = onFulfill((_tx, checkout) => {
    fulfilled.push(checkout.id);
  });
});

afterEach(async () => stopCounting());

describe("this shopper's own checkout", () => {
  it("paid (the webhook already landed): shows the order and asks Stripe nothing", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 2);
    await emu.pay(id, "card", "ada@example.com");
    await deliverWebhook(id);
    await emu.reset(); // forget the requests so far

    const response = await successPage(id, cookie);
    expectPrivate(response);
    expect(await viewOf(response)).toEqual({
      state: "paid",
      refreshSeconds: null,
      order: {
        productName: "Ceramic Pour-Over Dripper",
        productSlug: "ceramic-pour-over",
        mode: "payment",
        quantity: 2,
        // Buy now stores its one line too.
        lines: [{ name: "Ceramic Pour-Over Dripper", quantity: 2, unitPrice: "$32.00", lineTotal: "$64.00" }],
        amount: "$64.00",
        email: "ada@example.com",
        afterPayment: null,
        totals: null,
      },
      // Buy now leaves the cart as it was: empty for this shopper (the header's count).
      cartCount: 0,
    });
    expect(await emu.requests()).toHaveLength(0);
    expect(fulfilled).toEqual([id]);
  });

  it("pending with Stripe saying paid: asks Stripe once, ends paid, fulfilled once", async () => {
    const cookie = await newShopper();
    const id = await buy("linen-apron", cookie, 1);
    await emu.pay(id, "card", "grace@example.com");

    const view = await viewOf(await successPage(id, cookie));
    expect(view.state).toBe("paid");
    expect(view.order).toMatchObject({ productName: "Linen Work Apron", amount: "€49.00", email: "grace@example.com" });
    expect(await retrievals(id)).toHaveLength(1);
    expect(await checkoutRow(id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    expect((await checkoutRow(id)).fulfilledAt).not.toBeNull();
    expect(fulfilled).toEqual([id]);

    // Reloading shows the stored state: no second question, no second fulfillment.
    expect((await viewOf(await successPage(id, cookie))).state).toBe("paid");
    expect(await retrievals(id)).toHaveLength(1);
    expect(fulfilled).toEqual([id]);
  });

  it("pending with Stripe saying unpaid: the processing page, refreshing every 3 s, asking once per load", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);

    const response = await successPage(id, cookie);
    expectPrivate(response);
    const view = await viewOf(response);
    expect(view).toMatchObject({ state: "processing", refreshSeconds: 3 });
    expect(view.order.amount).toBe("$32.00");
    expect(await retrievals(id)).toHaveLength(1);

    // The refresh tag the document carries (see success-document.test.ts for the HTML).
    const tags = meta({ data: view } as Parameters<typeof meta>[0]);
    expect(tags).toContainEqual({ httpEquiv: "refresh", content: "3" });

    // The next load (the refresh) asks again, once.
    expect((await viewOf(await successPage(id, cookie))).state).toBe("processing");
    expect(await retrievals(id)).toHaveLength(2);
    expect(fulfilled).toEqual([]);
  });

  it("pending with Stripe down: the processing page and a warning, not an error", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id);
    await emu.fault({ method: "GET", pathPrefix: "/v1/checkout/sessions/", status: 500 });

    const response = await successPage(id, cookie);
    expectPrivate(response);
    expect(await viewOf(response)).toMatchObject({ state: "processing", refreshSeconds: 3 });
    expect(await retrievals(id)).toHaveLength(1);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`Stripe did not answer.*session=${id}`)));
    expect(await checkoutRow(id)).toMatchObject({ status: "open", paymentStatus: "unpaid", fulfilledAt: null });

    // Once Stripe answers again, the next refresh shows the truth.
    await emu.clearFaults();
    expect((await viewOf(await successPage(id, cookie))).state).toBe("paid");
    expect(fulfilled).toEqual([id]);
  });

  it("pending with Stripe not answering at all: the processing page once the client gives up", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.fault({ method: "GET", pathPrefix: "/v1/checkout/sessions/", hang: true });

    expect(await viewOf(await successPage(id, cookie))).toMatchObject({ state: "processing", refreshSeconds: 3 });
    // Asked once: no retry within a page load.
    expect(await retrievals(id)).toHaveLength(1);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Stripe did not answer/));
  });

  it("async payment pending: waiting for the bank, refreshing more slowly, not fulfilled", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id, "delayed", "bank@example.com");

    const view = await viewOf(await successPage(id, cookie));
    expect(view).toMatchObject({ state: "waiting_for_bank", refreshSeconds: 10 });
    expect(view.order.email).toBe("bank@example.com");
    expect(await checkoutRow(id)).toMatchObject({ status: "complete", paymentStatus: "unpaid", fulfilledAt: null });
    expect(fulfilled).toEqual([]);

    // The bank pays: the next load sees it (Stripe says paid) and fulfills once.
    await emu.asyncSucceed(id);
    expect((await viewOf(await successPage(id, cookie))).state).toBe("paid");
    await deliverWebhook(id, "checkout.session.async_payment_succeeded");
    expect((await viewOf(await successPage(id, cookie))).state).toBe("paid");
    expect(fulfilled).toEqual([id]);
  });

  it("async payment failed: says so, and that nothing was charged, without asking Stripe", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id, "delayed");
    await deliverWebhook(id, "checkout.session.completed");
    await emu.asyncFail(id);
    await deliverWebhook(id, "checkout.session.async_payment_failed");
    await emu.reset();

    const response = await successPage(id, cookie);
    expectPrivate(response);
    expect(await viewOf(response)).toMatchObject({ state: "failed", refreshSeconds: null });
    expect(await emu.requests()).toHaveLength(0);
    expect(fulfilled).toEqual([]);
  });

  it("expired: says so, with the product to go back to", async () => {
    const cookie = await newShopper();
    const id = await buy("gift-card", cookie);
    await emu.expire(id);

    const view = await viewOf(await successPage(id, cookie));
    expect(view).toMatchObject({
      state: "expired",
      refreshSeconds: null,
      order: { productSlug: "gift-card", productName: "Digital Gift Card" },
    });
    expect((await checkoutRow(id)).status).toBe("expired");
    expect(meta({ data: view } as Parameters<typeof meta>[0])).not.toContainEqual(
      expect.objectContaining({ httpEquiv: "refresh" }),
    );

    // Final: the next load does not ask Stripe again.
    await viewOf(await successPage(id, cookie));
    expect(await retrievals(id)).toHaveLength(1);
  });

  it("a cookie signed with the previous secret during rotation: accepted, and re-signed with the newest", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id);
    await deliverWebhook(id);
    const old = await cookieSignedWith(cookie, [PREVIOUS_SESSION_SECRET]);
    expect(await shopperIn(old, [SESSION_SECRET])).toBeNull(); // really signed by the old secret only

    const response = await successPage(id, old);
    expect((await viewOf(response)).state).toBe("paid");
    const setCookie = response.headers.get("Set-Cookie");
    expect(setCookie).toMatch(/^shopper=/);
    const renewed = setCookie!.split(";")[0]!;
    expect(await shopperIn(renewed, [SESSION_SECRET])).toBe(await shopperIn(cookie, [SESSION_SECRET]));

    // A cookie already signed by the newest secret is left alone.
    expect((await successPage(id, cookie)).headers.get("Set-Cookie")).toBeNull();
  });
});

describe("an id that is not this shopper's: the same 404 every time, with nothing of the order", () => {
  async function paidOrderOfAnotherShopper() {
    const owner = await newShopper();
    const id = await buy("ceramic-pour-over", owner, 3);
    await emu.pay(id, "card", "owner@example.com");
    await deliverWebhook(id);
    return { id, owner };
  }

  async function expectNotFound(response: Response) {
    expect(response.status).toBe(404);
    expectPrivate(response);
    const text = await response.text();
    expect(text).toBe(NOT_FOUND_TEXT);
    for (const secret of ["owner@example.com", "$96.00", "96", "Ceramic", "ceramic-pour-over", "cs_test_"]) {
      expect(text).not.toContain(secret);
    }
    return text;
  }

  it("another shopper's paid id, an unknown id, no cookie and a tampered cookie look the same", async () => {
    const { id, owner } = await paidOrderOfAnotherShopper();
    const stranger = await newShopper();
    await buy("gift-card", stranger); // a shopper with orders of their own
    await emu.reset();

    const bodies = [
      await expectNotFound(await successPage(id, stranger)), // another shopper's paid id
      await expectNotFound(await successPage("cs_test_a1B2c3D4e5F6g7H8i9J0unknown", owner)), // unknown id
      await expectNotFound(await successPage(id, null)), // no cookie
      await expectNotFound(await successPage(id, tamper(owner))), // tampered cookie
    ];
    expect(new Set(bodies).size).toBe(1);
    // No look-up reached Stripe, and nothing about the order changed.
    expect(await emu.requests()).toHaveLength(0);
    expect(await checkoutRow(id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    // The owner still sees it.
    expect((await viewOf(await successPage(id, owner))).state).toBe("paid");
  });

  it("another shopper's pending id does not make the app ask Stripe about it", async () => {
    const owner = await newShopper();
    const id = await buy("ceramic-pour-over", owner, 1);
    await emu.pay(id);
    const stranger = await newShopper();
    await expectNotFound(await successPage(id, stranger));
    expect(await retrievals(id)).toHaveLength(0);
    expect(await checkoutRow(id)).toMatchObject({ status: "open", fulfilledAt: null });
    expect(fulfilled).toEqual([]);
  });

  it("a missing or malformed id: 400, with the same private headers", async () => {
    const cookie = await newShopper();
    const malformed = [
      null,
      "",
      "cs_test_",
      "cs_prod_abc123",
      "pi_3Nabc",
      "cs_test_abc/../x",
      "cs_test_abc def",
      "cs_test_{CHECKOUT_SESSION_ID}",
      `cs_test_${"a".repeat(256)}`,
      "CS_TEST_abc",
    ];
    const bodies = new Set<string>();
    for (const id of malformed) {
      orderLookups.reset(); // this case is about the 400, not the bound
      const response = await successPage(id, cookie);
      expect(response.status, String(id)).toBe(400);
      expectPrivate(response);
      bodies.add(await response.text());
    }
    expect([...bodies]).toEqual(["An order link ends in ?session_id=cs_... exactly as the payment page sent it."]);
    expect(await retrievals()).toHaveLength(0);
  });
});

describe("the guessing bound", () => {
  it("answers 429 with Retry-After after 10 failed look-ups a minute, but never hides the shopper's own order", async () => {
    const cookie = await newShopper();
    const own = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(own);

    // Looking at one's own order never counts.
    for (let i = 0; i < 15; i++) expect((await successPage(own, cookie)).status).toBe(200);

    for (let i = 0; i < 10; i++) {
      const guess = `cs_test_guess${i}`;
      expect((await successPage(i % 2 ? guess : "nope", cookie)).status).toBe(i % 2 ? 404 : 400);
    }
    const blocked = await successPage("cs_test_guess10", cookie);
    expect(blocked.status).toBe(429);
    expectPrivate(blocked);
    const retryAfter = Number(blocked.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    expect(await blocked.text()).toBe("Nothing was looked up.");
    expect((await successPage("nope", cookie)).status).toBe(429);

    // The shopper's own order still shows, and still tells the truth.
    expect((await viewOf(await successPage(own, cookie))).state).toBe("paid");
  });

  it("counts per client: another shopper, or another address from the server, has its own bound", async () => {
    const guesser = await newShopper();
    await buy("gift-card", guesser); // known to the database: gets a bucket of its own
    for (let i = 0; i < 10; i++) await successPage(`cs_test_guess${i}`, guesser);
    expect((await successPage("cs_test_more", guesser)).status).toBe(429);

    const other = await newShopper();
    await buy("gift-card", other);
    expect((await successPage("cs_test_more", other)).status).toBe(404);

    // With the client address in the load context, that is the key.
    for (let i = 0; i < 10; i++) await successPage(`cs_test_guess${i}`, null, { clientAddress: "203.0.113.7" });
    expect((await successPage("cs_test_more", null, { clientAddress: "203.0.113.7" })).status).toBe(429);
    expect((await successPage("cs_test_more", null, { clientAddress: "203.0.113.8" })).status).toBe(404);
  });

  it("puts cookies the database does not know in one shared bucket: minting cookies does not buy guesses", async () => {
    for (let i = 0; i < 10; i++) {
      const fresh = await newShopper(); // a cookie, but no checkout: unknown to the database
      expect((await successPage(`cs_test_guess${i}`, fresh)).status).toBe(404);
    }
    expect((await successPage("cs_test_more", await newShopper())).status).toBe(429);
    expect((await successPage("cs_test_more", null)).status).toBe(429);
  });
});

describe("fulfilled once, however the news arrives", () => {
  it("success page first, then the webhook", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id);
    expect((await viewOf(await successPage(id, cookie))).state).toBe("paid");
    const webhook = await deliverWebhook(id);
    expect(webhook).toMatchObject({ duplicate: false, fulfilled: false });
    expect(fulfilled).toEqual([id]);
  });

  it("webhook first, then the success page", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id);
    expect(await deliverWebhook(id)).toMatchObject({ fulfilled: true });
    expect((await viewOf(await successPage(id, cookie))).state).toBe("paid");
    expect(await retrievals(id)).toHaveLength(0);
    expect(fulfilled).toEqual([id]);
  });

  it("both at once: the webhook lands while the success page is asking Stripe", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await emu.pay(id);

    // The webhook is applied after the page read the pending row and while
    // its request to Stripe is in flight: the worst interleaving for a double fulfillment.
    const retrieve = stripe.checkout.sessions.retrieve.bind(stripe.checkout.sessions);
    let webhook: Promise<unknown> | null = null;
    vi.spyOn(stripe.checkout.sessions, "retrieve").mockImplementation(((...args: Parameters<typeof retrieve>) => {
      webhook ??= deliverWebhook(id);
      return webhook.then(() => retrieve(...args));
    }) as typeof retrieve);

    // Two tabs on the success page at the same time, too.
    const [first, second] = await Promise.all([successPage(id, cookie), successPage(id, cookie)]);
    expect((await viewOf(first)).state).toBe("paid");
    expect((await viewOf(second)).state).toBe("paid");
    expect(webhook).not.toBeNull();
    expect((await retrievals(id)).length).toBeGreaterThan(0);
    expect(fulfilled).toEqual([id]);
    expect((await checkoutRow(id)).fulfilledAt).not.toBeNull();
  });
});

describe("cancel: back to the product page", () => {
  it("Stripe's cancel_url is the product page with ?canceled=1, which offers a fresh Buy form", async () => {
    const cookie = await newShopper();
    await buy("ceramic-pour-over", cookie, 1);
    const [create] = await emu.requestsTo("POST", "/v1/checkout/sessions");
    expect(create!.params.cancel_url).toBe("http://shop.test/products/ceramic-pour-over?canceled=1");

    const page = await settle(() =>
      productLoader({
        request: getRequest("/products/ceramic-pour-over?canceled=1", { cookie }),
        params: { slug: "ceramic-pour-over" },
        context: {},
      }),
    );
    expect(page.status).toBe(200);
    const data = (await page.json()) as { canceled: boolean; token: string };
    expect(data.canceled).toBe(true);
    expect(data.token).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });
});
