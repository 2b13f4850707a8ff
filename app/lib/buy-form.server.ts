import { randomBytes } from "node:crypto";

import type { Product } from "../../db/schema/types";

/**
 * The Buy form's fields, checked against the catalog. Only `quantity` and
 * `token` are read; everything else a form might carry (a price, an amount,
 * a success_url) is ignored.
 */

export function newFormToken() {
  return randomBytes(18).toString("base64url");
}

const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

export type BuyFormResult =
  | { ok: true; quantity: number; token: string }
  | { ok: false; error: string; field: "quantity" | "token" };

export function parseBuyForm(form: FormData, product: Pick<Product, "maxQuantity">): BuyFormResult {
  const token = form.get("token");
  if (typeof token !== "string" || !TOKEN.test(token)) {
    return { ok: false, field: "token", error: "This form has expired. Please try again." };
  }

  const raw = form.get("quantity");
  // A product sold one at a time has no quantity field.
  if (raw === null && product.maxQuantity === 1) return { ok: true, quantity: 1, token };
  if (typeof raw !== "string" || raw.trim() === "") {
    return { ok: false, field: "quantity", error: "Please enter a quantity." };
  }
  if (!/^\d+$/.test(raw.trim())) {
    return { ok: false, field: "quantity", error: "The quantity must be a whole number." };
  }
  const quantity = Number(raw.trim());
  if (quantity < 1) return { ok: false, field: "quantity", error: "The quantity must be at least 1." };
  if (quantity > product.maxQuantity) {
    return {
      ok: false,
      field: "quantity",
      error: `You can buy at most ${product.maxQuantity} of these at once.`,
    };
  }
  return { ok: true, quantity, token };
}
