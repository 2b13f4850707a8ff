import { describe, expect, it } from "vitest";

import { databaseLimiter } from "~/lib/limiter.server";
import { clientKey } from "~/lib/rate-limit.server";

/** The database limiter behind the guessing bound, with a clock the test moves (no waiting). */

function limiterAt(start = 1_000_000) {
  let now = start;
  const limiter = databaseLimiter({
    name: `test_${Math.random().toString(36).slice(2)}`,
    points: 3,
    windowMs: 60_000,
    now: () => now,
  });
  return { limiter, advance: (ms: number) => (now += ms) };
}

describe("databaseLimiter", () => {
  it("blocks a key once it used its points in the window, until the window ends", async () => {
    const { limiter, advance } = limiterAt();
    await limiter.consume("a");
    advance(10_000);
    await limiter.consume("a");
    advance(10_000);
    expect(await limiter.blockedFor("a")).toBeNull();
    expect((await limiter.consume("a")).blockedFor).toBe(40);
    // The window began with the first point, 20 s ago: 40 s to go.
    expect(await limiter.blockedFor("a")).toBe(40);
    advance(39_000);
    expect(await limiter.blockedFor("a")).toBe(1);
    advance(1_000);
    expect(await limiter.blockedFor("a")).toBeNull(); // a new window: one more try is allowed
    expect(await limiter.consume("a")).toEqual({ used: 1, blockedFor: null });
  });

  it("keeps keys and limiters apart", async () => {
    const { limiter } = limiterAt();
    const other = limiterAt().limiter;
    for (let i = 0; i < 3; i++) await limiter.consume("a");
    expect(await limiter.blockedFor("a")).not.toBeNull();
    expect(await limiter.blockedFor("b")).toBeNull();
    expect(await other.blockedFor("a")).toBeNull();
  });

  it("reset() forgets a key, or all of them", async () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 3; i++) await limiter.consume("a");
    for (let i = 0; i < 3; i++) await limiter.consume("b");
    await limiter.reset("a");
    expect(await limiter.blockedFor("a")).toBeNull();
    expect(await limiter.blockedFor("b")).not.toBeNull();
    await limiter.reset();
    expect(await limiter.blockedFor("b")).toBeNull();
  });
});

describe("clientKey", () => {
  const request = new Request("http://shop.test/checkout/success", { headers: { "X-Forwarded-For": "198.51.100.1" } });

  it("prefers the client address the server passes in the load context", () => {
    expect(clientKey(request, { clientAddress: "203.0.113.7" }, "shopper1")).toBe("address:203.0.113.7");
  });

  it("falls back to a shopper the database knows, then to one shared anonymous bucket", () => {
    expect(clientKey(request, {}, "shopper1")).toBe("shopper:shopper1");
    expect(clientKey(request, {}, null)).toBe("anonymous");
  });

  it("never trusts X-Forwarded-For, which any client can send", () => {
    expect(clientKey(request, {}, null)).not.toContain("198.51.100.1");
  });
});
