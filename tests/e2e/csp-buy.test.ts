import { describe, expect, it } from "vitest";

import { shopPerFile } from "./support/scaffold";

/**
 * The Content-Security-Policy must not break the shop: Chrome applies
 * `form-action` to the redirect after a form post, so the Buy form reaches
 * the hosted checkout page only because its origin is listed. Also no CSP
 * violation on the way, with JavaScript on or off.
 */

const shop = shopPerFile();

describe.each([false, true])("under the CSP, JavaScript %s", (javaScriptEnabled) => {
  it("the Buy form reaches the hosted checkout page, with no policy violation", async () => {
    const context = await shop.browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(`${shop.url}/products/ceramic-pour-over`);
    await expect.poll(() => page.title()).toContain("Ceramic Pour-Over Dripper");
    await page.getByRole("button", { name: "Buy" }).click();
    await page.waitForURL(new RegExp(`^${shop.emulator.url}/c/pay/cs_test_`));
    expect(await page.content()).toContain("Ceramic Pour-Over Dripper");
    expect(violations).toEqual([]);
    await context.close();
  });
});
