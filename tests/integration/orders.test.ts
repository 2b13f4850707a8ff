import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it, vi } from "vitest";

import type { OrderListItem } from "~/components/order-list";
import { db, schema } from "../support/db";
import { PORTAL_MESSAGES } from "~/lib/orders.server";
import { action, loader } from "~/routes/orders";

import { expectConsoleError } from "../support/console";
import { formRequest, getRequest, settle } from "../support/http";
import { PREVIOUS_SESSION_SECRET } from "../support/test-env";
import {
  buy,
  checkoutRow,
  cookieSignedWith,
  deliverWebhook,
  emu,
  newShopper,
  resetData,
  tamper,
} from "./success-support";

/** GET /orders and the "Manage subscription" action, against SQLite and the Stripe emulator. */

async function ordersPage(cookie?: string | null) {
  const response = await settle(() => loader({ request: getRequest("/orders", { cookie }), params: {}, context: {} }));
  return {
    response,
    orders: response.status === 200 ? ((await response.clone().json()) as { orders: OrderListItem[] }).orders : [],
  };
}

function managePost(fields: Record<string, string>, cookie?: string | null, headers: Record<string, string> = {}) {
  return settle(() =>
    action({
      request: formRequest("/orders", { intent: "portal", ...fields }, { cookie, headers }),
      params: {},
      context: {},
    }),
  );
}

let requestsBefore = 0;
/** Marks the emulator's request log: later assertions see only what came after. */
const mark = async () => {
  requestsBefore = (await emu.requests()).length;
};
const requestsSince = async () => (await emu.requests()).slice(requestsBefore);
const portalRequests = async () =>
  (await requestsSince()).filter((r) => r.method === "POST" && r.path.startsWith("/v1/billing_portal/sessions"));

/** A shopper with a paid subscription (and its Stripe customer) stored. */
async function subscriber() {
  const cookie = await newShopper("coffee-club");
  const id = await buy("coffee-club", cookie);
  await emu.pay(id, "card", "club@example.com");
  await deliverWebhook(id);
  const row = await checkoutRow(id);
  expect(row.stripeCustomerId).toMatch(/^cus_/);
  expect(row.stripeSubscriptionId).toMatch(/^sub_/);
  return { cookie, id, customer: row.stripeCustomerId! };
}

beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
  await resetData();
  requestsBefore = 0;
});

describe("GET /orders", () => {
  it("without a cookie: no orders yet, 200, not cached", async () => {
    const { response, orders } = await ordersPage(null);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Set-Cookie")).toBeNull(); // a visit creates no shopper
    expect(orders).toEqual([]);
  });

  it("shows only the shopper's own checkouts, newest first, with their state in words", async () => {
    const alice = await newShopper();
    const apron = await buy("linen-apron", alice, 2);
    const dripper = await buy("ceramic-pour-over", alice, 3);
    await emu.pay(dripper, "card", "alice@example.com");
    await deliverWebhook(dripper);
    const gift = await buy("gift-card", alice);
    await emu.expire(gift);
    await deliverWebhook(gift, "checkout.session.expired");
    // Made in this order; stored times one apart so that "newest first" is unambiguous.
    for (const [i, id] of [apron, dripper, gift].entries()) {
      await db
        .update(schema.checkoutSessions)
        .set({ createdAt: Date.UTC(2025, 0, 10 + i) })
        .where(eq(schema.checkoutSessions.id, id));
    }

    const bob = await newShopper();
    const bobs = await buy("ceramic-pour-over", bob, 1);

    const { response, orders } = await ordersPage(alice);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(orders).toEqual([
      {
        id: gift,
        productName: "Digital Gift Card",
        quantity: 1,
        lines: [{ name: "Digital Gift Card", quantity: 1, unitPrice: "£25.00", lineTotal: "£25.00" }],
        amount: "£25.00",
        totals: null,
        state: "Expired: not charged",
        date: "Jan 12, 2025",
        dateTime: "2025-01-12T00:00:00.000Z",
        canManage: false,
      },
      {
        id: dripper,
        productName: "Ceramic Pour-Over Dripper",
        quantity: 3,
        lines: [{ name: "Ceramic Pour-Over Dripper", quantity: 3, unitPrice: "$32.00", lineTotal: "$96.00" }],
        amount: "$96.00",
        totals: null,
        state: "Paid",
        date: "Jan 11, 2025",
        dateTime: "2025-01-11T00:00:00.000Z",
        canManage: false,
      },
      {
        id: apron,
        productName: "Linen Work Apron",
        quantity: 2,
        lines: [{ name: "Linen Work Apron", quantity: 2, unitPrice: "€49.00", lineTotal: "€98.00" }],
        amount: "€98.00",
        totals: null,
        state: "Checkout not completed",
        date: "Jan 10, 2025",
        dateTime: "2025-01-10T00:00:00.000Z",
        canManage: false,
      },
    ]);

    const bobsPage = await ordersPage(bob);
    expect(bobsPage.orders.map((o) => o.id)).toEqual([bobs]);
    // A tampered cookie is no cookie.
    expect((await ordersPage(tamper(alice))).orders).toEqual([]);
  });

  it("offers Manage subscription for a subscription with a customer, and words its state", async () => {
    const { cookie, id } = await subscriber();
    const { orders } = await ordersPage(cookie);
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({
      id,
      productName: "Coffee Club Monthly",
      canManage: true,
      state: "Paid: Subscription active",
    });

    await db
      .update(schema.checkoutSessions)
      .set({ subscriptionStatus: "canceled" })
      .where(eq(schema.checkoutSessions.id, id));
    expect((await ordersPage(cookie)).orders[0]!.state).toBe("Paid: Subscription canceled");
  });

  it("accepts a cookie signed with the previous secret and re-signs it", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    const old = await cookieSignedWith(cookie, [PREVIOUS_SESSION_SECRET]);
    const { response, orders } = await ordersPage(old);
    expect(orders.map((o) => o.id)).toEqual([id]);
    expect(response.headers.get("Set-Cookie")).toMatch(/^shopper=/);
  });
});

describe("POST /orders: Manage subscription", () => {
  it("opens the billing portal for the shopper's own customer: 303 to it, back to /orders after", async () => {
    const { cookie, id, customer } = await subscriber();
    await mark();
    const response = await managePost({ checkout: id }, cookie);
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toMatch(new RegExp(`^${emu.url}/`));
    const [request, ...others] = await portalRequests();
    expect(others).toHaveLength(0);
    expect(request!.params).toEqual({ customer, return_url: "http://shop.test/orders" });
  });

  it("without a checkout named, opens the portal for the shopper's own subscription", async () => {
    const { cookie, customer } = await subscriber();
    await mark();
    expect((await managePost({}, cookie)).status).toBe(303);
    expect((await portalRequests())[0]!.params).toMatchObject({ customer });
  });

  it("refuses another shopper's checkout or customer: 404, and Stripe is not asked", async () => {
    const owner = await subscriber();
    const stranger = await newShopper();
    await buy("ceramic-pour-over", stranger, 1); // a shopper with orders, but no subscription
    await mark();

    const cases = [
      [{ checkout: owner.id }, PORTAL_MESSAGES.notFound],
      // A customer id in the form is never read.
      [{ checkout: owner.id, customer: owner.customer }, PORTAL_MESSAGES.notFound],
      [{ customer: owner.customer }, PORTAL_MESSAGES.noSubscription],
      [{ checkout: "cs_test_doesnotexist123" }, PORTAL_MESSAGES.notFound],
    ] as const;
    for (const [fields, message] of cases) {
      const response = await managePost(fields, stranger);
      expect(response.status, JSON.stringify(fields)).toBe(404);
      expect(await response.json()).toEqual({
        error: { checkout: "checkout" in fields ? fields.checkout : null, message },
      });
    }
    expect(await portalRequests()).toHaveLength(0);
    expect(await requestsSince()).toHaveLength(0);
  });

  it("refuses a visitor with no cookie (403), a malformed reference (400), an unknown form (400), another site (403)", async () => {
    const owner = await subscriber();
    await mark();

    const noCookie = await managePost({ checkout: owner.id }, null);
    expect(noCookie.status).toBe(403);
    expect(((await noCookie.json()) as { error: { message: string } }).error.message).toBe(PORTAL_MESSAGES.noShopper);

    const tampered = await managePost({ checkout: owner.id }, tamper(owner.cookie));
    expect(tampered.status).toBe(403);

    const malformed = await managePost({ checkout: "cus_123" }, owner.cookie);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { message: string } }).error.message).toBe(
      PORTAL_MESSAGES.badReference,
    );

    const unknownIntent = await settle(() =>
      action({
        request: formRequest("/orders", { intent: "delete", checkout: owner.id }, { cookie: owner.cookie }),
        params: {},
        context: {},
      }),
    );
    expect(unknownIntent.status).toBe(400);

    const crossSite = await managePost({ checkout: owner.id }, owner.cookie, { "Sec-Fetch-Site": "cross-site" });
    expect(crossSite.status).toBe(403);

    expect(await requestsSince()).toHaveLength(0);
  });

  it("a subscription that is not (yet) linked to a customer cannot be managed", async () => {
    const cookie = await newShopper("coffee-club");
    const id = await buy("coffee-club", cookie); // not paid: no customer, no subscription
    await mark();
    const response = await managePost({ checkout: id }, cookie);
    expect(response.status).toBe(404);
    expect(await portalRequests()).toHaveLength(0);
  });

  it("Stripe down: 502 with a clear message, and a warning in the log", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { cookie, id } = await subscriber();
    await emu.fault({ pathPrefix: "/v1/billing_portal", status: 500 });
    const response = await managePost({ checkout: id }, cookie);
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: { checkout: id, message: PORTAL_MESSAGES.stripeDown } });
    expect(PORTAL_MESSAGES.stripeDown).toMatch(/^The payment service did not answer/);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(new RegExp(`billing portal: Stripe did not answer checkout=${id}`)),
    );
  });

  it("Stripe refusing the request (a customer it does not know): 502 too, logged as an error for the operator", async () => {
    expectConsoleError(/billing portal: Stripe did not answer .*type=StripeInvalidRequestError/);
    const { cookie, id } = await subscriber();
    await db
      .update(schema.checkoutSessions)
      .set({ stripeCustomerId: "cus_notatstripe" })
      .where(eq(schema.checkoutSessions.id, id));
    const response = await managePost({ checkout: id }, cookie);
    expect(response.status).toBe(502);
    expect((await portalRequests())[0]!.params).toMatchObject({ customer: "cus_notatstripe" });
  });
});
