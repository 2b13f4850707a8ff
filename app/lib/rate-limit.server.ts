import type { AppLoadContext } from "@remix-run/node";

import { databaseLimiter } from "./limiter.server";

/**
 * Slows down guessing of Checkout Session ids on the success page: each
 * client may fail a bounded number of look-ups (400 or 404) in a window;
 * after that it gets 429 until the window ends. A look-up of the shopper's
 * own order never counts and is never refused. Counted in the database, so
 * the bound holds across instances (docs/decisions/021-guessing-bound.md,
 * 061-limits-in-the-database.md).
 */

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
