import { readFileSync } from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { root } from "../support/processes";
import { header, part, startSmtp, type TestSmtp } from "../support/smtp";
import { launchBrowser } from "./support/browser";
import {
  addToCart as addCartLine,
  cartLink,
  hostedPageUrl,
  landOnSuccessPage,
  openOrders,
  payWith,
  screenshot,
  see,
  SUCCESS,
} from "./support/pages";
import type { BrowserShop } from "./support/scaffold";
import { shopperPerTest } from "./support/scaffold";
import { startShop } from "./support/shop";

/**
 * A cart with Checkout's options on, in Chromium against the built app, the
 * Stripe emulator and a real SMTP server (the built app's job worker sends
 * the confirmation over MAIL_URL): the shopper adds two usd products (one
 * shippable), changes a quantity, checks out, enters the emulator's
 * promotion code, an address and the express rate on the hosted page, pays,
 * and reads the lines and the totals on the success page, on /orders and in
 * the mail; the cart is empty afterwards (Stripe's webhook is held until the
 * success page has recorded the payment, so its header counts the cart after
 * that). And a double submit of the cart's Check out opens one session, a
 * changed cart a new one. Once with JavaScript off, once on. The expected
 * figures come from db/catalog.json and the emulator's rules.
 */

type CatalogProduct = {
  slug: string;
  name: string;
  stripePriceId: string;
  unitAmount: number;
  currency: string;
  shippable?: boolean;
};
const catalog = (JSON.parse(readFileSync(path.join(root, "db/catalog.json"), "utf8")) as { products: CatalogProduct[] })
  .products;
const product = (slug: string) => {
  const found = catalog.find((p) => p.slug === slug);
  if (!found) throw new Error(`no ${slug} in db/catalog.json`);
  return found;
};
const POUR_OVER = product("ceramic-pour-over");
const MUG = product("stoneware-mug");

// The emulator's rules (stripe-emulator/README.md): WELCOME10 takes 10% off the
// line items, automatic tax is a flat 8% of the line items after the discount
// (shipping untaxed), the standard rate is $5.00 and preselected, express $15.00.
const RATES = { standard: 500, express: 1500 };
function expectedTotals(lines: { unitAmount: number; quantity: number }[], code: boolean, rate: keyof typeof RATES) {
  const subtotal = lines.reduce((sum, l) => sum + l.unitAmount * l.quantity, 0);
  const discount = code ? Math.round(subtotal * 0.1) : 0;
  const tax = Math.round((subtotal - discount) * 0.08);
  const shipping = RATES[rate];
  return { subtotal, discount, tax, shipping, total: subtotal - discount + tax + shipping };
}
const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;

const shop = {} as BrowserShop;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  const [browser, started] = await Promise.allSettled([
    launchBrowser(),
    startShop({
      env: {
        CHECKOUT_PROMOTION_CODES: "on",
        CHECKOUT_AUTOMATIC_TAX: "on",
        CHECKOUT_SHIPPING_COUNTRIES: "US",
        CHECKOUT_SHIPPING_RATES: "shr_emulator_standard,shr_emulator_express",
        // The job worker in the built app, mailing the confirmation to the SMTP server above.
        WORKER: "on",
        MAIL_URL: `smtp://127.0.0.1:${smtp.port}`,
      },
    }),
  ]);
  if (browser.status === "fulfilled") shop.browser = browser.value;
  if (started.status === "fulfilled") Object.assign(shop, started.value);
  if (browser.status === "rejected") throw browser.reason;
  if (started.status === "rejected") throw started.reason;
}, 150_000);

afterAll(async () => {
  await shop.browser?.close();
  await shop.stop?.();
  await smtp?.stop();
});

const addToCart = (page: Page, slug: string, name: string, quantity: number) =>
  addCartLine(page, shop.url, slug, name, quantity);

function storedCheckouts() {
  const db = new Database(shop.server.databasePath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT id FROM checkout_sessions ORDER BY id").all() as { id: string }[]).map((r) => r.id);
  } finally {
    db.close();
  }
}

async function mailTo(address: string) {
  for (let tries = 0; tries < 60; tries++) {
    const mail = smtp.received.filter((m) => m.to.includes(address));
    if (mail.length > 0) return mail;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`No mail to ${address} arrived; the app said:\n${shop.tail()}`);
}

/**
 * After a double submit without JavaScript the second post aborts the first
 * navigation, which Playwright reports as ERR_ABORTED: wait again for the one
 * the browser kept.
 */
async function landAfterDoubleSubmit(page: Page) {
  for (let attempt = 0; ; attempt++) {
    try {
      await page.waitForURL(hostedPageUrl(shop));
      return;
    } catch (error: unknown) {
      if (attempt >= 2 || !String(error).includes("ERR_ABORTED")) throw error;
    }
  }
}

describe.each([false, true])("a cart with Checkout's options in Chromium, JavaScript enabled: %s", (javaScript) => {
  const shopper = shopperPerTest(shop, { javaScript });

  it("two products, a changed quantity, the code and express shipping: lines and totals on the success page, /orders and the mail; the cart empty", async () => {
    const { page } = shopper;
    const email = `cart-options-${javaScript ? "js" : "nojs"}@example.com`;
    expect(POUR_OVER.shippable).toBe(true);
    expect([POUR_OVER.currency, MUG.currency]).toEqual(["usd", "usd"]);
    const lines = [
      { ...POUR_OVER, quantity: 2 },
      { ...MUG, quantity: 3 },
    ];

    await addToCart(page, POUR_OVER.slug, POUR_OVER.name, 1);
    await addToCart(page, MUG.slug, MUG.name, 3);
    await see(cartLink(page).filter({ hasText: "(4)" }), "the header's count of 4");
    await page.getByLabel(`Quantity of ${POUR_OVER.name}`).fill("2");
    await page.getByRole("row").filter({ hasText: POUR_OVER.name }).getByRole("button", { name: "Update" }).click();
    await see(
      page
        .getByRole("row")
        .filter({ hasText: POUR_OVER.name })
        .getByText(usd(POUR_OVER.unitAmount * 2)),
      "the new line total",
    );
    await see(cartLink(page).filter({ hasText: "(5)" }), "the header's count of 5");

    await page.getByRole("button", { name: "Check out" }).click();
    await page.waitForURL(hostedPageUrl(shop));
    const sessionId = new URL(page.url()).pathname.split("/").pop()!;
    const preselected = expectedTotals(lines, false, "standard");
    await see(
      page.getByText(`Total: ${usd(preselected.total)}`),
      "the hosted page's total with standard shipping and tax",
    );

    const totals = expectedTotals(lines, true, "express");
    await page.getByLabel(/Promotion code/).fill("WELCOME10");
    await page.getByLabel(/Express shipping/).check();
    await page.getByRole("button", { name: "Apply" }).click();
    await see(
      page.getByText(`Total: ${usd(totals.total)}`),
      "the hosted page's total with the code and express shipping",
    );
    await page.locator("#email").fill(email);
    await page.getByLabel("Name").fill("Ada Lovelace");
    await page.getByLabel("Address", { exact: true }).fill("12 Analytical Row");
    await page.getByLabel("City").fill("Portland");
    await page.getByLabel("Postal code", { exact: true }).fill("97201");
    await page.getByLabel("Country").selectOption("US");
    // Stripe's webhook late: the success page itself finds the payment (and the state machine settles the cart).
    await shop.stripe.delivery({ mode: "hold" });
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");
    // The header on that very page counts the cart as it is now: empty.
    expect(await cartLink(page).textContent()).toBe("Cart");
    await shop.stripe.release();

    // The session the shop asked for: one line item per cart line, the options on.
    const created = await shop.stripe.requestsTo("POST", "/v1/checkout/sessions");
    expect(created).toHaveLength(1);
    expect(created[0]?.params).toMatchObject({
      allow_promotion_codes: "true",
      automatic_tax: { enabled: "true" },
      shipping_address_collection: { allowed_countries: { 0: "US" } },
      shipping_options: { 0: { shipping_rate: "shr_emulator_standard" }, 1: { shipping_rate: "shr_emulator_express" } },
      line_items: {
        0: { price: POUR_OVER.stripePriceId, quantity: "2" },
        1: { price: MUG.stripePriceId, quantity: "3" },
      },
    });

    const labelled = {
      Subtotal: usd(totals.subtotal),
      Discount: `-${usd(totals.discount)}`,
      Shipping: usd(totals.shipping),
      Tax: usd(totals.tax),
      Total: usd(totals.total),
    };
    const lineRow = (l: (typeof lines)[number]) =>
      new RegExp(`${l.name}\\s+${l.quantity}\\s+\\${usd(l.unitAmount)}\\s+\\${usd(l.unitAmount * l.quantity)}`);
    const ordered = page.getByRole("table", { name: "What you ordered" });
    await see(ordered, "the order's lines");
    expect(await ordered.getByRole("row").allInnerTexts()).toEqual([
      expect.stringMatching(/Product\s+Quantity\s+Unit price\s+Line total/),
      ...lines.map((l) => expect.stringMatching(lineRow(l))),
    ]);
    const successTotals = page.locator(".order-totals");
    for (const [label, amount] of Object.entries(labelled)) {
      await see(
        successTotals.locator("div").filter({ hasText: label }).getByText(amount, { exact: true }),
        `${label} ${amount} on the success page`,
      );
    }
    await screenshot(page, "cart-checkout-options", "success", javaScript);

    await openOrders(page, shop);
    const order = page.getByRole("row").filter({ hasText: `${MUG.name}: 3 × ${usd(MUG.unitAmount)}` });
    expect(await order.count()).toBe(1);
    for (const l of lines) {
      await see(
        order.getByText(`${l.name}: ${l.quantity} × ${usd(l.unitAmount)} = ${usd(l.unitAmount * l.quantity)}`),
        `${l.name} on /orders`,
      );
    }
    for (const [label, amount] of Object.entries(labelled)) {
      await see(
        order.locator(".order-totals div").filter({ hasText: label }).getByText(amount, { exact: true }),
        `${label} ${amount} on /orders`,
      );
    }

    const mail = await mailTo(email);
    expect(mail).toHaveLength(1);
    const raw = mail[0]!.raw;
    expect(header(raw, "Subject")).toBe("Your Field & Kiln order is confirmed");
    const text = part(raw, "text/plain") ?? "";
    for (const l of lines) {
      expect(text).toContain(
        `${l.quantity} × ${l.name} (${usd(l.unitAmount)} each): ${usd(l.unitAmount * l.quantity)}`,
      );
    }
    for (const [label, amount] of Object.entries(labelled)) expect(text).toContain(`${label}: ${amount}`);
    expect(text).toContain(`Order reference: ${sessionId}`);

    // The payment took the lines out of the cart (the state machine, not the success page).
    await cartLink(page).click();
    await page.waitForURL(`${shop.url}/cart`);
    await see(page.getByText("Your cart is empty."), "an empty cart");
    expect(await cartLink(page).textContent()).toBe("Cart");
  });

  it("a double submit of Check out opens one Checkout Session, a changed cart another", async () => {
    const { page } = shopper;
    await addToCart(page, POUR_OVER.slug, POUR_OVER.name, 1);
    await addToCart(page, MUG.slug, MUG.name, 1);
    const before = storedCheckouts();

    // The form's own fields, posted twice at once from the shopper's context (its cookie).
    const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Check out" }) });
    const fields: Record<string, string> = {};
    for (const input of await form.locator("input[type=hidden]").all()) {
      fields[(await input.getAttribute("name"))!] = (await input.getAttribute("value")) ?? "";
    }
    expect(fields.intent).toBe("checkout");
    const post = () =>
      page.request.post(`${shop.url}/cart`, { form: fields, headers: { Origin: shop.url }, maxRedirects: 0 });
    const raced = await Promise.all([post(), post()]);
    expect(raced.map((r) => r.status())).toEqual([303, 303]);
    const locations = raced.map((r) => r.headers().location);
    expect(locations[0]).toMatch(hostedPageUrl(shop));
    expect(locations[1]).toBe(locations[0]);

    // And a double click on the button itself.
    await page.getByRole("button", { name: "Check out" }).dblclick();
    await landAfterDoubleSubmit(page);
    expect(page.url()).toBe(locations[0]);

    const opened = storedCheckouts().filter((id) => !before.includes(id));
    expect(opened).toEqual([new URL(locations[0]!).pathname.split("/").pop()]);
    // Every create the emulator received carried the one idempotency key (one session at Stripe).
    const created = await shop.stripe.requestsTo("POST", "/v1/checkout/sessions");
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.idempotencyKey)).size).toBe(1);
    const sessions = await fetch(`${shop.emulator.url}/v1/checkout/sessions?limit=100`, {
      headers: { Authorization: "Bearer sk_test_shop_tests_only" },
    });
    expect(sessions.status).toBe(200);
    const list = (await sessions.json()) as { data: { id: string }[] };
    expect(list.data.map((s) => s.id)).toEqual(opened);

    // A changed cart is another checkout: a new session.
    await page.goto(`${shop.url}/cart`);
    await page.getByLabel(`Quantity of ${MUG.name}`).fill("2");
    await page.getByRole("row").filter({ hasText: MUG.name }).getByRole("button", { name: "Update" }).click();
    await see(
      page
        .getByRole("row")
        .filter({ hasText: MUG.name })
        .getByText(usd(MUG.unitAmount * 2)),
      "the new line total",
    );
    await page.getByRole("button", { name: "Check out" }).click();
    await page.waitForURL(hostedPageUrl(shop));
    expect(page.url()).not.toBe(locations[0]);
    const now = storedCheckouts().filter((id) => !before.includes(id));
    expect(now).toHaveLength(2);
    expect(now).toContain(new URL(page.url()).pathname.split("/").pop());
  });
});
