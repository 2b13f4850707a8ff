import { describe, expect, it } from "vitest";

import { clientKey, slidingWindowLimiter } from "~/lib/rate-limit.server";

/** The guessing bound's window and key, with a clock the test moves (no waiting). */

function limiterAt(start = 1_000_000) {
  let now = start;
  const limiter = slidingWindowLimiter({ limit: 3, windowMs: 60_000, maxKeys: 2, now: () => now });
  return { limiter, advance: (ms: number) => (now += ms) };
}

describe("slidingWindowLimiter", () => {
  it("blocks a key after `limit` failures in the window, for as long as the oldest one stays in it", () => {
    const { limiter, advance } = limiterAt();
    limiter.fail("a");
    advance(10_000);
    limiter.fail("a");
    advance(10_000);
    expect(limiter.blockedFor("a")).toBeNull();
    limiter.fail("a");
    // The first failure leaves the window 40 s from now.
    expect(limiter.blockedFor("a")).toBe(40);
    advance(39_000);
    expect(limiter.blockedFor("a")).toBe(1);
    advance(1_000);
    expect(limiter.blockedFor("a")).toBeNull(); // it slid out: one more try is allowed
    limiter.fail("a");
    expect(limiter.blockedFor("a")).toBe(10);
  });

  it("keeps keys apart, and forgets the longest-idle key past maxKeys", () => {
    const { limiter, advance } = limiterAt();
    for (let i = 0; i < 3; i++) limiter.fail("a");
    expect(limiter.blockedFor("a")).not.toBeNull();
    expect(limiter.blockedFor("b")).toBeNull();
    advance(1);
    limiter.fail("b");
    limiter.fail("c"); // a third key: "a", idle longest, is forgotten
    expect(limiter.blockedFor("a")).toBeNull();
  });

  it("reset() forgets everything", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 3; i++) limiter.fail("a");
    limiter.reset();
    expect(limiter.blockedFor("a")).toBeNull();
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
