import { describe, expect, it } from "vitest";

import { runCli } from "./reconcile-support";

/**
 * The Stripe scripts say which Stripe they ask, and what to start when it does
 * not answer; a dry run prints no summary before its failure.
 */

// No key: the local emulator, here at a port where nothing listens.
const NO_EMULATOR = { STRIPE_SECRET_KEY: "", STRIPE_API_BASE: "http://127.0.0.1:9" };

describe("the Stripe scripts without a running emulator", { timeout: 60_000 }, () => {
  it("stripe:reconcile --dry-run names the emulator, says what to start, and prints no summary", async () => {
    const result = await runCli("reconcile", ["--dry-run"], NO_EMULATOR);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("reconcile: asking the local Stripe emulator at http://127.0.0.1:9");
    expect(result.stderr).toContain("Start it with `npm run emulator` (or `npm run dev`, which starts it)");
    expect(result.stderr).toContain("Nothing was written.");
    expect(result.stdout).toBe("");
  });

  it("stripe:sync-catalog names the emulator and says what to start", async () => {
    const result = await runCli("sync-catalog", [], NO_EMULATOR);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "sync-catalog: reading prices from the local Stripe emulator at http://127.0.0.1:9",
    );
    expect(result.stderr).toContain("Nothing was changed. Is the emulator running?");
    expect(result.stdout).toBe("");
  });

  it("with a key and STRIPE_API_BASE, names that API instead", async () => {
    const result = await runCli("sync-catalog", ["--dry-run"], { STRIPE_API_BASE: "http://127.0.0.1:9" });
    expect(result.stderr).toContain("the Stripe API at http://127.0.0.1:9 (STRIPE_API_BASE)");
    expect(result.stderr).toContain("Is something listening at http://127.0.0.1:9?");
  });
});
