import type { AppLoadContext } from "@remix-run/node";

/**
 * Slows down guessing of Checkout Session ids on the success page: each
 * client may fail a bounded number of look-ups (400 or 404) in a sliding
 * window; after that it gets 429 until the oldest failure leaves the window.
 * A look-up of the shopper's own order never counts and is never refused.
 *
 * In memory, per process: enough to make enumeration impractical from one
 * client on one server, and reset by a restart (docs/decisions/021-guessing-bound.md).
 */

export type Limiter = {
  /** Seconds to wait when `key` has used up its failures, else null. */
  blockedFor(key: string): number | null;
  /** Records one failed look-up for `key`. */
  fail(key: string): void;
  reset(): void;
};

export function slidingWindowLimiter({
  limit,
  windowMs,
  maxKeys = 10_000,
  now = Date.now,
}: {
  limit: number;
  windowMs: number;
  /** Past this many clients, the ones idle longest are forgotten: memory stays bounded. */
  maxKeys?: number;
  now?: () => number;
}): Limiter {
  // A Map keeps insertion order; a key is re-inserted on every failure, so the
  // first keys are the ones idle longest.
  const failures = new Map<string, number[]>();

  function recent(key: string) {
    const times = failures.get(key);
    if (!times) return [];
    const since = now() - windowMs;
    const kept = times.filter((t) => t > since);
    if (kept.length === 0) failures.delete(key);
    else if (kept.length !== times.length) failures.set(key, kept);
    return kept;
  }

  return {
    blockedFor(key) {
      const times = recent(key);
      if (times.length < limit) return null;
      return Math.max(1, Math.ceil((times[0]! + windowMs - now()) / 1000));
    },
    fail(key) {
      const times = recent(key);
      // Kept at `limit` entries: a client that keeps guessing costs no more memory.
      const next = [...times, now()].slice(-limit);
      failures.delete(key);
      failures.set(key, next);
      while (failures.size > maxKeys) failures.delete(failures.keys().next().value!);
    },
    reset() {
      failures.clear();
    },
  };
}

/** 10 failed order look-ups a minute per client. */
export const orderLookups = slidingWindowLimiter({ limit: 10, windowMs: 60_000 });

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
