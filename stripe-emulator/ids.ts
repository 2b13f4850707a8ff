import { randomBytes } from "node:crypto";

/** Random ids shaped like Stripe's: a prefix and base-62 characters. */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// 248 = 62 * 4: bytes at or above it are skipped so that every character is equally likely.
const LIMIT = 248;

let pool = randomBytes(16384);
let position = 0;

export function randomString(length: number): string {
  let out = "";
  while (out.length < length) {
    if (position >= pool.length) {
      pool = randomBytes(16384);
      position = 0;
    }
    const byte = pool[position++]!;
    if (byte < LIMIT) out += ALPHABET[byte % 62];
  }
  return out;
}

export const newId = {
  checkoutSession: () => `cs_test_${randomString(58)}`,
  event: () => `evt_${randomString(24)}`,
  request: () => `req_${randomString(14)}`,
  customer: () => `cus_${randomString(14)}`,
  paymentIntent: () => `pi_${randomString(24)}`,
  paymentMethod: () => `pm_${randomString(24)}`,
  charge: () => `ch_${randomString(24)}`,
  subscription: () => `sub_${randomString(24)}`,
  subscriptionItem: () => `si_${randomString(14)}`,
  lineItem: () => `li_${randomString(24)}`,
  portalSession: () => `bps_${randomString(24)}`,
  secret: () => randomString(24),
  invoicePrefix: () => randomBytes(4).toString("hex").toUpperCase(),
};

/** Unix seconds, like every Stripe timestamp. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);
