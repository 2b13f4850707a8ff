import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { type Emulator, startEmulator } from "../server";

/**
 * What a person can do on the emulator's own pages without the control API:
 * cancel a subscription in the billing portal, and decide a bank debit on the
 * pending checkout page. Each sends the events Stripe sends.
 */

const CLUB = "price_1TScoffeeClub";
const CERAMIC = "price_1TSceramicPourOver";

let emulator: Emulator;
let stripe: Stripe;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, quiet: true });
  stripe = new Stripe("sk_test_emulator_tests", {
    host: "127.0.0.1",
    port: emulator.port,
    protocol: "http",
    maxNetworkRetries: 0,
    telemetry: false,
  });
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(async () => {
  await fetch(`${emulator.url}/_emulator/reset`, { method: "POST" });
});

function post(path: string, fields: Record<string, string>) {
  return fetch(`${emulator.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
    redirect: "manual",
  });
}

async function checkout(price: string, action: "card" | "delayed") {
  const session = await stripe.checkout.sessions.create({
    mode: price === CLUB ? "subscription" : "payment",
    line_items: [{ price, quantity: 1 }],
    success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
  });
  expect((await post(`/c/pay/${session.id}`, { email: "ada@example.com", action })).status).toBe(303);
  return stripe.checkout.sessions.retrieve(session.id);
}

async function portalFor(customer: string) {
  const portal = await stripe.billingPortal.sessions.create({ customer, return_url: "http://shop.test/orders" });
  return new URL(portal.url).pathname;
}

describe("billing portal", () => {
  it("cancels at the end of the period (customer.subscription.updated), then at once (customer.subscription.deleted)", async () => {
    const paid = await checkout(CLUB, "card");
    const subscription = paid.subscription as string;
    const path = await portalFor(paid.customer as string);
    const page = await (await fetch(`${emulator.url}${path}`)).text();
    expect(page).toContain("Cancel at the end of the period");
    expect(page).toContain("Cancel now");

    const later = await post(path, { subscription, action: "cancel_at_period_end" });
    expect(later.status).toBe(200);
    expect(await later.text()).toContain("cancels at the end of the period");
    const pending = await stripe.subscriptions.retrieve(subscription);
    expect(pending).toMatchObject({ status: "active", cancel_at_period_end: true });
    expect(pending.cancel_at).toBe(pending.items.data[0]!.current_period_end);

    const now = await post(path, { subscription, action: "cancel_now" });
    expect(await now.text()).toContain(`Subscription ${subscription} is canceled.`);
    expect(await stripe.subscriptions.retrieve(subscription)).toMatchObject({ status: "canceled" });

    const events = (await stripe.events.list({ type: "customer.subscription.*" })).data;
    expect(events.map((e) => e.type)).toEqual([
      "customer.subscription.deleted",
      "customer.subscription.updated",
      "customer.subscription.created",
    ]);
    expect(events[1]!.data.previous_attributes).toMatchObject({ cancel_at_period_end: false, cancel_at: null });
    expect(events[0]!.data.previous_attributes).toMatchObject({ status: "active" });
    expect(events[0]!.data.object).toMatchObject({ id: subscription, status: "canceled" });

    // Ended: no form any more, and another cancel is refused without a new event.
    expect(await (await fetch(`${emulator.url}${path}`)).text()).not.toContain("Cancel now");
    expect((await post(path, { subscription, action: "cancel_now" })).status).toBe(400);
    expect((await stripe.events.list({ type: "customer.subscription.*" })).data).toHaveLength(3);
  });

  it("refuses a subscription of another customer", async () => {
    const mine = await checkout(CLUB, "card");
    const theirs = await checkout(CLUB, "card");
    const path = await portalFor(mine.customer as string);
    expect((await post(path, { subscription: theirs.subscription as string, action: "cancel_now" })).status).toBe(400);
    expect(await stripe.subscriptions.retrieve(theirs.subscription as string)).toMatchObject({ status: "active" });
  });
});

describe("pending bank transfer page", () => {
  it.each([
    ["async_succeed", "paid", "checkout.session.async_payment_succeeded", "already paid"],
    ["async_fail", "unpaid", "checkout.session.async_payment_failed", "its payment failed"],
  ] as const)("%s: the page's button settles the debit and sends %s", async (action, paymentStatus, type, heading) => {
    const session = await checkout(CERAMIC, "delayed");
    const pageUrl = `/c/pay/${session.id}`;
    const pending = await (await fetch(`${emulator.url}${pageUrl}`)).text();
    expect(pending).toContain('id="debit-succeed"');
    expect(pending).toContain('id="debit-fail"');

    const answer = await post(pageUrl, { action });
    expect(answer.status).toBe(200);
    const after = await answer.text();
    expect(after).toContain(heading);
    expect(after).not.toContain('id="debit-succeed"');
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ payment_status: paymentStatus });
    const events = (await stripe.events.list({ type: "checkout.session.*" })).data;
    expect(events.map((e) => e.type)).toEqual([type, "checkout.session.completed"]);

    // Pressed again (a reload): nothing more happens.
    await post(pageUrl, { action });
    expect((await stripe.events.list({ type: "checkout.session.*" })).data).toHaveLength(2);
  });
});
