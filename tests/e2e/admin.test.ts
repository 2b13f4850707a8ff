import { spawnSync } from "node:child_process";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { root } from "../support/processes";
import { buy, landOnSuccessPage, payWith, see } from "./support/pages";
import { shopPerFile, shopperPerTest } from "./support/scaffold";

/**
 * An operator in Chromium against the built app and the emulator: signs in,
 * finds a paid order by its checkout id, reads its timeline (each state change
 * with its time and cause, every event), refunds part of it on the confirm page, and sees Stripe's refund event arrive on the
 * order's page once the webhook lands. JavaScript off and on.
 */

const shop = shopPerFile();
const EMAIL = "operator@example.com";
const PASSWORD = "a long operator password";

/** `npm run operator:add` against the built app's database, the password on standard input. */
function addOperator(databasePath: string) {
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(root, "scripts/operator-add.ts"), "--email", EMAIL],
    {
      cwd: root,
      input: `${PASSWORD}\n`,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "test", DATABASE_PATH: databasePath },
      encoding: "utf8",
    },
  );
  expect(result.stderr).toBe("");
  expect(result.stdout).toMatch(/^(Operator operator@example\.com created|Password of operator@example\.com reset)/);
}

describe.each([false, true])("the console in Chromium, JavaScript enabled: %s", (javaScript) => {
  const shopper = shopperPerTest(shop, { javaScript });

  it("sign in, find an order, read its timeline, refund part of it, see the refund arrive", async () => {
    const { page } = shopper;
    addOperator(shop.server.databasePath);
    const sessionId = await buy(page, shop);
    await payWith(page, "card");
    await landOnSuccessPage(page, shop, sessionId);

    await page.goto(`${shop.url}/admin`);
    await page.waitForURL(`${shop.url}/admin/login`);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await see(page.getByRole("heading", { level: 1, name: "Orders" }), "the orders page");
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    await page.getByLabel("Checkout id, payment intent or email").fill(sessionId);
    await page.getByRole("button", { name: "Find" }).click();
    await page.getByRole("link", { name: sessionId }).click();
    await see(page.getByRole("heading", { level: 1, name: `Order ${sessionId}` }), "the order's page");
    await see(page.getByText("checkout.session.completed"), "the completion event in the timeline");
    await see(page.getByText("complete / paid"), "the order's state");
    // Each change of state, with its time and what brought it (the webhook or the success page asking Stripe).
    const changes = page.getByRole("list", { name: "State changes" }).getByRole("listitem");
    await see(
      changes.filter({ hasText: "status: open → complete, payment: unpaid → paid, fulfilled" }),
      "the payment's state change",
    );
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, the rendered text with its line breaks (textContent runs the cause into the change)
    expect(await changes.first().innerText()).toMatch(
      /\sby (checkout\.session\.completed evt_\w+ \(webhook\)|the success page asking Stripe)$/,
    );
    expect(await page.getByText("charge.refunded").count()).toBe(0);

    await page.getByLabel("Amount (empty: all that is left)").fill("5.00");
    await page.getByRole("button", { name: "Review refund" }).click();
    await see(page.getByRole("heading", { level: 1, name: `Refund order ${sessionId}` }), "the confirm page");
    await page.getByRole("button", { name: "Confirm refund of $5.00" }).click();
    await see(page.getByText(/Refund re_\w+ was sent to Stripe/), "that the refund was sent");

    // The order changes when Stripe's event lands: reload until the webhook has been stored.
    let arrived = false;
    for (let i = 0; i < 40 && !arrived; i++) {
      await page.goto(`${shop.url}/admin/orders/${sessionId}`);
      arrived = (await page.getByText("charge.refunded").count()) > 0;
      if (!arrived) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await see(page.getByText("charge.refunded").first(), "the refund's event in the timeline");
    await see(
      // refund.created or charge.refunded, whichever Stripe's delivery brought first.
      changes
        .filter({ hasText: "refunded: $0.00 → $5.00" })
        .filter({ hasText: /by (refund\.created|charge\.refunded) evt_/ }),
      "the refund's state change, made by Stripe's event",
    );
    const refunds = await shop.stripe.requestsTo("POST", "/v1/refunds");
    expect(refunds).toHaveLength(1);
  });
});
