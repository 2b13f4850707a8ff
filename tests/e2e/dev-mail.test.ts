import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { launchBrowser, newShopper, type Shopper } from "./support/browser";
import { startDevShop, type DevShop } from "./support/dev-shop";
import { landOnSuccessPage, PRODUCT, payWith, pressBuy, screenshot, see, SUCCESS } from "./support/pages";

/**
 * A newcomer runs `npm run dev` (no MAIL_URL), pays in Chromium, and follows
 * the simulated-payments banner's link to /dev/mail: the order confirmation
 * the job worker wrote is there, to the address typed on the hosted page,
 * with what was bought and the total. Once with JavaScript off, once on.
 */

let browser: Browser;
let shop: DevShop;

beforeAll(async () => {
  const [launched, started] = await Promise.allSettled([launchBrowser(), startDevShop()]);
  if (launched.status === "fulfilled") browser = launched.value;
  if (started.status === "fulfilled") shop = started.value;
  if (launched.status === "rejected") throw launched.reason;
  if (started.status === "rejected") throw started.reason;
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
});

describe.each([false, true])("the development mail page in Chromium, JavaScript enabled: %s", (javaScript) => {
  let shopper: Shopper;
  beforeEach(async ({ onTestFailed }) => {
    await shop.reset();
    shopper = await newShopper(browser, { javaScript });
    onTestFailed(() => console.log(shop.tail()));
  });
  afterEach(async () => {
    await shopper.context.close();
    expect(shopper.problems, "errors in the browser console").toEqual([]);
  });

  it("pay, then the banner's mail link shows the confirmation: recipient, subject, lines, total", async () => {
    const { page } = shopper;
    const email = `newcomer-${javaScript ? "js" : "nojs"}@example.com`;
    await page.goto(`${shop.url}/products/${PRODUCT.slug}`);
    await see(page.getByRole("heading", { level: 1, name: PRODUCT.name }), "the product page");
    const sessionId = await pressBuy(page, shop);
    await page.locator("#email").fill(email);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");

    const banner = page.getByRole("status").filter({ hasText: "Payments are simulated" });
    await banner.getByRole("link", { name: "Mail the shop sent" }).click();
    await page.waitForURL(`${shop.url}/dev/mail`);
    await see(page.getByRole("heading", { level: 1, name: "Mail the shop sent" }), "the mail page");

    // The worker polls; the page is read again until the mail is there (the job runs after the payment).
    const mail = page.getByRole("listitem").filter({ hasText: email });
    for (let tries = 0; (await mail.count()) === 0 && tries < 20; tries++) {
      await page.waitForTimeout(500);
      await page.reload();
    }
    await see(mail, `the confirmation to ${email}`);
    expect(await mail.count()).toBe(1);
    await see(
      mail.getByRole("heading", { level: 2, name: "Your Field & Kiln order is confirmed" }),
      "the confirmation's subject",
    );
    const body = (await mail.locator("pre").textContent()) ?? "";
    expect(body).toContain(`${PRODUCT.quantity} × ${PRODUCT.name} ($32.00 each)`);
    expect(body).toContain(`Total: ${PRODUCT.total}`);
    expect(body).toContain(`Your orders: ${shop.url}/orders`);
    expect(body).toContain(`Order reference: ${sessionId}`);
    // The Message-ID carries the job key: a retried mail would be the same one.
    await see(mail.getByText(`order.paid.${sessionId}@127.0.0.1`), "the Message-ID with the job key");
    // One file pair per Message-ID in data/mail/ beside the database.
    expect(
      shop
        .mailFiles()
        .filter((name) => name.includes(sessionId))
        .sort(),
    ).toEqual([expect.stringMatching(/\.eml$/), expect.stringMatching(/\.json$/)]);
    await screenshot(page, "dev-mail", "confirmation", javaScript);
    // A cold start (startDevShop passes --force) must not discover dependencies late and reload the page
    // under the shopper: that reload is what once broke hydration mid-test (docs/decisions/191).
    expect(shop.server.output.filter((line) => line.includes("optimized dependencies changed"))).toEqual([]);
  });
});
