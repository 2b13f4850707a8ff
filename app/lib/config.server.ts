import { existsSync } from "node:fs";
import { z } from "zod";

/**
 * The whole configuration, read from the environment once and validated
 * (the README's configuration table). Nothing else reads process.env. A bad value stops the
 * server with a message that names the variable, never a stack trace.
 */

export class ConfigError extends Error {
  override name = "ConfigError";
}

// The bundled emulator (stripe-emulator) and the secrets it signs with.
// Only used in development when no Stripe key is configured.
export const EMULATOR_DEFAULTS = {
  apiBase: "http://127.0.0.1:12111",
  secretKey: "sk_test_emulator_local_only",
  webhookSecret: "whsec_emulator_local_only",
} as const;

const DEV_SESSION_SECRET = "dev-only-session-secret-change-me-in-production";

const list = (value: string) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

const onOff = (name: string) => z.enum(["on", "off"], { error: `${name} must be on or off` }).default("off");

// Two-letter codes Stripe's shipping_address_collection.allowed_countries refuses (SDK docs).
const UNSUPPORTED_SHIPPING_COUNTRIES = new Set("AS CX CC CU HM IR KP MH FM NF MP PW SY UM VI".split(" "));

const optional = (value: string | undefined) => (value === undefined || value.trim() === "" ? undefined : value.trim());

const schema = z.object({
  NODE_ENV: z
    .enum(["development", "production", "test"], {
      error: "NODE_ENV must be development, production or test",
    })
    .default("development"),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, {
      error: "STRIPE_SECRET_KEY must start with sk_test_ or sk_live_ (or a restricted rk_ key)",
    })
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .transform(list)
    .refine((secrets) => secrets.length > 0 && secrets.every((s) => /^whsec_\S+$/.test(s)), {
      error: "STRIPE_WEBHOOK_SECRET must be one or more comma-separated whsec_... secrets",
    })
    .optional(),
  STRIPE_API_BASE: z
    .url({
      protocol: /^https?$/,
      error: "STRIPE_API_BASE must be an http(s) URL such as http://127.0.0.1:12111",
    })
    .optional(),
  STRIPE_TIMEOUT_MS: z.coerce
    .number({ error: "STRIPE_TIMEOUT_MS must be a number of milliseconds" })
    .int({ error: "STRIPE_TIMEOUT_MS must be a whole number of milliseconds" })
    .min(100, { error: "STRIPE_TIMEOUT_MS must be at least 100" })
    .max(80_000, { error: "STRIPE_TIMEOUT_MS must be at most 80000" })
    .default(5_000),
  APP_ORIGIN: z
    .url({ protocol: /^https?$/, error: "APP_ORIGIN must be an http(s) origin such as https://shop.example.com" })
    .refine((value) => URL.canParse(value) && new URL(value).origin === value.replace(/\/$/, ""), {
      error: "APP_ORIGIN must be an origin only (scheme, host and port; no path or query)",
    })
    .optional(),
  SESSION_SECRET: z
    .string()
    .transform(list)
    .refine((secrets) => secrets.length > 0 && secrets.every((s) => s.length >= 32), {
      error: "SESSION_SECRET must be one or more comma-separated secrets of at least 32 characters",
    })
    .optional(),
  DATABASE_URL: z
    .string()
    .refine((value) => /^postgres(ql)?:\/\/./.test(value) && URL.canParse(value), {
      error: "DATABASE_URL must be a postgres:// URL such as postgres://user@127.0.0.1:5432/shop (unset: SQLite)",
    })
    .optional(),
  DATABASE_POOL_MAX: z.coerce
    .number({ error: "DATABASE_POOL_MAX must be a number of connections" })
    .int({ error: "DATABASE_POOL_MAX must be a whole number of connections" })
    .min(1, { error: "DATABASE_POOL_MAX must be at least 1" })
    .max(1000, { error: "DATABASE_POOL_MAX must be at most 1000" })
    .default(10),
  DATABASE_PATH: z.string().min(1, { error: "DATABASE_PATH must not be empty" }).default("data/app.db"),
  DATABASE_BUSY_TIMEOUT_MS: z.coerce
    .number({ error: "DATABASE_BUSY_TIMEOUT_MS must be a number of milliseconds" })
    .int({ error: "DATABASE_BUSY_TIMEOUT_MS must be a whole number" })
    .min(0, { error: "DATABASE_BUSY_TIMEOUT_MS must not be negative" })
    // Short: better-sqlite3 waits for a lock with the event loop blocked; a
    // request that cannot write soon answers 503 and is retried instead.
    .default(250),
  PORT: z.coerce
    .number({ error: "PORT must be a number" })
    .int({ error: "PORT must be a whole number" })
    .min(0, { error: "PORT must be between 0 and 65535" })
    .max(65535, { error: "PORT must be between 0 and 65535" })
    .default(3000),
  HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:-]+$/, {
      error: "HOST must be an address or a host name to listen on, such as 127.0.0.1 or ::",
    })
    .optional(),
  HTTP_HEADERS_TIMEOUT_MS: z.coerce
    .number({ error: "HTTP_HEADERS_TIMEOUT_MS must be a number of milliseconds" })
    .int({ error: "HTTP_HEADERS_TIMEOUT_MS must be a whole number" })
    .min(100, { error: "HTTP_HEADERS_TIMEOUT_MS must be at least 100" })
    .default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce
    .number({ error: "HTTP_REQUEST_TIMEOUT_MS must be a number of milliseconds" })
    .int({ error: "HTTP_REQUEST_TIMEOUT_MS must be a whole number" })
    .min(100, { error: "HTTP_REQUEST_TIMEOUT_MS must be at least 100" })
    .default(30_000),
  METRICS_TOKEN: z
    .string()
    .min(16, { error: "METRICS_TOKEN must be at least 16 characters (unset: /metrics answers 404)" })
    .optional(),
  RECONCILE_INTERVAL_MINUTES: z.coerce
    .number({ error: "RECONCILE_INTERVAL_MINUTES must be a number" })
    .min(0, { error: "RECONCILE_INTERVAL_MINUTES must not be negative" })
    .default(0),
  STRIPE_LOOKUP_INTERVAL_MS: z.coerce
    .number({ error: "STRIPE_LOOKUP_INTERVAL_MS must be a number of milliseconds" })
    .int({ error: "STRIPE_LOOKUP_INTERVAL_MS must be a whole number of milliseconds" })
    .min(0, { error: "STRIPE_LOOKUP_INTERVAL_MS must not be negative" })
    .default(2_000),
  CHECKOUTS_PER_SHOPPER: z.coerce
    .number({ error: "CHECKOUTS_PER_SHOPPER must be a number of checkouts" })
    .int({ error: "CHECKOUTS_PER_SHOPPER must be a whole number of checkouts" })
    .min(1, { error: "CHECKOUTS_PER_SHOPPER must be at least 1" })
    .default(10),
  CHECKOUTS_PER_ADDRESS: z.coerce
    .number({ error: "CHECKOUTS_PER_ADDRESS must be a number of checkouts" })
    .int({ error: "CHECKOUTS_PER_ADDRESS must be a whole number of checkouts" })
    .min(1, { error: "CHECKOUTS_PER_ADDRESS must be at least 1" })
    .default(30),
  WORKER: z.enum(["on", "off"], { error: "WORKER must be on or off" }).default("on"),
  MAIL_URL: z
    .url({
      protocol: /^smtps?$/,
      error: "MAIL_URL must be an smtp:// or smtps:// URL such as smtp://user:pass@mail.example.com:587",
    })
    .optional(),
  MAIL_FROM: z
    .string()
    .regex(/^([^<>]*<)?[^\s@<>]+@[^\s@<>]+>?$/, {
      error: "MAIL_FROM must be an address, optionally with a name: Field & Kiln <orders@example.com>",
    })
    .optional(),
  // Checkout's own options (app/lib/checkout-options.server.ts). All off by default: each needs
  // something set up in the Stripe account (Stripe Tax, promotion codes, shipping rates, a terms URL).
  CHECKOUT_PROMOTION_CODES: onOff("CHECKOUT_PROMOTION_CODES"),
  CHECKOUT_AUTOMATIC_TAX: onOff("CHECKOUT_AUTOMATIC_TAX"),
  CHECKOUT_SHIPPING_COUNTRIES: z
    .string()
    .transform((value) => list(value).map((code) => code.toUpperCase()))
    .refine((codes) => codes.length > 0 && codes.every((c) => /^[A-Z]{2}$/.test(c)), {
      error: "CHECKOUT_SHIPPING_COUNTRIES must be comma-separated two-letter ISO country codes such as US,CA,GB",
    })
    .refine((codes) => codes.every((c) => !UNSUPPORTED_SHIPPING_COUNTRIES.has(c)), {
      error: `CHECKOUT_SHIPPING_COUNTRIES names a country Stripe does not ship to (${[...UNSUPPORTED_SHIPPING_COUNTRIES].join(", ")})`,
    })
    .refine((codes) => new Set(codes).size === codes.length, {
      error: "CHECKOUT_SHIPPING_COUNTRIES names a country twice",
    })
    .optional(),
  CHECKOUT_SHIPPING_RATES: z
    .string()
    .transform(list)
    .refine((ids) => ids.length > 0 && ids.every((id) => /^shr_[A-Za-z0-9_]+$/.test(id)), {
      error: "CHECKOUT_SHIPPING_RATES must be comma-separated shipping rate ids (shr_...)",
    })
    .refine((ids) => ids.length <= 5, { error: "CHECKOUT_SHIPPING_RATES may name at most 5 rates (Stripe's limit)" })
    .refine((ids) => new Set(ids).size === ids.length, { error: "CHECKOUT_SHIPPING_RATES names a rate twice" })
    .optional(),
  CHECKOUT_PHONE: onOff("CHECKOUT_PHONE"),
  CHECKOUT_TERMS_URL: z
    .url({
      protocol: /^https?$/,
      error: "CHECKOUT_TERMS_URL must be an http(s) URL of the shop's terms, such as https://shop.example.com/terms",
    })
    .max(500, { error: "CHECKOUT_TERMS_URL must be at most 500 characters" })
    .optional(),
});

export type Config = ReturnType<typeof parseConfig>;

/** Checkout's own options, as configured (README's configuration table). */
export type CheckoutOptions = {
  promotionCodes: boolean;
  automaticTax: boolean;
  shippingCountries: string[];
  shippingRates: string[];
  phone: boolean;
  termsUrl: string | undefined;
};

export function parseConfig(env: Record<string, string | undefined>) {
  const cleaned = Object.fromEntries(Object.keys(schema.shape).map((key) => [key, optional(env[key])]));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const messages = result.error.issues.map((issue) =>
      issue.message.startsWith(String(issue.path[0])) ? issue.message : `${String(issue.path[0])}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n  ${messages.join("\n  ")}`);
  }
  const e = result.data;
  const production = e.NODE_ENV === "production";
  if (e.CHECKOUT_SHIPPING_RATES && !e.CHECKOUT_SHIPPING_COUNTRIES) {
    throw new ConfigError(
      "Invalid configuration:\n  CHECKOUT_SHIPPING_RATES needs CHECKOUT_SHIPPING_COUNTRIES: Stripe offers shipping rates only with a shipping address",
    );
  }

  if (production) {
    const missing = (["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SESSION_SECRET", "APP_ORIGIN"] as const).filter(
      (key) => e[key] === undefined,
    );
    if (missing.length > 0) {
      throw new ConfigError(
        `Invalid configuration:\n  ${missing.map((key) => `${key} is required in production`).join("\n  ")}`,
      );
    }
    if (e.STRIPE_SECRET_KEY?.includes("emulator") && !e.STRIPE_API_BASE) {
      throw new ConfigError(
        "Invalid configuration:\n  STRIPE_SECRET_KEY is the emulator's key; production needs a real key (or an explicit STRIPE_API_BASE)",
      );
    }
    // The worker sends order confirmations: without a mail server they would pile up unsent.
    if (e.WORKER === "on" && e.MAIL_URL === undefined) {
      throw new ConfigError(
        "Invalid configuration:\n  MAIL_URL is required in production: the job worker sends order confirmation mail (smtp://...); set WORKER=off for a process that runs no worker",
      );
    }
  }

  // Development without a Stripe key runs against the bundled emulator.
  const emulated = !production && e.STRIPE_SECRET_KEY === undefined;
  const stripeSecretKey = e.STRIPE_SECRET_KEY ?? EMULATOR_DEFAULTS.secretKey;
  const apiBase = e.STRIPE_API_BASE ?? (emulated ? EMULATOR_DEFAULTS.apiBase : undefined);

  return {
    production,
    nodeEnv: e.NODE_ENV,
    stripe: {
      secretKey: stripeSecretKey,
      livemode: /^(sk|rk)_live_/.test(stripeSecretKey),
      webhookSecrets: e.STRIPE_WEBHOOK_SECRET ?? [EMULATOR_DEFAULTS.webhookSecret],
      // Set whenever payments do not go to Stripe itself (emulator or stripe-mock).
      apiBase: apiBase ? new URL(apiBase) : undefined,
      simulated: apiBase !== undefined,
      emulated,
      timeoutMs: e.STRIPE_TIMEOUT_MS,
    },
    appOrigin: (e.APP_ORIGIN ?? "http://localhost:5173").replace(/\/$/, ""),
    sessionSecrets: e.SESSION_SECRET ?? [DEV_SESSION_SECRET],
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databasePath: e.DATABASE_PATH,
    databaseBusyTimeoutMs: e.DATABASE_BUSY_TIMEOUT_MS,
    port: e.PORT,
    // Unset: every interface (Node's default for listen()).
    host: e.HOST,
    http: {
      // Slow clients are cut off: headers must arrive within the first, the whole request within the second.
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: Math.max(e.HTTP_REQUEST_TIMEOUT_MS, e.HTTP_HEADERS_TIMEOUT_MS),
    },
    reconcileIntervalMinutes: e.RECONCILE_INTERVAL_MINUTES,
    // The success page asks Stripe about one pending checkout at most once per this long.
    stripeLookupIntervalMs: e.STRIPE_LOOKUP_INTERVAL_MS,
    // Checkout Sessions one shopper, and one client address, may open per 10 minutes.
    checkoutsPerShopper: e.CHECKOUTS_PER_SHOPPER,
    checkoutsPerAddress: e.CHECKOUTS_PER_ADDRESS,
    worker: e.WORKER === "on",
    mail: {
      // Unset outside production: mail is written to data/mail/ and shown at /dev/mail.
      url: e.MAIL_URL,
      from: e.MAIL_FROM ?? `Field & Kiln <orders@${new URL(e.APP_ORIGIN ?? "http://localhost").hostname}>`,
    },
    metricsToken: e.METRICS_TOKEN,
    checkout: {
      promotionCodes: e.CHECKOUT_PROMOTION_CODES === "on",
      automaticTax: e.CHECKOUT_AUTOMATIC_TAX === "on",
      // Empty: no shipping address is collected, even for shippable products.
      shippingCountries: e.CHECKOUT_SHIPPING_COUNTRIES ?? [],
      shippingRates: e.CHECKOUT_SHIPPING_RATES ?? [],
      phone: e.CHECKOUT_PHONE === "on",
      termsUrl: e.CHECKOUT_TERMS_URL,
    } satisfies CheckoutOptions,
  };
}

function loadConfig(): Config {
  // A .env file in development; production takes its environment as given.
  if (process.env.NODE_ENV !== "production" && !process.env.VITEST && existsSync(".env")) {
    process.loadEnvFile(".env");
  }
  try {
    return parseConfig(process.env);
  } catch (error: unknown) {
    // A filled-in .env next to `npm start` is the usual reason a variable seems set and is not.
    if (error instanceof ConfigError && process.env.NODE_ENV === "production" && existsSync(".env")) {
      error.message +=
        "\n\nA .env file is here, but it is not read in production (NODE_ENV=production)." +
        "\nPass the variables in the environment: your platform's settings, or for a local try" +
        "\n  NODE_ENV=production node --env-file=.env ./server.js";
    }
    throw error;
  }
}

export const config: Config = loadConfig();
