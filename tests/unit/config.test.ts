import { describe, expect, it } from "vitest";

import { ConfigError, parseConfig } from "~/lib/config.server";

const production = {
  NODE_ENV: "production",
  STRIPE_SECRET_KEY: "sk_live_abc123",
  STRIPE_WEBHOOK_SECRET: "whsec_new, whsec_old",
  SESSION_SECRET: `${"n".repeat(32)},${"o".repeat(32)}`,
  APP_ORIGIN: "https://shop.example.com",
  MAIL_URL: "smtp://mailer:secret@mail.example.com:587",
};

function errorOf(env: Record<string, string | undefined>) {
  try {
    parseConfig(env);
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("listens where HOST says, or on all interfaces", () => {
    expect(parseConfig({ ...production, HOST: "127.0.0.1" }).host).toBe("127.0.0.1");
    expect(parseConfig(production).host).toBeUndefined();
  });

  it("reads a complete production environment", () => {
    const config = parseConfig(production);
    expect(config.production).toBe(true);
    expect(config.stripe.livemode).toBe(true);
    expect(config.stripe.webhookSecrets).toEqual(["whsec_new", "whsec_old"]);
    expect(config.sessionSecrets).toEqual(["n".repeat(32), "o".repeat(32)]);
    expect(config.stripe.apiBase).toBeUndefined();
    expect(config.stripe.simulated).toBe(false);
    expect(config.databasePath).toBe("data/app.db");
    expect(config.port).toBe(3000);
  });

  it("names every missing production secret", () => {
    const message = errorOf({ NODE_ENV: "production" });
    for (const name of ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SESSION_SECRET", "APP_ORIGIN"]) {
      expect(message).toContain(`${name} is required in production`);
    }
  });

  it.each([
    ["STRIPE_SECRET_KEY", "pk_test_123", "STRIPE_SECRET_KEY must start with sk_test_ or sk_live_"],
    ["STRIPE_WEBHOOK_SECRET", "whsec_ok,nope", "STRIPE_WEBHOOK_SECRET must be one or more comma-separated whsec_"],
    ["SESSION_SECRET", "short", "SESSION_SECRET must be one or more comma-separated secrets of at least 32"],
    ["APP_ORIGIN", "shop.example.com", "APP_ORIGIN must be an http(s) origin"],
    ["APP_ORIGIN", "https://shop.example.com/path", "APP_ORIGIN must be an origin only"],
    ["STRIPE_API_BASE", "ftp://x", "STRIPE_API_BASE must be an http(s) URL"],
    ["PORT", "eighty", "PORT must be a number"],
    ["PORT", "70000", "PORT must be between 0 and 65535"],
    ["HOST", "127.0.0.1/8", "HOST must be an address or a host name"],
    ["STRIPE_TIMEOUT_MS", "10", "STRIPE_TIMEOUT_MS must be at least 100"],
  ])("refuses a malformed %s with a message naming it", (name, value, message) => {
    expect(errorOf({ ...production, [name]: value })).toContain(message);
  });

  it("runs development without keys against the emulator, and says so", () => {
    const config = parseConfig({ NODE_ENV: "development" });
    expect(config.stripe.emulated).toBe(true);
    expect(config.stripe.simulated).toBe(true);
    expect(config.stripe.apiBase?.href).toBe("http://127.0.0.1:12111/");
    expect(config.appOrigin).toBe("http://localhost:5173");
  });

  it("uses real Stripe in development when a key is given", () => {
    const config = parseConfig({ NODE_ENV: "development", STRIPE_SECRET_KEY: "sk_test_123" });
    expect(config.stripe.emulated).toBe(false);
    expect(config.stripe.simulated).toBe(false);
    expect(config.stripe.apiBase).toBeUndefined();
  });

  it("refuses the emulator's key in production unless STRIPE_API_BASE says so explicitly", () => {
    const emulatorKey = { ...production, STRIPE_SECRET_KEY: "sk_test_emulator_local_only" };
    expect(errorOf(emulatorKey)).toContain("STRIPE_SECRET_KEY is the emulator's key");
    const explicit = parseConfig({ ...emulatorKey, STRIPE_API_BASE: "http://127.0.0.1:12111" });
    expect(explicit.stripe.simulated).toBe(true);
  });

  it("treats blank values as unset", () => {
    expect(errorOf({ ...production, SESSION_SECRET: "  " })).toContain("SESSION_SECRET is required in production");
  });

  it("selects PostgreSQL with DATABASE_URL and sizes its pool; SQLite when unset", () => {
    expect(parseConfig({})).toMatchObject({ databaseUrl: undefined, databasePoolMax: 10, databaseBusyTimeoutMs: 250 });
    expect(
      parseConfig({ DATABASE_URL: "postgres://shop@db.internal:5432/shop", DATABASE_POOL_MAX: "25" }),
    ).toMatchObject({ databaseUrl: "postgres://shop@db.internal:5432/shop", databasePoolMax: 25 });
  });

  it("names DATABASE_URL and DATABASE_POOL_MAX when they are wrong", () => {
    expect(errorOf({ DATABASE_URL: "mysql://shop@db/shop" })).toContain("DATABASE_URL must be a postgres:// URL");
    expect(errorOf({ DATABASE_POOL_MAX: "0" })).toContain("DATABASE_POOL_MAX must be at least 1");
    expect(errorOf({ DATABASE_POOL_MAX: "many" })).toContain("DATABASE_POOL_MAX must be a number");
  });

  it("bounds checkouts per shopper and per address at 10 and 30 unless told, and names a bad bound", () => {
    expect(parseConfig({})).toMatchObject({ checkoutsPerShopper: 10, checkoutsPerAddress: 30 });
    expect(parseConfig({ CHECKOUTS_PER_SHOPPER: "25", CHECKOUTS_PER_ADDRESS: "200" })).toMatchObject({
      checkoutsPerShopper: 25,
      checkoutsPerAddress: 200,
    });
    expect(errorOf({ CHECKOUTS_PER_SHOPPER: "0" })).toContain("CHECKOUTS_PER_SHOPPER must be at least 1");
    expect(errorOf({ CHECKOUTS_PER_ADDRESS: "1.5" })).toContain("CHECKOUTS_PER_ADDRESS must be a whole number");
  });
});
