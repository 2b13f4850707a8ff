import { eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { orderDetail } from "~/lib/admin.server";
import { processStripeEvent } from "~/lib/checkout.server";
import { handle } from "~/lib/db.server";
import { confirmationMail, pgOrderLoader, sqliteOrderLoader } from "~/lib/jobs/order-paid.server";
import { action, loader } from "~/routes/cart";
import { loader as productLoader } from "~/routes/products.$slug";

import { db, schema } from "../support/db";
import { emulatorControl } from "../support/emulator";
import { type Proc, startBuiltServer } from "../support/server";
import { cookieFrom, formRequest, getRequest, settle } from "../support/http";
import { CHECKOUT_EVENT, sessionFor, stripeEvent } from "../support/stripe-fixtures";

/**
 * The cart through its loader and action, as a browser calls them: every
 * intent, every refusal (with what stayed unchanged and that Stripe was not
 * asked), the Checkout Session a cart opens, and the state machine taking
 * what was paid for out of the cart.
 */

const emu = emulatorControl();

type CartData = {
  cart: {
    version: number;
    currency: string | null;
    subtotal: string | null;
    count: number;
    lines: { id: number; slug: string; name: string; quantity: number; unitPrice: string; lineTotal: string }[];
  };
  token: string;
  notices: string[];
};

async function openProductPage(slug: string, cookie?: string | null) {
  const response = await settle(() =>
    productLoader({ request: getRequest(`/products/${slug}`, { cookie }), params: { slug }, context: {} }),
  );
  const data = (await response.json()) as { cartToken: string | null };
  return { cartToken: data.cartToken, cookie: cookie ?? cookieFrom(response) };
}

async function viewCart(cookie: string) {
  const response = await settle(() => loader({ request: getRequest("/cart", { cookie }), params: {}, context: {} }));
  expect(response.status).toBe(200);
  return (await response.json()) as CartData;
}

function post(fields: Record<string, string>, cookie: string | null, headers: Record<string, string> = {}) {
  return settle(() => action({ request: formRequest("/cart", fields, { cookie, headers }), params: {}, context: {} }));
}

/** A shopper with a cookie and the cart form's token, as the product page gives them. */
async function shopper() {
  const page = await openProductPage("ceramic-pour-over");
  return { cookie: page.cookie!, token: page.cartToken! };
}

const add = (s: { cookie: string; token: string }, product: string, quantity?: string) =>
  post({ intent: "add", token: s.token, product, ...(quantity ? { quantity } : {}) }, s.cookie);

const creates = () => emu.requestsTo("POST", "/v1/checkout/sessions");
const cartLines = () => db.select().from(schema.cartLines);
const checkouts = () => db.select().from(schema.checkoutSessions);

/** What is stored of carts, to compare before and after a refused request. */
async function stored() {
  return {
    carts: await db.select().from(schema.carts),
    lines: await cartLines(),
    checkouts: await checkouts(),
    items: await db.select().from(schema.checkoutLineItems),
  };
}

async function errorOf(response: Response) {
  return ((await response.json()) as { error: string }).error;
}

beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
  await db.delete(schema.refunds);
  await db.delete(schema.checkoutSessions);
  await db.delete(schema.shoppers);
  await db.update(schema.products).set({ active: true });
  await db.update(schema.products).set({ unitAmount: 1800 }).where(eq(schema.products.slug, "stoneware-mug"));
});

describe("the product page", () => {
  it("gives a one-time product an Add to cart token and a subscription none", async () => {
    expect((await openProductPage("stoneware-mug")).cartToken).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect((await openProductPage("coffee-club")).cartToken).toBeNull();
  });
});

describe("cart actions", () => {
  it("adds, adds more, sets a quantity, removes a line and empties the cart, each a 303 back to /cart", async () => {
    const s = await shopper();
    const empty = await viewCart(s.cookie);
    expect(empty.cart.lines).toEqual([]);
    // A visit stores nothing.
    expect(await db.select().from(schema.carts)).toEqual([]);

    const added = await add(s, "ceramic-pour-over", "2");
    expect(added.status).toBe(303);
    expect(added.headers.get("Location")).toBe("/cart");
    expect((await add(s, "stoneware-mug", "1")).status).toBe(303);
    expect((await add(s, "stoneware-mug", "2")).status).toBe(303);

    let view = await viewCart(s.cookie);
    expect(view.cart.lines.map((l) => [l.slug, l.quantity, l.unitPrice, l.lineTotal])).toEqual([
      ["ceramic-pour-over", 2, "$32.00", "$64.00"],
      ["stoneware-mug", 3, "$18.00", "$54.00"],
    ]);
    expect(view.cart).toMatchObject({ currency: "USD", subtotal: "$118.00", count: 5 });

    const mug = view.cart.lines[1]!;
    expect((await post({ intent: "set", token: s.token, line: String(mug.id), quantity: "5" }, s.cookie)).status).toBe(
      303,
    );
    view = await viewCart(s.cookie);
    expect(view.cart.lines[1]).toMatchObject({ slug: "stoneware-mug", quantity: 5, lineTotal: "$90.00" });

    const pourOver = view.cart.lines[0]!;
    expect((await post({ intent: "remove", token: s.token, line: String(pourOver.id) }, s.cookie)).status).toBe(303);
    view = await viewCart(s.cookie);
    expect(view.cart.lines.map((l) => l.slug)).toEqual(["stoneware-mug"]);

    expect((await post({ intent: "empty", token: s.token }, s.cookie)).status).toBe(303);
    view = await viewCart(s.cookie);
    expect(view.cart.lines).toEqual([]);
    expect(await creates()).toHaveLength(0);
  });

  it("moves the cart's version on every change", async () => {
    const s = await shopper();
    await add(s, "ceramic-pour-over", "1");
    const first = (await viewCart(s.cookie)).cart.version;
    await add(s, "ceramic-pour-over", "1");
    expect((await viewCart(s.cookie)).cart.version).toBe(first + 1);
  });
});

describe("refused cart requests change nothing and ask Stripe nothing", () => {
  async function refused(
    s: { cookie: string; token: string },
    fields: Record<string, string>,
    status: number,
    message: RegExp,
    cookie: string | null = s.cookie,
  ) {
    const before = await stored();
    const response = await post(fields, cookie);
    expect(response.status).toBe(status);
    expect(await errorOf(response)).toMatch(message);
    expect(await stored()).toEqual(before);
    expect(await creates()).toHaveLength(0);
  }

  it("an unknown or inactive product, a subscription, a quantity that is not 1..max", async () => {
    const s = await shopper();
    await add(s, "ceramic-pour-over", "1");
    await refused(s, { intent: "add", token: s.token, product: "nope", quantity: "1" }, 404, /not for sale/);
    await refused(s, { intent: "add", token: s.token, quantity: "1" }, 404, /not for sale/);
    await db.update(schema.products).set({ active: false }).where(eq(schema.products.slug, "stoneware-mug"));
    await refused(s, { intent: "add", token: s.token, product: "stoneware-mug", quantity: "1" }, 404, /not for sale/);
    await refused(s, { intent: "add", token: s.token, product: "coffee-club" }, 400, /Subscriptions are not sold/);
    for (const [quantity, message] of [
      ["0", /at least 1/],
      ["-1", /at least 1/],
      ["1.5", /whole number/],
      ["1000000000", /at most 5/],
      ["6", /at most 5/],
      ["", /enter a quantity/],
      ["abc", /whole number/],
    ] as const) {
      await refused(s, { intent: "add", token: s.token, product: "ceramic-pour-over", quantity }, 400, message);
    }
    // 1 in the cart, 5 at most: 5 more is above the maximum.
    await refused(
      s,
      { intent: "add", token: s.token, product: "ceramic-pour-over", quantity: "5" },
      400,
      /at most 5 of Ceramic Pour-Over Dripper, and your cart already has 1/,
    );
    const line = String((await cartLines())[0]!.id);
    for (const quantity of ["0", "-1", "1.5", "1000000000", "6"]) {
      await refused(s, { intent: "set", token: s.token, line, quantity }, 400, /quantity|at most 5/);
    }
  });

  it("a product in another currency than the cart's", async () => {
    const s = await shopper();
    await add(s, "ceramic-pour-over", "1");
    await refused(
      s,
      { intent: "add", token: s.token, product: "linen-apron", quantity: "1" },
      409,
      /Your cart is in USD and Linen Work Apron is priced in EUR: one checkout charges one currency/,
    );
  });

  it("more than 100 lines", async () => {
    const s = await shopper();
    const template = (await db.select().from(schema.products).where(eq(schema.products.slug, "stoneware-mug")))[0]!;
    // 100 one-time usd products in the cart, made directly; the 101st is refused.
    const extra = await db
      .insert(schema.products)
      .values(
        Array.from({ length: 100 }, (_, i) => ({
          slug: `bulk-${i}`,
          name: `Bulk ${i}`,
          stripePriceId: `price_bulk_${i}`,
          mode: "payment" as const,
          unitAmount: 100,
          currency: "usd",
          maxQuantity: 3,
        })),
      )
      .returning({ id: schema.products.id });
    try {
      await add(s, "bulk-0", "1");
      const [cart] = await db.select().from(schema.carts);
      await db
        .insert(schema.cartLines)
        .values(
          extra
            .slice(1)
            .map(({ id }) => ({ cartId: cart!.id, productId: id, quantity: 1, unitAmount: 100, currency: "usd" })),
        );
      expect(await cartLines()).toHaveLength(100);
      await refused(s, { intent: "add", token: s.token, product: template.slug, quantity: "1" }, 400, /at most 100/);
      // More of a product already in the cart is still fine.
      expect((await add(s, "bulk-0", "1")).status).toBe(303);
    } finally {
      await db.delete(schema.shoppers);
      for (const { id } of extra) await db.delete(schema.products).where(eq(schema.products.id, id));
    }
  });

  it("a line of another shopper's cart", async () => {
    const mine = await shopper();
    const theirs = await shopper();
    await add(mine, "ceramic-pour-over", "1");
    await add(theirs, "stoneware-mug", "2");
    const theirLine = (await viewCart(theirs.cookie)).cart.lines[0]!;
    await refused(
      mine,
      { intent: "set", token: mine.token, line: String(theirLine.id), quantity: "1" },
      404,
      /not in your cart/,
    );
    await refused(mine, { intent: "remove", token: mine.token, line: String(theirLine.id) }, 404, /not in your cart/);
    await refused(mine, { intent: "remove", token: mine.token, line: "x" }, 404, /not in your cart/);
  });

  it("a tampered, missing or other shopper's token, no cookie, a missing or unknown intent", async () => {
    const s = await shopper();
    const other = await shopper();
    await add(s, "ceramic-pour-over", "1");
    const fields = { intent: "add", product: "stoneware-mug", quantity: "1" };
    await refused(s, { ...fields, token: `${s.token.slice(0, -2)}AA` }, 400, /expired/);
    await refused(s, fields, 400, /expired/);
    await refused(s, { ...fields, token: other.token }, 400, /expired/);
    await refused(s, { ...fields, token: s.token }, 400, /expired/, null);
    await refused(s, { token: s.token }, 400, /not one we know/);
    await refused(s, { intent: "buy-everything", token: s.token }, 400, /not one we know/);
  });

  it("a form from another site: 403 before anything is read", async () => {
    const s = await shopper();
    const before = await stored();
    const response = await post({ intent: "add", token: s.token, product: "stoneware-mug", quantity: "1" }, s.cookie, {
      "Sec-Fetch-Site": "cross-site",
    });
    expect(response.status).toBe(403);
    expect(await stored()).toEqual(before);
  });
});

describe("the catalog's word on a cart", () => {
  it("a product no longer for sale leaves the cart and a new price is taken, each with a notice", async () => {
    const s = await shopper();
    await add(s, "ceramic-pour-over", "1");
    await add(s, "stoneware-mug", "2");
    await add(s, "beeswax-candle", "1");
    await db.update(schema.products).set({ active: false }).where(eq(schema.products.slug, "beeswax-candle"));
    await db.update(schema.products).set({ unitAmount: 2000 }).where(eq(schema.products.slug, "stoneware-mug"));
    const view = await viewCart(s.cookie);
    expect(view.notices).toEqual([
      "Beeswax Candle is no longer for sale, so it was removed from your cart.",
      "The price of Stoneware Mug changed from $18.00 to $20.00.",
    ]);
    expect(view.cart.lines.map((l) => [l.slug, l.unitPrice])).toEqual([
      ["ceramic-pour-over", "$32.00"],
      ["stoneware-mug", "$20.00"],
    ]);
    // Said once: the next view has nothing new to say.
    expect((await viewCart(s.cookie)).notices).toEqual([]);
  });
});

describe("checking out a cart", () => {
  async function filledCart() {
    const s = await shopper();
    await add(s, "ceramic-pour-over", "2");
    await add(s, "stoneware-mug", "3");
    const view = await viewCart(s.cookie);
    return { ...s, view };
  }
  const checkout = (s: { cookie: string; token: string }, version: number) =>
    post({ intent: "checkout", token: s.token, version: String(version) }, s.cookie);

  it("opens one Checkout Session with one line item per cart line, and stores it with its lines", async () => {
    const s = await filledCart();
    const response = await checkout(s, s.view.cart.version);
    expect(response.status).toBe(303);
    const location = response.headers.get("Location")!;
    expect(location).toMatch(new RegExp(`^${emu.url}/c/pay/cs_test_[A-Za-z0-9]+$`));

    const [request, ...others] = await creates();
    expect(others).toHaveLength(0);
    const [shopperRow] = await db.select().from(schema.shoppers);
    const [cart] = await db.select().from(schema.carts);
    expect(request!.params).toEqual({
      mode: "payment",
      line_items: {
        "0": { price: "price_1TSceramicPourOver", quantity: "2" },
        "1": { price: "price_1TSstonewareMug", quantity: "3" },
      },
      success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
      cancel_url: "http://shop.test/cart?canceled=1",
      client_reference_id: shopperRow!.id,
      metadata: { cart: String(cart!.id), shopper: shopperRow!.id },
      customer_creation: "always",
    });
    expect(request!.idempotencyKey).toMatch(new RegExp(`^checkout-cart-${cart!.id}-v${s.view.cart.version}-`));

    const [row] = await checkouts();
    expect(location.endsWith(row!.id)).toBe(true);
    expect(row).toMatchObject({
      mode: "payment",
      amountTotal: 2 * 3200 + 3 * 1800,
      currency: "usd",
      cartId: cart!.id,
      cartVersion: s.view.cart.version,
    });
    const items = await db.select().from(schema.checkoutLineItems);
    expect(items.map((i) => [i.checkoutSessionId, i.quantity, i.unitAmount, i.currency])).toEqual([
      [row!.id, 2, 3200, "usd"],
      [row!.id, 3, 1800, "usd"],
    ]);
    // The operator's console shows every line.
    expect((await orderDetail(row!.id))!.lines).toEqual([
      { name: "Ceramic Pour-Over Dripper", quantity: 2, unitPrice: "$32.00", lineTotal: "$64.00" },
      { name: "Stoneware Mug", quantity: 3, unitPrice: "$18.00", lineTotal: "$54.00" },
    ]);
    // Checking out leaves the cart as it is until the payment.
    expect((await viewCart(s.cookie)).cart.lines).toHaveLength(2);
  });

  it("a double submit opens one session; a changed cart opens a new one", async () => {
    const s = await filledCart();
    const [first, second] = await Promise.all([checkout(s, s.view.cart.version), checkout(s, s.view.cart.version)]);
    expect(first.status).toBe(303);
    expect(second.status).toBe(303);
    expect(second.headers.get("Location")).toBe(first.headers.get("Location"));
    expect(await checkouts()).toHaveLength(1);
    const keys = new Set((await creates()).map((r) => r.idempotencyKey));
    expect(keys.size).toBe(1);

    await add(s, "beeswax-candle", "1");
    const changed = await viewCart(s.cookie);
    const third = await checkout(s, changed.cart.version);
    expect(third.status).toBe(303);
    expect(third.headers.get("Location")).not.toBe(first.headers.get("Location"));
    expect(await checkouts()).toHaveLength(2);
  });

  it("a cart changed in another tab: the page again with a notice, nothing sent to Stripe", async () => {
    const s = await filledCart();
    await add(s, "beeswax-candle", "1");
    const before = await stored();
    const response = await checkout(s, s.view.cart.version);
    expect(response.status).toBe(409);
    expect(await errorOf(response)).toMatch(/changed in another tab/);
    expect(await creates()).toHaveLength(0);
    expect(await stored()).toEqual(before);
  });

  it("a product gone or repriced since the page was shown: the cart is updated, shown again, nothing sent", async () => {
    const s = await filledCart();
    await db.update(schema.products).set({ unitAmount: 2000 }).where(eq(schema.products.slug, "stoneware-mug"));
    const response = await checkout(s, s.view.cart.version);
    expect(response.status).toBe(409);
    const body = (await response.json()) as { error: string; notices: string[] };
    expect(body.error).toMatch(/updated since you last saw it/);
    expect(body.notices).toEqual(["The price of Stoneware Mug changed from $18.00 to $20.00."]);
    expect(await creates()).toHaveLength(0);
    expect(await checkouts()).toHaveLength(0);
  });

  it("an empty cart, a missing version", async () => {
    const s = await shopper();
    let response = await checkout(s, 0);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/empty/);
    await add(s, "ceramic-pour-over", "1");
    response = await post({ intent: "checkout", token: s.token }, s.cookie);
    expect(response.status).toBe(409);
    expect(await creates()).toHaveLength(0);
  });

  it("Stripe down: 502, you have not been charged, nothing stored", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const s = await filledCart();
    await emu.fault({ method: "POST", pathPrefix: "/v1/checkout/sessions", status: 500, count: 10 });
    const response = await checkout(s, s.view.cart.version);
    expect(response.status).toBe(502);
    expect(await errorOf(response)).toMatch(/not been charged/);
    expect(await checkouts()).toHaveLength(0);
  });
});

describe("the payment takes what it bought out of the cart", () => {
  async function checkedOut() {
    const s = await shopper();
    await add(s, "ceramic-pour-over", "2");
    await add(s, "stoneware-mug", "3");
    const view = await viewCart(s.cookie);
    const response = await post({ intent: "checkout", token: s.token, version: String(view.cart.version) }, s.cookie);
    expect(response.status).toBe(303);
    const id = response.headers.get("Location")!.split("/").pop()!;
    const [row] = await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id));
    return { ...s, row: row! };
  }
  const deliver = (type: string, object: object) => {
    const event = stripeEvent(type, object);
    return processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
  };

  it("paid (webhook): the checked-out lines leave the cart, what was added since stays", async () => {
    vi.spyOn(console, "info").mockImplementation(() => {});
    const s = await checkedOut();
    // Added in another tab while paying.
    await add(s, "beeswax-candle", "1");
    await add(s, "stoneware-mug", "1");
    const result = await deliver(CHECKOUT_EVENT.completed, sessionFor(s.row, "paid"));
    expect(result).toMatchObject({ fulfilled: true });
    const view = await viewCart(s.cookie);
    expect(view.cart.lines.map((l) => [l.slug, l.quantity])).toEqual([
      ["stoneware-mug", 1],
      ["beeswax-candle", 1],
    ]);
    // A duplicate delivery takes nothing more.
    await deliver(CHECKOUT_EVENT.completed, sessionFor(s.row, "paid"));
    expect((await viewCart(s.cookie)).cart.lines).toHaveLength(2);
  });

  it("paid with nothing added since: the cart is empty", async () => {
    vi.spyOn(console, "info").mockImplementation(() => {});
    const s = await checkedOut();
    await deliver(CHECKOUT_EVENT.completed, sessionFor(s.row, "paid"));
    expect(await cartLines()).toEqual([]);
    // The confirmation mail, from the order as the job's loader reads it (the app's own database).
    const loadOrder = handle.dialect === "sqlite" ? sqliteOrderLoader(handle.sqlite) : pgOrderLoader(handle.pool);
    const order = await loadOrder(s.row.id);
    const mail = confirmationMail(order!, { appOrigin: "https://shop.example.com", shopName: "Field & Kiln" });
    expect(mail.text).toContain(
      "2 × Ceramic Pour-Over Dripper ($32.00 each): $64.00\n3 × Stoneware Mug ($18.00 each): $54.00\nTotal: $118.00",
    );
  });

  it("completed unpaid (a bank debit on its way) or expired: the cart stays", async () => {
    const s = await checkedOut();
    await deliver(CHECKOUT_EVENT.completed, sessionFor(s.row, "unpaid"));
    expect(await cartLines()).toHaveLength(2);
    const other = await checkedOut();
    await deliver(CHECKOUT_EVENT.expired, sessionFor(other.row, "expired"));
    expect((await viewCart(other.cookie)).cart.lines).toHaveLength(2);
  });
});

describe("the cart through the built server (npm start), as a browser without JavaScript", () => {
  let server: Proc & { databasePath: string };
  beforeAll(async () => {
    server = await startBuiltServer({ stripeApiBase: emu.url });
  });
  afterAll(() => server?.stop());

  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  async function send(path: string, cookie: string, fields?: Record<string, string>, headers = {}) {
    return fetch(`${server.url}${path}`, {
      method: fields ? "POST" : "GET",
      redirect: "manual",
      headers: {
        Cookie: cookie,
        ...(fields ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
        ...headers,
      },
      body: fields ? form(fields) : undefined,
    });
  }
  const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1];

  it("add, set, check out (303 to Stripe with the lines), pay: the cart is empty; bad input gets 4xx pages", async () => {
    const page = await fetch(`${server.url}/products/ceramic-pour-over`);
    const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
    const html = await page.text();
    expect(html).toContain("Add to cart");
    // The cart form's token is the one beside intent=add.
    const token = /name="token" value="([^"]+)"\/><input type="hidden" name="intent" value="add"/.exec(html)?.[1];
    expect(token).toBeDefined();

    let response = await send("/cart", cookie, {
      intent: "add",
      token: token!,
      product: "ceramic-pour-over",
      quantity: "1",
    });
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/cart");
    response = await send("/cart", cookie, { intent: "add", token: token!, product: "stoneware-mug", quantity: "2" });
    expect(response.status).toBe(303);

    // Bad input: a page with the message, a 4xx, nothing sent to Stripe.
    for (const [fields, status, text] of [
      [
        { intent: "add", token: token!, product: "stoneware-mug", quantity: "1.5" },
        400,
        "The quantity must be a whole number.",
      ],
      [
        { intent: "add", token: "A".repeat(24), product: "stoneware-mug", quantity: "1" },
        400,
        "This form has expired.",
      ],
      [
        { intent: "add", token: token!, product: "linen-apron", quantity: "1" },
        409,
        "one checkout charges one currency",
      ],
      [{ intent: "nope", token: token! }, 400, "This form is not one we know."],
    ] as const) {
      const refused = await send("/cart", cookie, fields);
      expect(refused.status).toBe(status);
      expect(await refused.text()).toContain(text);
    }
    const crossSite = await send(
      "/cart",
      cookie,
      { intent: "empty", token: token! },
      { "Sec-Fetch-Site": "cross-site" },
    );
    expect(crossSite.status).toBe(403);

    let cart = await (await send("/cart", cookie)).text();
    expect(cart).toContain("Ceramic Pour-Over Dripper");
    expect(cart).toContain("$68.00");
    const line = /name="intent" value="set"\/><input type="hidden" name="line" value="(\d+)"/.exec(cart)?.[1];
    response = await send("/cart", cookie, { intent: "set", token: token!, line: line!, quantity: "2" });
    expect(response.status).toBe(303);
    cart = await (await send("/cart", cookie)).text();
    expect(cart).toContain("$100.00");
    expect(await creates()).toHaveLength(0);

    response = await send("/cart", cookie, { intent: "checkout", token: token!, version: field(cart, "version")! });
    expect(response.status).toBe(303);
    const location = response.headers.get("Location")!;
    expect(location).toMatch(new RegExp(`^${emu.url}/c/pay/cs_test_`));
    const [request] = await creates();
    expect(request!.params.line_items).toEqual({
      "0": { price: "price_1TSceramicPourOver", quantity: "2" },
      "1": { price: "price_1TSstonewareMug", quantity: "2" },
    });
    expect(request!.params.cancel_url).toBe(`${server.url}/cart?canceled=1`);

    const id = location.split("/").pop()!;
    await emu.pay(id, "card", "ada@example.com");
    const success = await send(`/checkout/success?session_id=${id}`, cookie);
    expect(success.status).toBe(200);
    const successHtml = await success.text();
    expect(successHtml).toContain("Thank you: your payment went through.");
    expect(successHtml).toContain("Stoneware Mug");
    // This page recorded the payment (no webhook here): its header counts the cart after that, empty.
    expect(successHtml).toMatch(/class="cart-link"[^>]*>Cart<\/a>/);
    expect(await (await send("/cart", cookie)).text()).toContain("Your cart is empty.");
  });
});
