import { getTableConfig as pgTableConfig } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteTableConfig } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";

import { ConfigError, parseConfig } from "~/lib/config.server";
import { backoffDelay } from "~/lib/jobs/backoff";
import { confirmationMail, isMailable, type PaidOrder } from "~/lib/jobs/order-paid.server";
import { messageIdFor } from "~/lib/mail.server";

import { jobs as sqliteJobs } from "../../db/schema/sqlite";
import { jobs as pgJobs } from "../../db/schema/pg";

const production = {
  NODE_ENV: "production",
  STRIPE_SECRET_KEY: "sk_live_abc123",
  STRIPE_WEBHOOK_SECRET: "whsec_new",
  SESSION_SECRET: "n".repeat(32),
  APP_ORIGIN: "https://shop.example.com",
};

function errorOf(env: Record<string, string | undefined>) {
  try {
    parseConfig(env);
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("jobs configuration", () => {
  it("stops a production start that would run mail jobs without MAIL_URL, naming it", () => {
    expect(errorOf(production)).toContain("MAIL_URL is required in production");
    expect(parseConfig({ ...production, WORKER: "off" }).worker).toBe(false);
    const config = parseConfig({ ...production, MAIL_URL: "smtp://u:p@mail.example.com:587" });
    expect(config.worker).toBe(true);
    expect(config.mail).toEqual({
      url: "smtp://u:p@mail.example.com:587",
      from: "Field & Kiln <orders@shop.example.com>",
    });
  });

  it("names a bad WORKER, MAIL_URL or MAIL_FROM", () => {
    expect(errorOf({ WORKER: "yes" })).toContain("WORKER must be on or off");
    expect(errorOf({ MAIL_URL: "http://mail.example.com" })).toContain("MAIL_URL must be an smtp:// or smtps:// URL");
    expect(errorOf({ MAIL_FROM: "not an address" })).toContain("MAIL_FROM must be an address");
    expect(parseConfig({ MAIL_FROM: "Shop <shop@example.com>" }).mail.from).toBe("Shop <shop@example.com>");
  });

  it("runs a worker and writes mail to files in development by default", () => {
    const config = parseConfig({});
    expect(config.worker).toBe(true);
    expect(config.mail.url).toBeUndefined();
  });
});

describe("the jobs table", () => {
  it("has the same columns, types aside, on SQLite and PostgreSQL", () => {
    const columns = (list: { name: string; notNull: boolean }[]) =>
      list.map((c) => `${c.name}${c.notNull ? " not null" : ""}`).sort();
    expect(columns(pgTableConfig(pgJobs).columns)).toEqual(columns(sqliteTableConfig(sqliteJobs).columns));
  });
});

describe("backoff", () => {
  it("doubles per attempt up to the cap, with at most half of it random", () => {
    const options = { baseMs: 1_000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, options, () => 0))).toEqual([500, 1_000, 2_000, 4_000, 5_000]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, options, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000]);
  });
});

describe("the confirmation mail", () => {
  const order: PaidOrder = {
    id: "cs_test_1",
    status: "complete",
    paymentStatus: "paid",
    flag: null,
    customerEmail: "a@example.com",
    amountTotal: 10_000,
    amountSubtotal: 10_000,
    amountDiscount: 0,
    amountTax: 0,
    amountShipping: 0,
    currency: "jpy",
    quantity: 1,
    productName: "Tea bowl <raku>",
    unitAmount: 10_000,
    productCurrency: "jpy",
  };

  it("says what was bought and the total, and escapes the product name in HTML", () => {
    const mail = confirmationMail(order, { appOrigin: "https://shop.example.com", shopName: "Field & Kiln" });
    expect(mail.text).toContain("1 × Tea bowl <raku> (¥10,000 each)");
    expect(mail.text).toContain("Total: ¥10,000");
    expect(mail.html).toContain("Tea bowl &lt;raku&gt;");
    expect(mail.html).not.toContain("<raku>");
  });

  it("lists every line of a cart's order with its quantity, unit price and line total", () => {
    const cartOrder: PaidOrder = {
      ...order,
      amountTotal: 11_800,
      currency: "usd",
      quantity: 2,
      productName: "Ceramic Pour-Over Dripper",
      unitAmount: 3200,
      productCurrency: "usd",
      lines: [
        { name: "Ceramic Pour-Over Dripper", quantity: 2, unitAmount: 3200, currency: "usd" },
        { name: "Stoneware Mug", quantity: 3, unitAmount: 1800, currency: "usd" },
      ],
    };
    const mail = confirmationMail(cartOrder, { appOrigin: "https://shop.example.com", shopName: "Field & Kiln" });
    expect(mail.text).toContain(
      "2 × Ceramic Pour-Over Dripper ($32.00 each): $64.00\n3 × Stoneware Mug ($18.00 each): $54.00\nTotal: $118.00",
    );
    expect(mail.html).toContain("<li>3 × Stoneware Mug ($18.00 each): $54.00</li>");
  });

  it("lists the subtotal, discount, shipping and tax when they make the total differ", () => {
    const usd = { ...order, currency: "usd", productCurrency: "usd", unitAmount: 3200, quantity: 2 };
    const mail = confirmationMail(
      { ...usd, amountSubtotal: 6400, amountDiscount: 640, amountTax: 461, amountShipping: 1500, amountTotal: 7721 },
      { appOrigin: "https://shop.example.com", shopName: "Field & Kiln" },
    );
    expect(mail.text).toContain(
      ["Subtotal: $64.00", "Discount: -$6.40", "Shipping: $15.00", "Tax: $4.61", "Total: $77.21"].join("\n"),
    );
    expect(mail.html).toContain("<p>Discount: -$6.40</p>");
    const plain = confirmationMail(
      { ...usd, amountSubtotal: 6400, amountTotal: 6400 },
      {
        appOrigin: "https://shop.example.com",
        shopName: "Field & Kiln",
      },
    );
    expect(plain.text).not.toContain("Subtotal");
    expect(plain.text).toContain("Total: $64.00");
  });

  it("is only for complete, paid, unflagged orders", () => {
    expect(isMailable(order)).toBe(true);
    expect(isMailable({ ...order, paymentStatus: "no_payment_required" })).toBe(true);
    expect(isMailable({ ...order, flag: "amount_mismatch" })).toBe(false);
    expect(isMailable({ ...order, paymentStatus: "unpaid" })).toBe(false);
    expect(isMailable({ ...order, status: "open" })).toBe(false);
  });

  it("carries the job key in its Message-ID", () => {
    expect(messageIdFor("order.paid:cs_test_a1B2", "shop.example.com")).toBe(
      "<order.paid.cs_test_a1B2@shop.example.com>",
    );
  });
});
