import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";

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
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * A shopper fills a cart in Chromium against the built app and the Stripe
 * emulator: adds two products from their pages, changes one quantity, checks
 * out, pays on the hosted page, reads the lines on the success page and on
 * /orders, and finds the cart empty afterwards. With JavaScript off (plain
 * forms, 303s) and on (Remix's forms: no document load, the header's count
 * follows).
 */

const shop = shopPerFile();

const POUR_OVER = "Ceramic Pour-Over Dripper";
const MUG = "Stoneware Mug";

const addToCart = (page: Page, slug: string, name: string, quantity: number) =>
  addCartLine(page, shop.url, slug, name, quantity);

describe.each([false, true])("the cart in Chromium, JavaScript enabled: %s", (javaScript) => {
  const shopper = shopperPerTest(shop, { javaScript });

  it("add two products, change a quantity, check out, pay: the lines on the success page and /orders, the cart empty", async () => {
    const { page } = shopper;
    await addToCart(page, "ceramic-pour-over", POUR_OVER, 1);
    await addToCart(page, "stoneware-mug", MUG, 2);
    await see(cartLink(page).filter({ hasText: "(3)" }), "the header's count of 3");

    const documents: string[] = [];
    page.on("request", (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) documents.push(request.url());
    });
    await page.getByLabel(`Quantity of ${POUR_OVER}`).fill("2");
    await page.getByRole("row").filter({ hasText: POUR_OVER }).getByRole("button", { name: "Update" }).click();
    await see(page.getByRole("row").filter({ hasText: POUR_OVER }).getByText("$64.00"), "the new line total");
    await see(page.getByText("$100.00"), "the subtotal $100.00");
    await see(cartLink(page).filter({ hasText: "(4)" }), "the header's count of 4");
    // JavaScript on: the update was Remix's fetch, no new document. Off: a form post and its 303.
    expect(documents.length > 0).toBe(!javaScript);
    await screenshot(page, "cart", "1-cart", javaScript);

    await page.getByRole("button", { name: "Check out" }).click();
    await page.waitForURL(hostedPageUrl(shop));
    await see(page.getByText("Total: $100.00"), "the hosted page's total");
    const sessionId = new URL(page.url()).pathname.split("/").pop()!;
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);
    await see(SUCCESS.paid(page), "that the order is paid");
    const lines = page.getByRole("table", { name: "What you ordered" });
    await see(lines, "the order's lines");
    expect(await lines.getByRole("row").allInnerTexts()).toEqual([
      expect.stringMatching(/Product\s+Quantity\s+Unit price\s+Line total/),
      expect.stringMatching(new RegExp(`${POUR_OVER}\\s+2\\s+\\$32\\.00\\s+\\$64\\.00`)),
      expect.stringMatching(new RegExp(`${MUG}\\s+2\\s+\\$18\\.00\\s+\\$36\\.00`)),
    ]);
    await screenshot(page, "cart", "2-success", javaScript);

    await openOrders(page, shop);
    const order = page.getByRole("row").filter({ hasText: `${MUG}: 2 × $18.00 = $36.00` });
    await see(order, "the cart's order on /orders");
    await see(order.getByText(`${POUR_OVER}: 2 × $32.00 = $64.00`), "its other line");
    await see(order.getByText("$100.00"), "its total");

    // The payment took the lines out of the cart (the state machine, not the success page).
    await cartLink(page).click();
    await page.waitForURL(`${shop.url}/cart`);
    await see(page.getByText("Your cart is empty."), "an empty cart");
    expect(await cartLink(page).textContent()).toBe("Cart");
  });

  it("a product in another currency cannot join the cart, and says why", async () => {
    const { page } = shopper;
    await addToCart(page, "ceramic-pour-over", POUR_OVER, 1);
    await page.goto(`${shop.url}/products/linen-apron`);
    await page.getByLabel("How many for the cart").fill("1");
    await page.getByRole("button", { name: "Add to cart" }).click();
    await see(page.getByRole("alert").filter({ hasText: "one checkout charges one currency" }), "the currency refusal");
    expect(await page.getByRole("row").filter({ hasText: "Linen Work Apron" }).count()).toBe(0);
  });
});
