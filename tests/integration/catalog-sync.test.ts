import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { beforeEach, describe, expect, it } from "vitest";

import { CatalogSyncError, formatSyncReport, planCatalog, syncCatalog } from "~/lib/catalog-sync.server";
import { readCatalog } from "~/lib/db.server";
import { db, schema, seedCatalog } from "../support/db";
import { loader as productLoader } from "~/routes/products.$slug";

import { getRequest, settle } from "../support/http";
import { cleanSlate, emu, runCli, snapshot } from "./reconcile-support";

/**
 * `npm run stripe:sync-catalog` against the emulator, whose prices are those
 * of db/catalog.json: the tests make the database differ from Stripe and
 * check that a sync brings it back, touching nothing else.
 */

const { products } = schema;
const bySlug = async (slug: string) => (await db.select().from(products).where(eq(products.slug, slug)))[0];
const catalog = Object.fromEntries(readCatalog().map((entry) => [entry.slug, entry]));

async function pageStatus(slug: string) {
  return (
    await settle(() => productLoader({ request: getRequest(`/products/${slug}`), params: { slug }, context: {} }))
  ).status;
}

/** The database drifts from Stripe: a product deleted, one renamed and repriced, one switched off, one Stripe no longer sells. */
async function drift() {
  await db.delete(products).where(eq(products.slug, "gift-card"));
  await db
    .update(products)
    .set({ name: "Linen Apron (old name)", description: "stale", unitAmount: 1 })
    .where(eq(products.slug, "linen-apron"));
  await db.update(products).set({ active: false }).where(eq(products.slug, "coffee-club"));
  await db.insert(products).values({
    slug: "retired-mug",
    name: "Retired Mug",
    stripePriceId: "price_retiredMug",
    mode: "payment",
    unitAmount: 1500,
    currency: "usd",
    maxQuantity: 2,
    active: true,
  });
}

beforeEach(async () => {
  await cleanSlate();
  await db.delete(products);
  await seedCatalog();
});

describe("catalog sync", () => {
  it("adds, updates and deactivates products, and leaves the rest alone", async () => {
    await drift();
    const untouched = (await bySlug("ceramic-pour-over"))!;
    const retiredBefore = (await bySlug("retired-mug"))!;

    const report = await syncCatalog();

    expect(report).toMatchObject({ dryRun: false, added: 1, updated: 2, deactivated: 1, unchanged: 3, skipped: [] });
    const gift = catalog["gift-card"]!;
    expect(await bySlug("gift-card")).toMatchObject({
      name: gift.name,
      description: gift.description,
      stripeProductId: gift.stripeProductId,
      stripePriceId: gift.stripePriceId,
      mode: "payment",
      unitAmount: gift.unitAmount,
      currency: gift.currency,
      recurringInterval: null,
      maxQuantity: 1,
      active: true,
    });
    // Restored from Stripe; max_quantity is not in Stripe's metadata, so the stored 3 stays.
    expect(await bySlug("linen-apron")).toMatchObject({
      name: catalog["linen-apron"]!.name,
      description: catalog["linen-apron"]!.description,
      unitAmount: 4900,
      maxQuantity: 3,
      active: true,
    });
    expect(await bySlug("coffee-club")).toMatchObject({
      active: true,
      mode: "subscription",
      recurringInterval: "month",
    });
    // Deactivated, not deleted: past checkouts refer to it.
    expect(await bySlug("retired-mug")).toEqual({ ...retiredBefore, active: false, updatedAt: expect.any(Number) });
    expect(await bySlug("ceramic-pour-over")).toEqual(untouched);
    expect(await pageStatus("gift-card")).toBe(200);
    expect(await pageStatus("coffee-club")).toBe(200);
    expect(await pageStatus("retired-mug")).toBe(404);

    const before = await snapshot();
    const again = await syncCatalog();
    expect(again).toMatchObject({ added: 0, updated: 0, deactivated: 0, unchanged: 6, changes: [] });
    expect(await snapshot()).toEqual(before);
  });

  it("--dry-run shows the changes and writes nothing", async () => {
    await drift();
    const before = await snapshot();

    const report = await syncCatalog({ dryRun: true });

    expect(report).toMatchObject({ dryRun: true, added: 1, updated: 2, deactivated: 1, unchanged: 3 });
    expect(formatSyncReport(report)).toEqual([
      "- deactivate retired-mug (price_retiredMug): price no longer active in Stripe",
      '~ update linen-apron (price_1TSlinenApron): name "Linen Apron (old name)" -> "Linen Work Apron", description "stale" -> "Stonewashed European linen with two deep pockets and adjustable cross-back straps.", unitAmount 1 -> 4900',
      '+ add gift-card (price_1TSgiftCard): "Digital Gift Card", 2500 gbp, payment, max 1',
      "~ update coffee-club (price_1TScoffeeClub): active false -> true",
      "catalog: 1 added, 2 updated, 1 deactivated, 3 unchanged (dry run: nothing was written)",
    ]);
    expect(await snapshot()).toEqual(before);
  });

  it("keeps a product's page when its price changes in Stripe: the new price takes the slug, the old row is kept", async () => {
    // The shop sold the dripper at an older price, and a shopper bought it then.
    const old = (await bySlug("ceramic-pour-over"))!;
    await db
      .update(products)
      .set({ stripePriceId: "price_oldCeramic", unitAmount: 2900 })
      .where(eq(products.id, old.id));
    await db.insert(schema.shoppers).values({ id: "shopper-from-before" });
    await db.insert(schema.checkoutSessions).values({
      id: "cs_test_before_the_price_change",
      shopperId: "shopper-from-before",
      productId: old.id,
      quantity: 1,
      mode: "payment",
      amountTotal: 2900,
      currency: "usd",
      formToken: "before-the-price-change-0",
    });

    const report = await syncCatalog();

    expect(report).toMatchObject({ added: 1, updated: 0, deactivated: 1, unchanged: 5 });
    expect(await bySlug("ceramic-pour-over")).toMatchObject({
      stripePriceId: "price_1TSceramicPourOver",
      unitAmount: 3200,
      active: true,
    });
    expect(await bySlug(`ceramic-pour-over-retired-${old.id}`)).toMatchObject({
      id: old.id,
      stripePriceId: "price_oldCeramic",
      active: false,
    });
    expect((await db.select().from(schema.checkoutSessions))[0]).toMatchObject({ productId: old.id });
    expect(await pageStatus("ceramic-pour-over")).toBe(200);
  });

  it("changes nothing when Stripe cannot be reached", async () => {
    await drift();
    const before = await snapshot();
    await emu.fault({ pathPrefix: "/v1/prices", status: 500 });
    await expect(syncCatalog()).rejects.toThrow(CatalogSyncError);
    await expect(syncCatalog()).rejects.toThrow(
      /Stripe could not be reached or refused the request \(listing prices\)/,
    );
    expect(await snapshot()).toEqual(before);
  });
});

describe("planning from Stripe's prices", () => {
  const product = (id: string, fields: Partial<Stripe.Product> = {}) =>
    ({ id, object: "product", active: true, name: id, description: null, metadata: {}, ...fields }) as Stripe.Product;
  const price = (id: string, of: Stripe.Product, fields: Partial<Stripe.Price> = {}) =>
    ({
      id,
      object: "price",
      active: true,
      billing_scheme: "per_unit",
      currency: "usd",
      product: of,
      recurring: null,
      type: "one_time",
      unit_amount: 1000,
      ...fields,
    }) as Stripe.Price;

  it("takes slug and max_quantity from product metadata, a slug from the name otherwise, and keeps slugs unique", async () => {
    const mug = product("prod_mug", { name: "Café Mug — Large!", metadata: { max_quantity: "4" } });
    const tea = product("prod_tea", { name: "Tea", metadata: { slug: "Green Tea", max_quantity: "lots" } });
    const plan = planCatalog(
      [
        price("price_mug", mug),
        price("price_mug_yearly", mug, {
          type: "recurring",
          recurring: { interval: "year" } as Stripe.Price.Recurring,
        }),
        price("price_tea", tea, { unit_amount: 500, currency: "eur" }),
        price("price_tiered", tea, { unit_amount: null, billing_scheme: "tiered" }),
      ],
      [],
    );
    expect(
      plan.changes.map((c) => (c.kind === "add" ? [c.slug, c.fields.maxQuantity, c.fields.mode] : c.kind)),
    ).toEqual([
      ["cafe-mug-large", 4, "payment"],
      ["cafe-mug-large-2", 4, "subscription"],
      ["green-tea", 1, "payment"],
    ]);
    expect(plan.skipped).toEqual([
      { priceId: "price_tiered", reason: "it has no fixed unit amount (tiered or customer-chosen)" },
    ]);
  });

  it("deactivates the rows of an archived product even while its price is still active", async () => {
    const archived = product("prod_gone", { active: false });
    const rows = [
      {
        id: 7,
        slug: "gone",
        name: "Gone",
        description: "",
        stripeProductId: "prod_gone",
        stripePriceId: "price_gone",
        mode: "payment" as const,
        unitAmount: 1000,
        currency: "usd",
        recurringInterval: null,
        maxQuantity: 1,
        active: true,
        shippable: false,
        createdAt: 0,
        updatedAt: 0,
      },
    ];
    const plan = planCatalog([price("price_gone", archived)], rows);
    expect(plan.changes).toEqual([{ kind: "deactivate", priceId: "price_gone", slug: "gone", id: 7 }]);
  });
});

describe("npm run stripe:sync-catalog", { timeout: 60_000 }, () => {
  it("--dry-run prints the changes and writes nothing; without it, applies them", async () => {
    await drift();
    const before = await snapshot();

    const dry = await runCli("sync-catalog", ["--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("+ add gift-card (price_1TSgiftCard)");
    expect(dry.stdout).toContain("- deactivate retired-mug (price_retiredMug)");
    expect(dry.stdout).toContain(
      "catalog: 1 added, 2 updated, 1 deactivated, 3 unchanged (dry run: nothing was written)",
    );
    expect(await snapshot()).toEqual(before);

    const real = await runCli("sync-catalog");
    expect(real.code).toBe(0);
    expect(real.stdout.trim().split("\n").at(-1)).toBe("catalog: 1 added, 2 updated, 1 deactivated, 3 unchanged");
    expect(await bySlug("gift-card")).toMatchObject({ active: true });
    expect(await bySlug("retired-mug")).toMatchObject({ active: false });

    const bad = await runCli("sync-catalog", ["--force"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--force'/);
  });
});
