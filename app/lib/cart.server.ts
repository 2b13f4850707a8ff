import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { and, asc, eq, sql } from "drizzle-orm";

import * as pgTables from "../../db/schema/pg";
import * as sqliteTables from "../../db/schema/sqlite";
import type { CartLine, Product } from "../../db/schema/types";
import { checkoutByKey, createCartCheckout } from "./checkout.server";
import { config } from "./config.server";
import { db, handle, schema } from "./db.server";
import { formatMoney } from "./money";

/**
 * The shopper's cart, kept on the server: one `carts` row per shopper (the
 * cookie carries only the shopper id) and one `cart_lines` row per product.
 * Every change bumps the cart's version in the same transaction, and only if
 * the version is still the one the change was decided on, so two tabs never
 * overwrite each other's work. docs/decisions/150-cart-one-currency-one-time-only.md
 */

/** Stripe takes at most 100 line items in a payment-mode Checkout Session. */
export const MAX_CART_LINES = 100;

export const CART_MESSAGES = {
  expired: "This form has expired. Please reload the page and try again.",
  unknownIntent: "This form is not one we know. Please reload the page and try again.",
  unknownProduct: "That product is not for sale.",
  unknownLine: "That line is not in your cart. Please reload the page.",
  subscription:
    "Subscriptions are not sold through the cart: each one is its own checkout. Use Subscribe on its page instead.",
  tooManyLines: `Your cart is full: it holds at most ${MAX_CART_LINES} different products. Check it out first, or remove a line.`,
  empty: "Your cart is empty.",
  changed: "Your cart changed in another tab or window. Nothing was charged. Check it below, then check out again.",
  reviewed: "Your cart was updated since you last saw it. Nothing was charged. Check it below, then check out again.",
} as const;

export type CartItem = { line: CartLine; product: Product };
export type CartState = { cartId: number | null; version: number; items: CartItem[] };
export type Refusal = { ok: false; status: number; message: string; field?: string };
export type CartResult = { ok: true; notices: string[] } | Refusal;

/* -------------------------------------------------------------------------- */
/* The cart form's token                                                      */
/* -------------------------------------------------------------------------- */

/**
 * Every cart form carries a token bound to the shopper by an HMAC under the
 * session secret, as the Buy form does (docs/decisions/091-signed-buy-form-token.md):
 * a post that no page of this shop gave this shopper is refused before
 * anything is read or written. Unlike the Buy token it is not one-time: the
 * cart's own version says whether a form is stale.
 */
const cartMac = (secret: string, shopperId: string) =>
  createHmac("sha256", secret).update(`cart-form:${shopperId}`).digest().subarray(0, 18);

export function cartFormToken(shopperId: string) {
  return cartMac(config.sessionSecrets[0]!, shopperId).toString("base64url");
}

export function isCartTokenFor(token: unknown, shopperId: string | null) {
  if (!shopperId || typeof token !== "string" || !/^[A-Za-z0-9_-]{24}$/.test(token)) return false;
  const given = Buffer.from(token, "base64url");
  return config.sessionSecrets.some((secret) => timingSafeEqual(given, cartMac(secret, shopperId)));
}

/* -------------------------------------------------------------------------- */
/* Reading                                                                    */
/* -------------------------------------------------------------------------- */

export async function readCart(shopperId: string): Promise<CartState> {
  const [cart] = await db.select().from(schema.carts).where(eq(schema.carts.shopperId, shopperId)).limit(1);
  if (!cart) return { cartId: null, version: 0, items: [] };
  const items = await db
    .select({ line: schema.cartLines, product: schema.products })
    .from(schema.cartLines)
    .innerJoin(schema.products, eq(schema.products.id, schema.cartLines.productId))
    .where(eq(schema.cartLines.cartId, cart.id))
    .orderBy(asc(schema.cartLines.createdAt), asc(schema.cartLines.id));
  return { cartId: cart.id, version: cart.version, items };
}

/** How many items the shopper's cart holds (the header's count). */
export async function cartCount(shopperId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`coalesce(sum(${schema.cartLines.quantity}), 0)` })
    .from(schema.cartLines)
    .innerJoin(schema.carts, eq(schema.carts.id, schema.cartLines.cartId))
    .where(eq(schema.carts.shopperId, shopperId));
  return Number(row?.n ?? 0);
}

/* -------------------------------------------------------------------------- */
/* Writing: a list of changes, applied only at the version it was decided on  */
/* -------------------------------------------------------------------------- */

type Change =
  | { op: "put"; productId: number; quantity: number; unitAmount: number; currency: string }
  | { op: "delete"; productId: number }
  | { op: "clear" };

type CommitStore = (shopperId: string, expectedVersion: number, changes: Change[]) => Promise<boolean>;

function sqliteCommit(h: Extract<typeof handle, { dialect: "sqlite" }>): CommitStore {
  const t = sqliteTables;
  return async (shopperId, expectedVersion, changes) =>
    h.sqliteDb.transaction(
      (tx) => {
        tx.insert(t.shoppers).values({ id: shopperId }).onConflictDoNothing().run();
        tx.insert(t.carts).values({ shopperId }).onConflictDoNothing().run();
        const cart = tx.select().from(t.carts).where(eq(t.carts.shopperId, shopperId)).get();
        if (!cart || cart.version !== expectedVersion) return false;
        for (const change of changes) {
          if (change.op === "clear") tx.delete(t.cartLines).where(eq(t.cartLines.cartId, cart.id)).run();
          else if (change.op === "delete") {
            tx.delete(t.cartLines)
              .where(and(eq(t.cartLines.cartId, cart.id), eq(t.cartLines.productId, change.productId)))
              .run();
          } else {
            const { op: _, ...line } = change;
            tx.insert(t.cartLines)
              .values({ ...line, cartId: cart.id })
              .onConflictDoUpdate({
                target: [t.cartLines.cartId, t.cartLines.productId],
                set: { quantity: line.quantity, unitAmount: line.unitAmount, currency: line.currency },
              })
              .run();
          }
        }
        tx.update(t.carts)
          .set({ version: cart.version + 1, updatedAt: Date.now() })
          .where(eq(t.carts.id, cart.id))
          .run();
        return true;
      },
      { behavior: "immediate" },
    );
}

function pgCommit(h: Extract<typeof handle, { dialect: "postgres" }>): CommitStore {
  const t = pgTables;
  return (shopperId, expectedVersion, changes) =>
    h.pgDb.transaction(async (tx) => {
      await tx.insert(t.shoppers).values({ id: shopperId }).onConflictDoNothing();
      await tx.insert(t.carts).values({ shopperId }).onConflictDoNothing();
      const [cart] = await tx.select().from(t.carts).where(eq(t.carts.shopperId, shopperId)).for("update");
      if (!cart || cart.version !== expectedVersion) return false;
      for (const change of changes) {
        if (change.op === "clear") await tx.delete(t.cartLines).where(eq(t.cartLines.cartId, cart.id));
        else if (change.op === "delete") {
          await tx
            .delete(t.cartLines)
            .where(and(eq(t.cartLines.cartId, cart.id), eq(t.cartLines.productId, change.productId)));
        } else {
          const { op: _, ...line } = change;
          await tx
            .insert(t.cartLines)
            .values({ ...line, cartId: cart.id })
            .onConflictDoUpdate({
              target: [t.cartLines.cartId, t.cartLines.productId],
              set: { quantity: line.quantity, unitAmount: line.unitAmount, currency: line.currency },
            });
        }
      }
      await tx
        .update(t.carts)
        .set({ version: cart.version + 1, updatedAt: Date.now() })
        .where(eq(t.carts.id, cart.id));
      return true;
    });
}

let commitStore: CommitStore | undefined;
const commit: CommitStore = (...args) =>
  (commitStore ??= handle.dialect === "sqlite" ? sqliteCommit(handle) : pgCommit(handle))(...args);

/**
 * Reads the cart, decides, and writes the decision if the cart is still at
 * the version read; another tab's change in between means decide again.
 */
async function change(
  shopperId: string,
  decide: (cart: CartState) => { changes: Change[]; notices: string[] } | Refusal,
): Promise<CartResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const cart = await readCart(shopperId);
    const decision = decide(cart);
    if ("ok" in decision) return decision;
    if (decision.changes.length === 0) return { ok: true, notices: decision.notices };
    if (await commit(shopperId, cart.version, decision.changes)) return { ok: true, notices: decision.notices };
  }
  return { ok: false, status: 409, message: CART_MESSAGES.changed };
}

/* -------------------------------------------------------------------------- */
/* The catalog's word on what is in the cart                                  */
/* -------------------------------------------------------------------------- */

const price = (amount: number, currency: string) => formatMoney(amount, currency);

/**
 * What the catalog says now about the lines: a product no longer for sale (or
 * now a subscription) leaves the cart, a changed price is taken, a quantity
 * above the product's maximum comes down to it, and a line whose price is now
 * in another currency than the rest of the cart leaves it. Each with a notice.
 */
export function reviewCart(cart: CartState): { changes: Change[]; notices: string[] } {
  const changes: Change[] = [];
  const notices: string[] = [];
  const kept: CartItem[] = [];
  for (const item of cart.items) {
    const { product } = item;
    if (!product.active || product.mode !== "payment") {
      changes.push({ op: "delete", productId: product.id });
      notices.push(`${product.name} is no longer for sale, so it was removed from your cart.`);
      continue;
    }
    kept.push(item);
  }
  const currency = kept[0]?.product.currency;
  for (const { line, product } of kept) {
    if (product.currency !== currency) {
      changes.push({ op: "delete", productId: product.id });
      notices.push(
        `${product.name} is now priced in ${product.currency.toUpperCase()}, and one checkout charges one currency, so it was removed from your cart.`,
      );
      continue;
    }
    const quantity = Math.min(line.quantity, product.maxQuantity);
    const repriced = line.unitAmount !== product.unitAmount || line.currency !== product.currency;
    if (repriced) {
      notices.push(
        `The price of ${product.name} changed from ${price(line.unitAmount, line.currency)} to ${price(product.unitAmount, product.currency)}.`,
      );
    }
    if (quantity !== line.quantity) {
      notices.push(
        `You can buy at most ${product.maxQuantity} of ${product.name}, so its quantity is now ${quantity}.`,
      );
    }
    if (repriced || quantity !== line.quantity) {
      changes.push({
        op: "put",
        productId: product.id,
        quantity,
        unitAmount: product.unitAmount,
        currency: product.currency,
      });
    }
  }
  return { changes, notices };
}

/** The loader's view: the cart after the catalog's review, and what the review changed. */
export async function viewCart(shopperId: string): Promise<{ cart: CartState; notices: string[] }> {
  const result = await change(shopperId, reviewCart);
  return { cart: await readCart(shopperId), notices: result.ok ? result.notices : [] };
}

/* -------------------------------------------------------------------------- */
/* The actions                                                                */
/* -------------------------------------------------------------------------- */

/** A quantity from a form: a whole number from 1 to `max`, or the message saying why not. */
export function parseQuantity(raw: unknown, max: number, name: string): { ok: true; quantity: number } | Refusal {
  if (typeof raw !== "string" || raw.trim() === "") {
    return { ok: false, status: 400, field: "quantity", message: "Please enter a quantity." };
  }
  const value = raw.trim();
  if (!/^[+-]?\d+$/.test(value)) {
    return { ok: false, status: 400, field: "quantity", message: "The quantity must be a whole number." };
  }
  const quantity = Number(value);
  if (quantity < 1) return { ok: false, status: 400, field: "quantity", message: "The quantity must be at least 1." };
  if (quantity > max) {
    return { ok: false, status: 400, field: "quantity", message: `You can buy at most ${max} of ${name} at once.` };
  }
  return { ok: true, quantity };
}

function currencyRefusal(cart: CartState, product: Product): Refusal | null {
  const currency = cart.items[0]?.product.currency;
  if (!currency || currency === product.currency) return null;
  return {
    ok: false,
    status: 409,
    message: `Your cart is in ${currency.toUpperCase()} and ${product.name} is priced in ${product.currency.toUpperCase()}: one checkout charges one currency. Check out your cart first, or buy ${product.name} on its own with Buy.`,
  };
}

/** Adds `quantity` of a product (more of it if it is already in the cart). */
export function addToCart(shopperId: string, product: Product | undefined, rawQuantity: unknown) {
  return change(shopperId, (cart) => {
    if (!product?.active) return { ok: false, status: 404, message: CART_MESSAGES.unknownProduct };
    if (product.mode !== "payment") return { ok: false, status: 400, message: CART_MESSAGES.subscription };
    const parsed = parseQuantity(
      rawQuantity ?? (product.maxQuantity === 1 ? "1" : undefined),
      product.maxQuantity,
      product.name,
    );
    if (!parsed.ok) return parsed;
    const refused = currencyRefusal(cart, product);
    if (refused) return refused;
    const existing = cart.items.find((item) => item.product.id === product.id);
    if (!existing && cart.items.length >= MAX_CART_LINES) {
      return { ok: false, status: 400, message: CART_MESSAGES.tooManyLines };
    }
    const quantity = (existing?.line.quantity ?? 0) + parsed.quantity;
    if (quantity > product.maxQuantity) {
      return {
        ok: false,
        status: 400,
        field: "quantity",
        message: `You can buy at most ${product.maxQuantity} of ${product.name}, and your cart already has ${existing?.line.quantity ?? 0}.`,
      };
    }
    return {
      changes: [
        { op: "put", productId: product.id, quantity, unitAmount: product.unitAmount, currency: product.currency },
      ],
      notices: [`${product.name} is in your cart.`],
    };
  });
}

const lineOf = (cart: CartState, rawLine: unknown) =>
  typeof rawLine === "string" && /^\d{1,12}$/.test(rawLine)
    ? cart.items.find((item) => item.line.id === Number(rawLine))
    : undefined;

/** Sets one line's quantity; the line must be in this shopper's cart. */
export function setQuantity(shopperId: string, rawLine: unknown, rawQuantity: unknown) {
  return change(shopperId, (cart) => {
    const item = lineOf(cart, rawLine);
    if (!item) return { ok: false, status: 404, message: CART_MESSAGES.unknownLine };
    const parsed = parseQuantity(rawQuantity, item.product.maxQuantity, item.product.name);
    if (!parsed.ok) return parsed;
    if (parsed.quantity === item.line.quantity) return { changes: [], notices: [] };
    const { product } = item;
    return {
      changes: [
        {
          op: "put",
          productId: product.id,
          quantity: parsed.quantity,
          unitAmount: item.line.unitAmount,
          currency: item.line.currency,
        },
      ],
      notices: [],
    };
  });
}

export function removeLine(shopperId: string, rawLine: unknown) {
  return change(shopperId, (cart) => {
    const item = lineOf(cart, rawLine);
    if (!item) return { ok: false, status: 404, message: CART_MESSAGES.unknownLine };
    return { changes: [{ op: "delete", productId: item.product.id }], notices: [] };
  });
}

export function emptyCart(shopperId: string) {
  return change(shopperId, (cart) => ({ changes: cart.items.length > 0 ? [{ op: "clear" }] : [], notices: [] }));
}

/**
 * The checkout's idempotency key: the cart, its version and what it holds. A
 * double submit of one cart is one key (one session); any change to the cart
 * is a new version (a new session).
 */
export function cartCheckoutKey(cartId: number, version: number, items: CartItem[]) {
  const contents = items.map(({ product, line }) => `${product.stripePriceId}:${line.quantity}:${line.unitAmount}`);
  const digest = createHash("sha256").update(contents.join("\n")).digest("base64url").slice(0, 22);
  return `cart-${cartId}-v${version}-${digest}`;
}

/**
 * Checks the cart out as it was shown (`shownVersion`): a cart changed since
 * (another tab), or one the catalog changes (a product gone, a new price),
 * is shown again with a notice and nothing is sent to Stripe.
 */
export async function checkoutCart({
  shopperId,
  shownVersion,
  clientAddress,
}: {
  shopperId: string;
  shownVersion: unknown;
  clientAddress?: string;
}): Promise<{ ok: true; url: string } | { ok: false; status: number; message: string; notices: string[] }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const cart = await readCart(shopperId);
    if (cart.cartId === null || cart.items.length === 0) {
      return { ok: false, status: 400, message: CART_MESSAGES.empty, notices: [] };
    }
    if (typeof shownVersion !== "string" || shownVersion !== String(cart.version)) {
      return { ok: false, status: 409, message: CART_MESSAGES.changed, notices: [] };
    }
    const review = reviewCart(cart);
    if (review.changes.length > 0) {
      await commit(shopperId, cart.version, review.changes);
      return { ok: false, status: 409, message: CART_MESSAGES.reviewed, notices: review.notices };
    }
    const key = cartCheckoutKey(cart.cartId, cart.version, cart.items);
    const previous = await checkoutByKey(key);
    if (previous?.status === "complete") {
      return {
        ok: false,
        status: 409,
        message: "This cart was already checked out and its payment is on its way. See Your orders.",
        notices: [],
      };
    }
    if (previous && previous.status !== "open") {
      // This very cart was checked out before and that checkout has ended
      // (expired): a new version, a new key, a new session.
      if (await commit(shopperId, cart.version, [])) shownVersion = String(cart.version + 1);
      continue;
    }
    const checkout = await createCartCheckout({
      key,
      cart: { id: cart.cartId, version: cart.version },
      lines: cart.items.map(({ product, line }) => ({ product, quantity: line.quantity })),
      shopperId,
      clientAddress,
    });
    return { ok: true, url: checkout.url };
  }
  return { ok: false, status: 409, message: CART_MESSAGES.changed, notices: [] };
}
