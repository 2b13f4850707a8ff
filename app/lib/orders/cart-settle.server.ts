import { and, eq, lte, sql } from "drizzle-orm";

import * as pgTables from "../../../db/schema/pg";
import * as sqliteTables from "../../../db/schema/sqlite";
import type { CheckoutSession } from "../../../db/schema/types";
import type { Tx } from "../fulfillment.server";

/**
 * A paid cart checkout takes what it bought out of the cart, in the state
 * machine's transaction that first records the payment (fulfillment): each
 * checked-out line's quantity is taken off the cart's line for that product,
 * and a line left with none is removed. What the shopper added after checking
 * out stays. The cart's version moves on when anything changed, so a checkout
 * form shown before the payment is stale. Not the success page's job: a
 * shopper who never comes back has an empty cart all the same.
 * docs/decisions/152-cart-emptied-by-the-payment.md
 */

export function settleCartSync(tx: Extract<Tx, { dialect: "sqlite" }>, checkout: CheckoutSession) {
  if (checkout.cartId == null) return;
  const t = sqliteTables;
  const items = tx.tx
    .select()
    .from(t.checkoutLineItems)
    .where(eq(t.checkoutLineItems.checkoutSessionId, checkout.id))
    .all();
  let changed = 0;
  for (const item of items) {
    changed += tx.tx
      .update(t.cartLines)
      .set({ quantity: sql`${t.cartLines.quantity} - ${item.quantity}` })
      .where(and(eq(t.cartLines.cartId, checkout.cartId), eq(t.cartLines.productId, item.productId)))
      .run().changes;
  }
  tx.tx
    .delete(t.cartLines)
    .where(and(eq(t.cartLines.cartId, checkout.cartId), lte(t.cartLines.quantity, 0)))
    .run();
  if (changed > 0) {
    tx.tx
      .update(t.carts)
      .set({ version: sql`${t.carts.version} + 1`, updatedAt: Date.now() })
      .where(eq(t.carts.id, checkout.cartId))
      .run();
  }
}

export async function settleCartAsync(tx: Extract<Tx, { dialect: "postgres" }>, checkout: CheckoutSession) {
  if (checkout.cartId == null) return;
  const t = pgTables;
  const cartId = checkout.cartId;
  // The cart's row first, as every cart change does: one writer at a time.
  await tx.tx.select({ id: t.carts.id }).from(t.carts).where(eq(t.carts.id, cartId)).for("update");
  const items = await tx.tx
    .select()
    .from(t.checkoutLineItems)
    .where(eq(t.checkoutLineItems.checkoutSessionId, checkout.id));
  let changed = 0;
  for (const item of items) {
    const rows = await tx.tx
      .update(t.cartLines)
      .set({ quantity: sql`${t.cartLines.quantity} - ${item.quantity}` })
      .where(and(eq(t.cartLines.cartId, cartId), eq(t.cartLines.productId, item.productId)))
      .returning({ id: t.cartLines.id });
    changed += rows.length;
  }
  await tx.tx.delete(t.cartLines).where(and(eq(t.cartLines.cartId, cartId), lte(t.cartLines.quantity, 0)));
  if (changed > 0) {
    await tx.tx
      .update(t.carts)
      .set({ version: sql`${t.carts.version} + 1`, updatedAt: Date.now() })
      .where(eq(t.carts.id, cartId));
  }
}
