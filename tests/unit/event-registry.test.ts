import { readFileSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { HANDLED_EVENT_TYPES, HANDLED_EVENTS, handledEvent } from "~/lib/orders/events";

describe("the registry of handled event types", () => {
  it("is what the README tells `stripe listen --events` to forward, no more and no less", () => {
    const readme = readFileSync(path.resolve("README.md"), "utf8");
    const line = readme.match(/--events\s+(\S+)/);
    expect(line, "the README has a `stripe listen ... --events a,b,c` line").not.toBeNull();
    expect(line![1]!.split(",").sort()).toEqual([...HANDLED_EVENT_TYPES].sort());
  });

  it("names the object each type carries and its effect", () => {
    for (const type of HANDLED_EVENT_TYPES) {
      const entry = HANDLED_EVENTS[type];
      const object = type.startsWith("checkout.session.")
        ? "checkout.session"
        : type.startsWith("customer.subscription.")
          ? "subscription"
          : type.startsWith("charge.dispute.")
            ? "dispute"
            : type.startsWith("charge.")
              ? "charge"
              : type.startsWith("refund.")
                ? "refund"
                : "invoice";
      expect(object).toBe(entry.object);
      expect(entry.effect).toMatch(/^[a-z_]+$/);
    }
  });

  it("does not find Object's prototype for a type such as constructor", () => {
    expect(handledEvent("constructor")).toBeNull();
    expect(handledEvent("__proto__")).toBeNull();
    expect(handledEvent("invoice.created")).toBeNull();
  });
});
