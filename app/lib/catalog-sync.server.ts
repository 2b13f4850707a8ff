import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";

import type { Product } from "../../db/schema/types";
import * as pgTables from "../../db/schema/pg";
import * as sqliteTables from "../../db/schema/sqlite";
import { db, handle, schema } from "./db.server";
import { logger } from "./logger.server";
import { describeStripeError } from "./stripe-errors.server";
import { stripe } from "./stripe.server";

const { products } = schema;

/**
 * Catalog sync: the shop manages its catalog in the Stripe dashboard, and
 * this brings the `products` table in line with Stripe's active prices. One
 * row per active price whose product is active, matched by price id; a row
 * whose price is no longer active is deactivated, never deleted (checkouts
 * reference it). Product metadata may set `slug` and `max_quantity`.
 */

type Fields = Pick<
  Product,
  | "slug"
  | "name"
  | "description"
  | "stripeProductId"
  | "mode"
  | "unitAmount"
  | "currency"
  | "recurringInterval"
  | "maxQuantity"
  | "active"
  | "shippable"
>;

export type CatalogChange =
  | { kind: "add"; priceId: string; slug: string; fields: Fields }
  | {
      kind: "update";
      priceId: string;
      slug: string;
      id: number;
      diff: Partial<Record<keyof Fields, [unknown, unknown]>>;
    }
  | { kind: "deactivate"; priceId: string; slug: string; id: number; renameTo?: string };

export type SyncReport = {
  dryRun: boolean;
  added: number;
  updated: number;
  deactivated: number;
  unchanged: number;
  /** Active prices left out, with the reason (no fixed amount, for example). */
  skipped: Array<{ priceId: string; reason: string }>;
  changes: CatalogChange[];
};

export class CatalogSyncError extends Error {
  override name = "CatalogSyncError";
}

/** A URL-safe slug: lower case ASCII letters, digits and single dashes. */
export function slugify(text: string) {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64)
    .replace(/-+$/, "");
}

const MAX_QUANTITY_LIMIT = 999;

function metadataMaxQuantity(product: Stripe.Product): number | undefined {
  const raw = product.metadata?.max_quantity;
  if (raw === undefined || raw.trim() === "") return undefined;
  const n = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || n < 1 || n > MAX_QUANTITY_LIMIT) {
    logger.warn(
      `catalog sync: product ${product.id} has metadata max_quantity="${raw}", not a whole number from 1 to ${MAX_QUANTITY_LIMIT}: ignored`,
    );
    return undefined;
  }
  return n;
}

/** Every active price with its product, oldest first (so that the first price of a product keeps the plain slug). */
async function activePrices(): Promise<Stripe.Price[]> {
  const prices: Stripe.Price[] = [];
  let startingAfter: string | undefined;
  for (;;) {
    let page: Stripe.ApiList<Stripe.Price>;
    try {
      page = await stripe.prices.list({
        active: true,
        expand: ["data.product"],
        limit: 100,
        ...(startingAfter ? { starting_after: startingAfter } : {}),
      });
    } catch (error: unknown) {
      const { type } = describeStripeError(error);
      throw new CatalogSyncError(
        `Stripe could not be reached or refused the request (listing prices): ${type}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    prices.push(...page.data);
    if (!page.has_more || page.data.length === 0) break;
    startingAfter = page.data[page.data.length - 1]!.id;
  }
  return prices.reverse();
}

type Wanted = { price: Stripe.Price; product: Stripe.Product; slug: string; maxQuantity: number | undefined };

/** Works out the changes from Stripe's prices and the stored rows; pure apart from warnings. */
export function planCatalog(prices: Stripe.Price[], rows: Product[]): Omit<SyncReport, "dryRun"> {
  const skipped: SyncReport["skipped"] = [];
  const wanted = new Map<string, Wanted>();
  for (const price of prices) {
    const product = price.product;
    if (typeof product === "string" || product.deleted) {
      skipped.push({ priceId: price.id, reason: "its product could not be read" });
      continue;
    }
    // A price of an archived product cannot be sold: its row (if any) is deactivated.
    if (!product.active || !price.active) continue;
    if (price.unit_amount === null || (price.billing_scheme !== undefined && price.billing_scheme !== "per_unit")) {
      skipped.push({ priceId: price.id, reason: "it has no fixed unit amount (tiered or customer-chosen)" });
      continue;
    }
    const slug = slugify(product.metadata?.slug ?? "") || slugify(product.name) || slugify(price.id);
    wanted.set(price.id, { price, product, slug, maxQuantity: metadataMaxQuantity(product) });
  }

  const arriving: CatalogChange[] = [];
  const leaving: CatalogChange[] = [];
  let unchanged = 0;
  const byPrice = new Map(rows.map((row) => [row.stripePriceId, row]));
  // Who holds each slug as the plan goes on. A row that will be inactive after
  // this sync gives its slug up to an active price (so that a product's URL
  // survives a price change) and is renamed `<slug>-retired-<id>`.
  const slugOwner = new Map<string, Product | "new">(rows.map((row) => [row.slug, row]));
  const willBeActive = (owner: Product | "new") => owner === "new" || wanted.has(owner.stripePriceId);
  const displaced = new Map<number, string>();
  const claim = (slug: string, self: Product | "new") => {
    const owner = slugOwner.get(slug);
    if (owner && owner !== self && owner !== "new") {
      const retired = `${slug}-retired-${owner.id}`;
      displaced.set(owner.id, retired);
      slugOwner.set(retired, owner);
    }
    if (self !== "new") slugOwner.delete(self.slug);
    slugOwner.set(slug, self);
  };
  const available = (slug: string, self?: Product) => {
    const owner = slugOwner.get(slug);
    return !owner || owner === self || !willBeActive(owner);
  };

  const fieldsOf = ({ price, product }: Wanted, slug: string, maxQuantity: number): Fields => ({
    slug,
    name: product.name,
    description: product.description ?? "",
    stripeProductId: product.id,
    mode: price.type === "recurring" ? "subscription" : "payment",
    unitAmount: price.unit_amount!,
    currency: price.currency,
    recurringInterval: price.recurring?.interval ?? null,
    maxQuantity,
    active: true,
    // Stripe's own flag on goods (null for services).
    shippable: product.shippable === true,
  });

  for (const [priceId, want] of wanted) {
    const row = byPrice.get(priceId);
    if (row) {
      // The stored slug stays unless the product's metadata names another one that is free.
      let slug = row.slug;
      if (want.product.metadata?.slug && want.slug !== row.slug) {
        if (available(want.slug, row)) {
          claim(want.slug, row);
          slug = want.slug;
        } else {
          logger.warn(
            `catalog sync: slug "${want.slug}" for ${priceId} is taken by an active product: kept "${row.slug}"`,
          );
        }
      }
      const next = fieldsOf(want, slug, want.maxQuantity ?? row.maxQuantity);
      const diff: Partial<Record<keyof Fields, [unknown, unknown]>> = {};
      for (const key of Object.keys(next) as Array<keyof Fields>) {
        if (next[key] !== row[key]) diff[key] = [row[key], next[key]];
      }
      if (Object.keys(diff).length === 0) unchanged++;
      else arriving.push({ kind: "update", priceId, slug, id: row.id, diff });
    } else {
      let slug = want.slug;
      for (let n = 2; !available(slug); n++) slug = `${want.slug}-${n}`;
      claim(slug, "new");
      // A new price of a product already sold keeps that product's limit (Stripe has no field for it).
      const sibling = rows.find((r) => r.stripeProductId === want.product.id);
      const maxQuantity = want.maxQuantity ?? sibling?.maxQuantity ?? 1;
      arriving.push({ kind: "add", priceId, slug, fields: fieldsOf(want, slug, maxQuantity) });
    }
  }

  for (const row of rows) {
    if (wanted.has(row.stripePriceId)) continue;
    const renameTo = displaced.get(row.id);
    if (row.active) {
      leaving.push({
        kind: "deactivate",
        priceId: row.stripePriceId,
        slug: row.slug,
        id: row.id,
        ...(renameTo ? { renameTo } : {}),
      });
    } else if (renameTo) {
      leaving.push({
        kind: "update",
        priceId: row.stripePriceId,
        slug: renameTo,
        id: row.id,
        diff: { slug: [row.slug, renameTo] },
      });
    }
  }

  const changes = [...leaving, ...arriving];
  return {
    added: changes.filter((c) => c.kind === "add").length,
    updated: changes.filter((c) => c.kind === "update").length,
    deactivated: changes.filter((c) => c.kind === "deactivate").length,
    unchanged,
    skipped,
    changes,
  };
}

/**
 * Reads Stripe's active prices and brings the `products` table in line.
 * With `dryRun` it only reports the changes. The plan is made and applied in
 * one transaction (SQLite: immediate; PostgreSQL: the table locked against
 * other writers), so two syncs at once cannot interleave.
 */
export async function syncCatalog({ dryRun = false }: { dryRun?: boolean } = {}): Promise<SyncReport> {
  const prices = await activePrices();
  if (dryRun) {
    return { dryRun, ...planCatalog(prices, await db.select().from(products)) };
  }
  if (handle.dialect === "sqlite") {
    const t = sqliteTables.products;
    return handle.sqliteDb.transaction(
      (tx) => {
        const plan = planCatalog(prices, tx.select().from(t).all());
        for (const write of writesOf(plan)) {
          if (write.kind === "update") tx.update(t).set(write.set).where(eq(t.id, write.id)).run();
          else tx.insert(t).values(write.values).run();
        }
        return { dryRun, ...plan };
      },
      { behavior: "immediate" },
    );
  }
  return handle.pgDb.transaction(async (tx) => {
    const t = pgTables.products;
    // Two syncs at once on two instances: the second waits, then plans from the first's result.
    await tx.execute(sql`lock table ${t} in share row exclusive mode`);
    const plan = planCatalog(prices, await tx.select().from(t));
    for (const write of writesOf(plan)) {
      if (write.kind === "update") await tx.update(t).set(write.set).where(eq(t.id, write.id));
      else await tx.insert(t).values(write.values);
    }
    return { dryRun, ...plan };
  });
}

type Write =
  | { kind: "update"; id: number; set: Partial<Product> }
  | { kind: "insert"; values: Fields & { stripePriceId: string } };

/** The plan's writes, in plan order: rows giving a slug up come before those taking it (slugs are unique). */
function writesOf(plan: Omit<SyncReport, "dryRun">): Write[] {
  const now = Date.now();
  return plan.changes.map((change): Write => {
    if (change.kind === "deactivate") {
      return {
        kind: "update",
        id: change.id,
        set: { active: false, ...(change.renameTo ? { slug: change.renameTo } : {}), updatedAt: now },
      };
    }
    if (change.kind === "update") {
      const set = Object.fromEntries(Object.entries(change.diff).map(([key, [, value]]) => [key, value]));
      return { kind: "update", id: change.id, set: { ...set, updatedAt: now } };
    }
    return { kind: "insert", values: { ...change.fields, stripePriceId: change.priceId } };
  });
}

const show = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : String(value));

/** The report for people: one line per change, then the counts. */
export function formatSyncReport(report: SyncReport): string[] {
  const lines: string[] = [];
  for (const change of report.changes) {
    if (change.kind === "add") {
      const f = change.fields;
      lines.push(
        `+ add ${change.slug} (${change.priceId}): ${show(f.name)}, ${f.unitAmount} ${f.currency}, ${f.mode}${f.recurringInterval ? ` per ${f.recurringInterval}` : ""}, max ${f.maxQuantity}`,
      );
    } else if (change.kind === "update") {
      const parts = Object.entries(change.diff).map(([key, [from, to]]) => `${key} ${show(from)} -> ${show(to)}`);
      lines.push(`~ update ${change.slug} (${change.priceId}): ${parts.join(", ")}`);
    } else {
      lines.push(
        `- deactivate ${change.slug} (${change.priceId}): price no longer active in Stripe${change.renameTo ? `; slug moves to ${change.renameTo}` : ""}`,
      );
    }
  }
  for (const skip of report.skipped) lines.push(`! skip ${skip.priceId}: ${skip.reason}`);
  lines.push(
    `catalog: ${report.added} added, ${report.updated} updated, ${report.deactivated} deactivated, ${report.unchanged} unchanged${report.dryRun ? " (dry run: nothing was written)" : ""}`,
  );
  return lines;
}
