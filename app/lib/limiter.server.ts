import { and, eq, sql } from "drizzle-orm";

import { db, schema } from "./db.server";

const { rateLimits } = schema;

/**
 * A named limiter kept in the database (table rate_limits), so that every
 * instance sharing it counts together: `points` per `windowMs` per key. The
 * window starts at a key's first point and ends `windowMs` later (a fixed
 * window per key). One upsert counts a point and says where the key stands,
 * the same statement on SQLite and PostgreSQL
 * (docs/decisions/061-limits-in-the-database.md).
 */
export type Limiter = {
  readonly name: string;
  /** Seconds to wait when `key` has used up its points, else null. Counts nothing. */
  blockedFor(key: string): Promise<number | null>;
  /** Counts `cost` points for `key`; `blockedFor` is the wait when the key is now over its points. */
  consume(key: string, cost?: number): Promise<{ used: number; blockedFor: number | null }>;
  /** Counts one point for `key` and says whether it was within the points; else the seconds to wait. */
  take(key: string): Promise<{ ok: true } | { ok: false; retryAfter: number }>;
  /** Forgets one key, or every key of this limiter. */
  reset(key?: string): Promise<void>;
};

export function databaseLimiter({
  name,
  points,
  windowMs: windowOption,
  now = Date.now,
}: {
  name: string;
  points: number;
  /** Milliseconds, or a function giving them (read at each call: a configured window). */
  windowMs: number | (() => number);
  now?: () => number;
}): Limiter {
  const windowLength = () => (typeof windowOption === "function" ? windowOption() : windowOption);
  const wait = (windowStart: number, at: number) => Math.max(1, Math.ceil((windowStart + windowLength() - at) / 1000));
  return {
    name,
    async blockedFor(key) {
      const at = now();
      const [row] = await db
        .select()
        .from(rateLimits)
        .where(and(eq(rateLimits.name, name), eq(rateLimits.key, key)))
        .limit(1);
      if (!row || row.windowStart + windowLength() <= at || row.points < points) return null;
      return wait(row.windowStart, at);
    },
    async consume(key, cost = 1) {
      const at = now();
      const expired = sql`${rateLimits.windowStart} <= ${at - windowLength()}`;
      const [row] = await db
        .insert(rateLimits)
        .values({ name, key, windowStart: at, points: cost })
        .onConflictDoUpdate({
          target: [rateLimits.name, rateLimits.key],
          set: {
            points: sql`case when ${expired} then ${cost} else ${rateLimits.points} + ${cost} end`,
            windowStart: sql`case when ${expired} then ${at} else ${rateLimits.windowStart} end`,
          },
        })
        .returning({ points: rateLimits.points, windowStart: rateLimits.windowStart });
      const used = Number(row?.points ?? cost);
      const start = Number(row?.windowStart ?? at);
      // Rows of windows long over are dropped now and then, so the table stays small.
      if (Math.random() < 0.01) {
        await db.delete(rateLimits).where(sql`${rateLimits.windowStart} < ${at - 2 * windowLength()}`);
      }
      return { used, blockedFor: used >= points ? wait(start, at) : null };
    },
    async take(key) {
      const { used, blockedFor } = await this.consume(key);
      return used <= points ? { ok: true } : { ok: false, retryAfter: blockedFor ?? 1 };
    },
    async reset(key) {
      await db
        .delete(rateLimits)
        .where(key === undefined ? eq(rateLimits.name, name) : and(eq(rateLimits.name, name), eq(rateLimits.key, key)));
    },
  };
}
