import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { describe, expect, it } from "vitest";

import { applyCatalogFile, type CatalogEntry, describeCatalogChanges, parseCatalog } from "~/lib/catalog-file.server";
import { planCatalog } from "~/lib/catalog-sync.server";
import { openDatabase, readCatalog } from "~/lib/db.server";

import * as sqliteTables from "../../db/schema/sqlite";
import { db, schema } from "../support/db";

/** db/catalog.json: validated with the product and field named; applied in development; and sync keeps limits. */

const file = readCatalog();
const withProducts = (products: unknown[]) => ({ products });
const valid = file[0]!;

describe("db/catalog.json validation", () => {
  it("accepts the repository's catalog", () => {
    expect(file.map((entry) => entry.slug)).toContain("coffee-club");
  });

  it("names the product and the field of each mistake", () => {
    const { currency: _dropped, ...noCurrency } = { ...file[1]! };
    const run = () =>
      parseCatalog(
        withProducts([valid, noCurrency, { ...file[2]!, maxQuantity: 0, colour: "red" }, { name: "No slug" }]),
      );
    expect(run).toThrow(/product "linen-apron": currency is required/);
    expect(run).toThrow(/product "gift-card": maxQuantity must be at least 1/);
    expect(run).toThrow(/product "gift-card": unknown field colour/);
    expect(run).toThrow(/product 4: slug is required/);
  });

  it("refuses a subscription without an interval and a slug used twice", () => {
    const { recurringInterval: _gone, ...noInterval } = { ...file[3]! };
    expect(() => parseCatalog(withProducts([noInterval]))).toThrow(
      /product "coffee-club": recurringInterval is required for a subscription/,
    );
    expect(() => parseCatalog(withProducts([valid, { ...valid, stripePriceId: "price_other" }]))).toThrow(
      /slug "ceramic-pour-over" is used twice/,
    );
  });
});

describe("applying the file in development", () => {
  it("adds new products and updates changed ones, by slug, and says what changed", async () => {
    // The test's database was seeded from the file: applying it again changes nothing.
    expect(await applyCatalogFile(db, schema, file)).toEqual({ added: [], updated: [] });

    const teaTowel: CatalogEntry = {
      ...valid,
      slug: "tea-towel",
      name: "Tea Towel",
      stripePriceId: "price_teaTowel",
      stripeProductId: "prod_teaTowel",
    };
    const changed = [{ ...valid, unitAmount: 3400, maxQuantity: 2 }, ...file.slice(1), teaTowel];
    const changes = await applyCatalogFile(db, schema, changed);
    expect(describeCatalogChanges(changes)).toBe(
      "db/catalog.json applied to the database: added tea-towel; updated ceramic-pour-over (unitAmount, maxQuantity)",
    );
    const [row] = await db.select().from(schema.products).where(eq(schema.products.slug, valid.slug));
    expect(row).toMatchObject({ unitAmount: 3400, maxQuantity: 2 });
    expect(await db.select().from(schema.products)).toHaveLength(file.length + 1);
  });
});

describe("catalog sync and max_quantity", () => {
  it("gives a new price of a product already sold that product's limit", () => {
    const { sqliteDb, sqlite } = openDatabase(":memory:");
    try {
      const rows = sqliteDb.select().from(sqliteTables.products).all();
      const apron = rows.find((r) => r.slug === "linen-apron")!;
      expect(apron.maxQuantity).toBe(3);
      const product = {
        id: apron.stripeProductId,
        object: "product",
        active: true,
        name: apron.name,
        description: apron.description,
        metadata: { slug: apron.slug },
      } as unknown as Stripe.Product;
      const newPrice = {
        id: "price_apronRepriced",
        object: "price",
        active: true,
        billing_scheme: "per_unit",
        currency: "eur",
        product,
        recurring: null,
        type: "one_time",
        unit_amount: 5200,
      } as unknown as Stripe.Price;
      const plan = planCatalog([newPrice], rows);
      const add = plan.changes.find((c) => c.kind === "add");
      expect(add).toMatchObject({ slug: "linen-apron", fields: { maxQuantity: 3, unitAmount: 5200 } });
    } finally {
      sqlite.close();
    }
  });
});
