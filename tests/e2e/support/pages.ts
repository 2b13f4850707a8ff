import { mkdirSync } from "node:fs";
import path from "node:path";

import type { Locator, Page } from "playwright-core";

import type { Shop } from "./shop";

/** What the helpers need of a shop: its address and the emulator's (the built app or the dev server). */
type Site = Pick<Shop, "url" | "emulator">;

/**
 * What a shopper does and sees, page by page: open a product, press Buy, pay
 * on the emulator's hosted Checkout page (#pay-card, #pay-declined,
 * #pay-delayed, #back), read the success page and /orders. Helpers wait for
 * text to appear (a page that refreshes itself gets the time to) and fail
 * with what the page said instead.
 */

const SCREENSHOTS = path.resolve(import.meta.dirname, "../../../test-results/screenshots");
mkdirSync(SCREENSHOTS, { recursive: true });

export const PRODUCT = { slug: "ceramic-pour-over", name: "Ceramic Pour-Over Dripper", quantity: 2, total: "$64.00" };

const jsLabel = (javaScript: boolean) => (javaScript ? "js-on" : "js-off");

/** Keeps a picture of the page as a test artifact: test-results/screenshots/<scenario>--<state>--js-on|off.png. */
export async function screenshot(page: Page, scenario: string, state: string, javaScript: boolean) {
  const file = path.join(SCREENSHOTS, `${scenario}--${state}--${jsLabel(javaScript)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Waits until `locator` is visible; on a timeout, says what was expected and what the page showed. */
export async function see(locator: Locator, what: string, timeout = 15_000) {
  try {
    await locator.first().waitFor({ state: "visible", timeout });
  } catch (error: unknown) {
    const page = locator.page();
    const text = await page
      .locator("body")
      .textContent({ timeout: 1_000 })
      .catch(() => "(no page text)");
    throw new Error(
      `Expected to see ${what} on ${page.url()} within ${timeout} ms.\nThe page says:\n${(text ?? "").slice(0, 2_000)}\n(${String(error)})`,
    );
  }
  return locator.first();
}

/** Is `locator` visible right now (no waiting)? */
export async function visibleNow(locator: Locator) {
  return (await locator.count()) > 0 && (await locator.first().isVisible());
}

const sessionIdOf = (url: string) =>
  new URL(url).searchParams.get("session_id") ?? new URL(url).pathname.split("/").pop()!;

export function hostedPageUrl(shop: Site) {
  return new RegExp(`^${escapeRegExp(shop.emulator.url)}/c/pay/cs_test_[A-Za-z0-9]+$`);
}

export function successPageUrl(shop: Site) {
  return new RegExp(`^${escapeRegExp(shop.url)}/checkout/success\\?session_id=cs_test_[A-Za-z0-9]+$`);
}

/** Opens the product page, asks for PRODUCT.quantity and presses Buy: lands on the hosted Checkout page. Returns the session id. */
export async function buy(page: Page, shop: Site) {
  await page.goto(`${shop.url}/products/${PRODUCT.slug}`);
  await see(page.getByRole("heading", { level: 1, name: PRODUCT.name }), "the product's name");
  return pressBuy(page, shop);
}

/** On the product page: asks for PRODUCT.quantity and presses Buy, and sees the hosted page's total. */
export async function pressBuy(page: Page, shop: Site) {
  await page.getByLabel("Quantity").fill(String(PRODUCT.quantity));
  await page.getByRole("button", { name: "Buy" }).click();
  await page.waitForURL(hostedPageUrl(shop));
  await see(page.getByText(`Total: ${PRODUCT.total}`), `the hosted page's total ${PRODUCT.total}`);
  return sessionIdOf(page.url());
}

/** The URLs the page loaded as whole documents from now on (not Remix's client-side data fetches). */
export function documentLoads(page: Page) {
  const urls: string[] = [];
  page.on("request", (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) urls.push(request.url());
  });
  return urls;
}

/** Presses one of the hosted page's buttons: card (pays), declined, delayed (a bank debit still processing). */
export async function payWith(page: Page, method: "card" | "declined" | "delayed") {
  await page.locator(`#pay-${method}`).click();
}

/** After paying: the shop's success page for this checkout. */
export async function landOnSuccessPage(page: Page, shop: Site, sessionId: string) {
  await page.waitForURL(successPageUrl(shop));
  if (sessionIdOf(page.url()) !== sessionId) throw new Error(`The success page is for ${page.url()}, not ${sessionId}`);
}

// What the success page says, as a shopper reads it (its heading).
export const SUCCESS = {
  paid: (page: Page) => page.getByRole("heading", { level: 1, name: "Thank you: your payment went through." }),
  // A card still settling ("being processed") or a bank debit ("waiting for your bank").
  processing: (page: Page) =>
    page.getByRole("heading", { level: 1, name: /Your payment is being processed|We are waiting for your bank/ }),
  failed: (page: Page) => page.getByRole("heading", { level: 1, name: "The payment failed." }),
};

export const NOT_FOUND = (page: Page) => page.getByRole("heading", { level: 1, name: "We could not find that order." });

/** Follows the site's "Your orders" link (in the header: the first of them) to /orders. */
export async function openOrders(page: Page, shop: Site) {
  await page.getByRole("link", { name: "Your orders" }).first().click();
  await page.waitForURL(`${shop.url}/orders`);
  await see(page.getByRole("heading", { level: 1, name: "Your orders" }), "the orders page's heading");
}

/** The rows of /orders that name this product. */
export const orderRows = (page: Page, productName = PRODUCT.name) =>
  page.getByRole("row").filter({ has: page.getByRole("cell", { name: productName, exact: true }) });

function escapeRegExp(value: string) {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Adds `quantity` of a product to the cart from its page (the Add to cart form), and waits for the cart. */
export async function addToCart(page: Page, shopUrl: string, slug: string, name: string, quantity: number) {
  await page.goto(`${shopUrl}/products/${slug}`);
  await see(page.getByRole("heading", { level: 1, name }), `the page of ${name}`);
  await page.getByLabel("How many for the cart").fill(String(quantity));
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.waitForURL(`${shopUrl}/cart`);
  await see(page.getByRole("row").filter({ hasText: name }), `${name} in the cart`);
}

/** The header's link to the cart ("Cart" or "Cart (N)"). */
export const cartLink = (page: Page) => page.getByRole("banner").getByRole("link", { name: /^Cart/ });
