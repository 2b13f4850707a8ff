import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The prices and products the emulator knows: exactly those of db/catalog.json.
 * Their objects are built once, shaped like Stripe's (fixtures price.json and
 * product.json), with fixed `created` times so that responses are stable.
 */

export type CatalogEntry = {
  slug: string;
  name: string;
  description: string;
  stripeProductId: string;
  stripePriceId: string;
  mode: "payment" | "subscription";
  unitAmount: number;
  currency: string;
  recurringInterval?: "day" | "week" | "month" | "year";
  maxQuantity: number;
  active: boolean;
  shippable?: boolean;
};

export type PriceObject = {
  id: string;
  object: "price";
  active: boolean;
  currency: string;
  product: string;
  recurring: {
    interval: string;
    interval_count: number;
    meter: null;
    trial_period_days: null;
    usage_type: "licensed";
  } | null;
  type: "one_time" | "recurring";
  unit_amount: number;
  [key: string]: unknown;
};

export type ProductObject = { id: string; object: "product"; name: string; active: boolean; [key: string]: unknown };

export type Catalog = {
  entries: CatalogEntry[];
  /** Oldest first, like every collection here. */
  prices: PriceObject[];
  products: ProductObject[];
  price(id: string): PriceObject | undefined;
  product(id: string): ProductObject | undefined;
  entryForPrice(id: string): CatalogEntry | undefined;
};

export const DEFAULT_CATALOG_PATH = fileURLToPath(new URL("../db/catalog.json", import.meta.url));

// 2026-01-01T00:00:00Z: catalog objects exist "before" anything the emulator creates.
const CATALOG_CREATED = 1767225600;

function fail(path: string, message: string): never {
  throw new Error(`stripe-emulator: invalid catalog ${path}: ${message}`);
}

export function loadCatalog(path: string = DEFAULT_CATALOG_PATH): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    fail(path, (error as Error).message);
  }
  const products = (raw as { products?: unknown }).products;
  if (!Array.isArray(products) || products.length === 0) fail(path, "`products` must be a non-empty array");
  const entries = products.map((p, i): CatalogEntry => {
    const e = p as Partial<CatalogEntry>;
    const where = `products[${i}]`;
    for (const key of ["slug", "name", "stripeProductId", "stripePriceId", "currency"] as const) {
      if (typeof e[key] !== "string" || e[key] === "") fail(path, `${where}.${key} must be a non-empty string`);
    }
    if (e.mode !== "payment" && e.mode !== "subscription") fail(path, `${where}.mode must be payment or subscription`);
    if (!Number.isInteger(e.unitAmount) || (e.unitAmount as number) < 0)
      fail(path, `${where}.unitAmount must be an integer >= 0`);
    if (e.mode === "subscription" && !e.recurringInterval) e.recurringInterval = "month";
    return {
      slug: e.slug!,
      name: e.name!,
      description: typeof e.description === "string" ? e.description : "",
      stripeProductId: e.stripeProductId!,
      stripePriceId: e.stripePriceId!,
      mode: e.mode,
      unitAmount: e.unitAmount!,
      currency: e.currency!.toLowerCase(),
      recurringInterval: e.recurringInterval,
      maxQuantity: typeof e.maxQuantity === "number" ? e.maxQuantity : 1,
      active: e.active !== false,
      shippable: e.shippable === true,
    };
  });
  return buildCatalog(entries);
}

export function buildCatalog(entries: CatalogEntry[]): Catalog {
  const priceById = new Map<string, PriceObject>();
  const productById = new Map<string, ProductObject>();
  const entryByPrice = new Map<string, CatalogEntry>();
  const prices: PriceObject[] = [];
  const productList: ProductObject[] = [];
  entries.forEach((e, i) => {
    const created = CATALOG_CREATED + i;
    const price: PriceObject = {
      id: e.stripePriceId,
      object: "price",
      active: e.active,
      billing_scheme: "per_unit",
      created,
      currency: e.currency,
      custom_unit_amount: null,
      livemode: false,
      lookup_key: null,
      metadata: {},
      nickname: null,
      product: e.stripeProductId,
      recurring:
        e.mode === "subscription"
          ? {
              interval: e.recurringInterval ?? "month",
              interval_count: 1,
              meter: null,
              trial_period_days: null,
              usage_type: "licensed",
            }
          : null,
      tax_behavior: "unspecified",
      tiers_mode: null,
      transform_quantity: null,
      type: e.mode === "subscription" ? "recurring" : "one_time",
      unit_amount: e.unitAmount,
      unit_amount_decimal: String(e.unitAmount),
    };
    if (!priceById.has(price.id)) {
      priceById.set(price.id, price);
      prices.push(price);
      entryByPrice.set(price.id, e);
    }
    if (!productById.has(e.stripeProductId)) {
      const product: ProductObject = {
        id: e.stripeProductId,
        object: "product",
        active: e.active,
        created,
        default_price: e.stripePriceId,
        description: e.description || null,
        images: [],
        livemode: false,
        marketing_features: [],
        metadata: { slug: e.slug },
        name: e.name,
        package_dimensions: null,
        // Stripe's products are goods (shippable true/false) or services (null).
        shippable: e.shippable ? true : null,
        statement_descriptor: null,
        tax_code: null,
        type: e.shippable ? "good" : "service",
        unit_label: null,
        updated: created,
        url: null,
      };
      productById.set(product.id, product);
      productList.push(product);
    }
  });
  return {
    entries,
    prices,
    products: productList,
    price: (id) => priceById.get(id),
    product: (id) => productById.get(id),
    entryForPrice: (id) => entryByPrice.get(id),
  };
}
