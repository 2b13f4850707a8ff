import { copyFileSync, existsSync, rmSync, statSync } from "node:fs";

import Database from "better-sqlite3";

/**
 * The benchmark's data: checkout rows seeded straight into the database file
 * (as the Buy action would have stored them), and the signed
 * `checkout.session.completed` events that the state machine accepts for them
 * (livemode false, mode, client_reference_id = the row's shopper, amount and
 * currency equal to the row's). Ids are derived from an index, so the load
 * worker can rebuild any event without reading the database.
 */

export const PRODUCT_SLUG = "ceramic-pour-over";
const UNIT_AMOUNT = 3200;
const CURRENCY = "usd";
/** Shoppers buy more than once: ten checkouts per shopper. */
const CHECKOUTS_PER_SHOPPER = 10;

// Random-looking, repeatable ids without a cryptographic hash per row
// (seeding a million rows hashes several million ids): murmur3's finalizer.
function mix(x: number) {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
const SALTS: Record<string, number> = {};
function saltOf(kind: string) {
  let h = 0x811c9dc5;
  for (let k = 0; k < kind.length; k++) h = Math.imul(h ^ kind.charCodeAt(k), 0x01000193);
  return (SALTS[kind] ??= h >>> 0);
}
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** `length` base-62 characters derived from (kind, i). */
function token(kind: string, i: number, length: number, alphabet = ALPHABET) {
  let out = "";
  let state = mix(saltOf(kind) ^ mix(i + 0x9e3779b9));
  for (let k = 0; k < length; k++) {
    if (k % 5 === 0) state = mix(state + k + i);
    out += alphabet[state % alphabet.length];
    state = Math.floor(state / alphabet.length);
  }
  return out;
}

// The index is part of each id, so ids never collide; the rest makes them look like Stripe's.
export const sessionId = (i: number) => `cs_test_b1${i.toString(36).padStart(6, "0")}${token("session", i, 50)}`;
/** 22 characters of base64url, as the app's shopper ids (session.server.ts). */
const shopperId = (s: number) => `${s.toString(36).padStart(5, "0")}${token("shopper", s, 17)}`;
export const shopperOf = (i: number) => shopperId(Math.floor(i / CHECKOUTS_PER_SHOPPER));
const customerOf = (i: number) => {
  const s = Math.floor(i / CHECKOUTS_PER_SHOPPER);
  return `cus_${s.toString(36).padStart(5, "0")}${token("customer", s, 9)}`;
};
const eventId = (i: number, salt = "") =>
  `evt_1${salt}${i.toString(36).padStart(6, "0")}${token(`event${salt}`, i, 17)}`;
const formToken = (i: number) => `bench-${i.toString(36)}-${token("form", i, 16)}`;
const paymentIntent = (i: number) => `pi_3${i.toString(36).padStart(6, "0")}${token("pi", i, 17)}`;

/**
 * A `checkout.session.completed` event as Stripe sends it (about 2.5 KB, the
 * fields of API version 2025+), for checkout `i`.
 */
export function completedEvent(i: number, { created = Math.floor(Date.now() / 1000), salt = "" } = {}): string {
  const id = sessionId(i);
  const shopper = shopperOf(i);
  const quantity = 1;
  const amount = UNIT_AMOUNT * quantity;
  return JSON.stringify({
    id: eventId(i, salt),
    object: "event",
    api_version: "2025-10-29.clover",
    created,
    data: {
      object: {
        id,
        object: "checkout.session",
        adaptive_pricing: { enabled: false },
        after_expiration: null,
        allow_promotion_codes: null,
        amount_subtotal: amount,
        amount_total: amount,
        automatic_tax: { enabled: false, liability: null, provider: null, status: null },
        billing_address_collection: null,
        cancel_url: `https://shop.example.com/products/${PRODUCT_SLUG}?canceled=1`,
        client_reference_id: shopper,
        client_secret: null,
        collected_information: { shipping_details: null },
        consent: null,
        consent_collection: null,
        created: created - 60,
        currency: CURRENCY,
        currency_conversion: null,
        custom_fields: [],
        custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
        customer: customerOf(i),
        customer_creation: "always",
        customer_details: {
          address: { city: null, country: "US", line1: null, line2: null, postal_code: "94107", state: null },
          email: `shopper${Math.floor(i / CHECKOUTS_PER_SHOPPER)}@example.com`,
          name: "Bench Shopper",
          phone: null,
          tax_exempt: "none",
          tax_ids: [],
        },
        customer_email: null,
        discounts: [],
        expires_at: created + 86_340,
        invoice: null,
        invoice_creation: {
          enabled: false,
          invoice_data: {
            account_tax_ids: null,
            custom_fields: null,
            description: null,
            footer: null,
            issuer: null,
            metadata: {},
            rendering_options: null,
          },
        },
        livemode: false,
        locale: null,
        metadata: { product: PRODUCT_SLUG, shopper },
        mode: "payment",
        origin_context: null,
        payment_intent: paymentIntent(i),
        payment_link: null,
        payment_method_collection: "if_required",
        payment_method_configuration_details: null,
        payment_method_options: { card: { request_three_d_secure: "automatic" } },
        payment_method_types: ["card"],
        payment_status: "paid",
        permissions: null,
        phone_number_collection: { enabled: false },
        recovered_from: null,
        saved_payment_method_options: null,
        setup_intent: null,
        shipping_address_collection: null,
        shipping_cost: null,
        shipping_options: [],
        status: "complete",
        submit_type: null,
        subscription: null,
        success_url: "https://shop.example.com/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
        ui_mode: "hosted",
        url: null,
        wallet_options: null,
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: "checkout.session.completed",
  });
}

/** Folds the WAL into the file and closes, so that a plain copy carries everything. */
function checkpointAndClose(db: Database.Database) {
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

/** Copies a (checkpointed) database file to `to`, replacing whatever was there. */
export function copyDatabase(from: string, to: string) {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${to}${suffix}`, { force: true });
  copyFileSync(from, to);
}

export function checkpoint(file: string) {
  checkpointAndClose(new Database(file));
}

export type SeedOptions = {
  /** Number of checkout rows: indexes 0 .. count-1. */
  count: number;
  /**
   * "open": every checkout waits for its webhook (webhook scenarios).
   * "history": a shop's past: most paid and fulfilled, some expired, some open.
   */
  kind: "open" | "history";
};

/**
 * Inserts `count` checkouts (and their shoppers) in one transaction with
 * prepared statements. Durability is switched off for the seeding only; the
 * app reopens the file with its own pragmas (WAL, synchronous=FULL).
 */
export function seedCheckouts(file: string, { count, kind }: SeedOptions) {
  const db = new Database(file);
  // No journal while seeding a throwaway fixture; WAL again before the app opens it.
  db.pragma("journal_mode = OFF");
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -1048576"); // 1 GiB while seeding
  db.pragma("temp_store = MEMORY");
  const product = db.prepare("SELECT id FROM products WHERE slug = ?").get(PRODUCT_SLUG) as { id: number } | undefined;
  if (!product) throw new Error(`the catalog has no ${PRODUCT_SLUG}: was the base database made by the app?`);

  const insertShopper = db.prepare(
    "INSERT OR IGNORE INTO shoppers (id, stripe_customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
  );
  const insertCheckout = db.prepare(
    `INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, status, payment_status, amount_total,
       currency, url, form_token, customer_email, stripe_customer_id, payment_intent_id, expires_at, fulfilled_at,
       created_at, updated_at)
     VALUES (?, ?, ?, 1, 'payment', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const start = Date.now() - count * 1000;
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const s = Math.floor(i / CHECKOUTS_PER_SHOPPER);
      const created = start + i * 1000;
      const id = sessionId(i);
      if (kind === "open") {
        if (i % CHECKOUTS_PER_SHOPPER === 0) insertShopper.run(shopperId(s), null, created, created);
        insertCheckout.run(
          id,
          shopperId(s),
          product.id,
          "open",
          "unpaid",
          UNIT_AMOUNT,
          CURRENCY,
          `https://checkout.stripe.com/c/pay/${id}`,
          formToken(i),
          null,
          null,
          null,
          created + 86_400_000,
          null,
          created,
          created,
        );
        continue;
      }
      // History: 90% paid and fulfilled, 7% expired, 3% still open.
      const customer = customerOf(i);
      if (i % CHECKOUTS_PER_SHOPPER === 0) insertShopper.run(shopperId(s), customer, created, created);
      const r = i % 100;
      const [status, payment] = r < 90 ? ["complete", "paid"] : r < 97 ? ["expired", "unpaid"] : ["open", "unpaid"];
      const paid = payment === "paid";
      insertCheckout.run(
        id,
        shopperId(s),
        product.id,
        status,
        payment,
        UNIT_AMOUNT,
        CURRENCY,
        status === "open" ? `https://checkout.stripe.com/c/pay/${id}` : null,
        formToken(i),
        paid ? `shopper${s}@example.com` : null,
        paid ? customer : null,
        paid ? paymentIntent(i) : null,
        created + 86_400_000,
        paid ? created + 5_000 : null,
        created,
        paid ? created + 5_000 : created,
      );
    }
  })();
  db.pragma("optimize");
  db.pragma("locking_mode = NORMAL");
  db.pragma("journal_mode = WAL");
  checkpointAndClose(db);
}

/** A paid, fulfilled checkout in a "history" fixture (index with r < 90). */
export function paidIndex(count: number) {
  const middle = Math.floor(count / 2);
  return middle - (middle % 100) + 42;
}

export function fileSize(file: string) {
  let total = 0;
  for (const suffix of ["", "-wal"]) if (existsSync(`${file}${suffix}`)) total += statSync(`${file}${suffix}`).size;
  return total;
}
