import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { launchBrowser } from "./support/browser";
import { hostedPageUrl, PRODUCT, see, successPageUrl } from "./support/pages";
import { type Shop, startShop } from "./support/shop";

/**
 * Every page of the shop fits a 390 px wide phone screen (an iPhone 12 to 15
 * in portrait): nothing scrolls sideways, and the orders page's "Manage
 * subscription" button is on the screen.
 */

const WIDTH = 390;

let browser: Browser;
let shop: Shop;

beforeAll(async () => {
  [browser, shop] = await Promise.all([launchBrowser(), startShop()]);
});

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
});

/** How far the page's content reaches to the right, in CSS pixels. */
const contentWidth = (page: Page) =>
  page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));

describe(`pages at ${WIDTH} px`, () => {
  it("the catalog, a product, the success page and /orders with a subscription fit the screen", async () => {
    const context = await browser.newContext({ viewport: { width: WIDTH, height: 844 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    try {
      const widths: Record<string, number> = {};

      await page.goto(`${shop.url}/`);
      await see(page.getByRole("link", { name: PRODUCT.name }), "the catalog");
      widths.catalog = await contentWidth(page);

      await page.goto(`${shop.url}/products/coffee-club`);
      await see(page.getByRole("heading", { level: 1, name: "Coffee Club Monthly" }), "the product page");
      widths.product = await contentWidth(page);

      await page.getByRole("button", { name: "Subscribe" }).click();
      await page.waitForURL(hostedPageUrl(shop));
      await page.locator("#pay-card").click();
      await page.waitForURL(successPageUrl(shop));
      await see(page.getByRole("heading", { level: 1, name: "Thank you: your payment went through." }), "paid");
      await see(page.getByText("per month"), "the amount per month");
      widths.success = await contentWidth(page);

      await page.goto(`${shop.url}/orders`);
      const manage = page.getByRole("button", { name: "Manage subscription" });
      await see(manage, "the Manage subscription button");
      widths.orders = await contentWidth(page);
      const box = await manage.boundingBox();
      expect(box, "the button's box").not.toBeNull();
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(WIDTH);

      const missing = await page.goto(`${shop.url}/products/no-such-thing`);
      expect(missing?.status()).toBe(404);
      widths.notFound = await contentWidth(page);

      expect(widths).toEqual({ catalog: WIDTH, product: WIDTH, success: WIDTH, orders: WIDTH, notFound: WIDTH });
    } finally {
      await context.close();
    }
  });
});
