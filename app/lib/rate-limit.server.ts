import type { AppLoadContext } from "@remix-run/node";

import { config } from "./config.server";
import { databaseLimiter } from "./limiter.server";

/**
 * Slows down guessing of Checkout Session ids on the success page: each
 * client may fail a bounded number of look-ups (400 or 404) in a window;
 * after that it gets 429 until the window ends. A look-up of the shopper's
 * own order never counts and is never refused. Counted in the database, so
 * the bound holds across instances (docs/decisions/021-guessing-bound.md,
 * 061-limits-in-the-database.md).
 */

/**
 * What one client can make the shop ask of Stripe, counted in the database
 * (so across instances): Checkout Sessions opened per shopper and per
 * address, and one look-up of a pending session every few seconds however
 * often its page is loaded (the answer is applied to the stored order, so the
 * page shows it until the next look-up). A shopper who behaves never meets
 * these (docs/decisions/095-stripe-call-bounds.md).
 */
export const checkoutsPerShopper = databaseLimiter({
  name: "checkouts_per_shopper",
  points: config.checkoutsPerShopper,
  windowMs: 10 * 60_000,
});
export const checkoutsPerAddress = databaseLimiter({
  name: "checkouts_per_address",
  points: config.checkoutsPerAddress,
  windowMs: 10 * 60_000,
});
export const sessionLookups = databaseLimiter({
  name: "stripe_session_lookups",
  points: 1,
  windowMs: () => config.stripeLookupIntervalMs,
});

export const TOO_MANY_CHECKOUTS =
  "You have started many checkouts in a short time. Please wait a few minutes, then try again. You have not been charged.";

/** 10 failed order look-ups a minute per client. */
export const orderLookups = databaseLimiter({ name: "order_lookups", points: 10, windowMs: 60_000 });

/**
 * Who is guessing, in one place so that it can change with the deployment:
 * the client address when the server passes one in the Remix load context
 * (`getLoadContext` returning `{ clientAddress }`), else the shopper (only a
 * shopper the database knows: a fresh cookie costs nothing to make), else one
 * bucket shared by every anonymous client. Headers such as X-Forwarded-For
 * are not read here: anyone can send them unless a trusted proxy sets them,
 * and only the server knows whether one does.
 */
export function clientKey(_request: Request, context: AppLoadContext | undefined, knownShopperId: string | null) {
  const address = context?.clientAddress;
  if (typeof address === "string" && address !== "") return `address:${address}`;
  if (knownShopperId) return `shopper:${knownShopperId}`;
  return "anonymous";
}
