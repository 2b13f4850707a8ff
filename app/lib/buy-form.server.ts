import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

import type { Product } from "../../db/schema/types";
import { config } from "./config.server";

/**
 * The Buy form's fields, checked against the catalog. Only `quantity` and
 * `token` are read; everything else a form might carry (a price, an amount,
 * a success_url) is ignored.
 */

/**
 * The form token is issued by the server and bound to the shopper: a random
 * nonce and an HMAC over it and the shopper id, keyed with the session secret
 * (docs/decisions/091-signed-buy-form-token.md). Stateless, so any instance
 * can check it; a script with no page load, or another shopper's token, is
 * refused before Stripe is asked anything. 9 + 9 bytes keep the 24-character
 * shape the token has always had (it is also the idempotency key's suffix).
 */
const NONCE_BYTES = 9;
const MAC_BYTES = 9;

function mac(secret: string, nonce: string, shopperId: string) {
  return createHmac("sha256", secret).update(`buy-form:${nonce}:${shopperId}`).digest().subarray(0, MAC_BYTES);
}

export function newFormToken(shopperId: string) {
  const nonce = randomBytes(NONCE_BYTES).toString("base64url");
  return nonce + mac(config.sessionSecrets[0]!, nonce, shopperId).toString("base64url");
}

/** Whether this shopper was given this token (by any current session secret). */
export function isFormTokenFor(token: string, shopperId: string | null) {
  if (!shopperId || !TOKEN.test(token)) return false;
  const nonceLength = (NONCE_BYTES / 3) * 4;
  const nonce = token.slice(0, nonceLength);
  const given = Buffer.from(token.slice(nonceLength), "base64url");
  if (given.length !== MAC_BYTES) return false;
  return config.sessionSecrets.some((secret) => timingSafeEqual(given, mac(secret, nonce, shopperId)));
}

export const FORM_EXPIRED = "This form has expired. Please try again.";

const TOKEN = /^[A-Za-z0-9_-]{24}$/;

export type BuyFormResult =
  | { ok: true; quantity: number; token: string }
  | { ok: false; error: string; field: "quantity" | "token" };

export function parseBuyForm(form: FormData, product: Pick<Product, "maxQuantity">): BuyFormResult {
  const token = form.get("token");
  if (typeof token !== "string" || !TOKEN.test(token)) {
    return { ok: false, field: "token", error: FORM_EXPIRED };
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
