import { readFileSync } from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import { z } from "zod";

import type { Db, Schema } from "./db.server";

/**
 * db/catalog.json: the products a fresh database starts with (and, in
 * development, the products it is brought in line with at start). Checked
 * here so that a mistake stops the start with the product and field named,
 * instead of failing an insert on every page.
 */

export class CatalogFileError extends Error {
  override name = "CatalogFileError";
}

const text = (field: string) =>
  z
    .string({ error: `${field} is required (text)` })
    .trim()
    .min(1, { error: `${field} must not be empty` });

const entrySchema = z.strictObject(
  {
    slug: text("slug").regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, {
      error: "slug must be lower-case letters, digits and single dashes (it is the page's URL)",
    }),
    name: text("name"),
    description: z.string({ error: "description is required (text; may be empty)" }),
    stripeProductId: text("stripeProductId").optional(),
    stripePriceId: text("stripePriceId"),
    mode: z.enum(["payment", "subscription"], { error: 'mode must be "payment" or "subscription"' }),
    unitAmount: z
      .number({ error: "unitAmount is required (a whole number in minor units, e.g. 3200 for 32.00)" })
      .int({ error: "unitAmount must be a whole number in minor units (e.g. 3200 for 32.00)" })
      .min(0, { error: "unitAmount must not be negative" }),
    currency: z
      .string({ error: 'currency is required (a three-letter ISO code such as "usd")' })
      .regex(/^[a-z]{3}$/, { error: 'currency must be a lower-case three-letter ISO code such as "usd"' }),
    recurringInterval: z
      .enum(["day", "week", "month", "year"], { error: "recurringInterval must be day, week, month or year" })
      .optional(),
    maxQuantity: z
      .number({ error: "maxQuantity is required (a whole number from 1 to 999)" })
      .int({ error: "maxQuantity must be a whole number from 1 to 999" })
      .min(1, { error: "maxQuantity must be at least 1" })
      .max(999, { error: "maxQuantity must be at most 999" }),
    active: z.boolean({ error: "active is required (true or false)" }),
    shippable: z.boolean({ error: "shippable must be true or false (unset: false)" }).optional(),
  },
  { error: (issue) => (issue.code === "unrecognized_keys" ? `unknown field ${issue.keys.join(", ")}` : undefined) },
);

const fileSchema = z.object({
  $comment: z.string().optional(),
  products: z.array(z.unknown(), { error: "`products` must be a list of products" }),
});

export type CatalogEntry = z.infer<typeof entrySchema>;

export const CATALOG_PATH = path.join(process.cwd(), "db", "catalog.json");

/** The file's products, validated; throws CatalogFileError naming the product and field. */
export function parseCatalog(raw: unknown, file = "db/catalog.json"): CatalogEntry[] {
  const top = fileSchema.safeParse(raw);
  if (!top.success) throw new CatalogFileError(`${file}: ${top.error.issues[0]?.message}`);
  const problems: string[] = [];
  const entries: CatalogEntry[] = [];
  top.data.products.forEach((item, i) => {
    const result = entrySchema.safeParse(item);
    const slug = (item as { slug?: unknown } | null)?.slug;
    const which = typeof slug === "string" && slug !== "" ? `product "${slug}"` : `product ${i + 1}`;
    if (result.success) entries.push(result.data);
    else for (const issue of result.error.issues) problems.push(`${which}: ${issue.message}`);
    if (result.success && result.data.mode === "subscription" && !result.data.recurringInterval) {
      problems.push(`${which}: recurringInterval is required for a subscription (day, week, month or year)`);
    }
  });
  for (const key of ["slug", "stripePriceId"] as const) {
    const seen = new Set<string>();
    for (const entry of entries) {
      if (seen.has(entry[key])) problems.push(`product "${entry.slug}": ${key} "${entry[key]}" is used twice`);
      seen.add(entry[key]);
    }
  }
  if (problems.length > 0) throw new CatalogFileError(`${file} is not valid:\n  ${problems.join("\n  ")}`);
  return entries;
}

export function readCatalog(file = CATALOG_PATH): CatalogEntry[] {
  const name = path.relative(process.cwd(), file) || file;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error: unknown) {
    throw new CatalogFileError(`${name} could not be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseCatalog(raw, name);
}

/** The products row of one catalog entry (the seed and the development apply both write it). */
export const rowOf = (entry: CatalogEntry) => ({
  slug: entry.slug,
  name: entry.name,
  description: entry.description,
  stripeProductId: entry.stripeProductId ?? null,
  stripePriceId: entry.stripePriceId,
  mode: entry.mode,
  unitAmount: entry.unitAmount,
  currency: entry.currency,
  recurringInterval: entry.recurringInterval ?? null,
  maxQuantity: entry.maxQuantity,
  active: entry.active,
  shippable: entry.shippable ?? false,
});

export type CatalogFileChanges = { added: string[]; updated: string[] };

/**
 * Development: brings the products table in line with the file, by slug (adds
 * new products, updates changed ones; never deletes: checkouts refer to them).
 */
export async function applyCatalogFile(
  db: Db,
  { products }: Pick<Schema, "products">,
  entries: CatalogEntry[] = readCatalog(),
): Promise<CatalogFileChanges> {
  const changes: CatalogFileChanges = { added: [], updated: [] };
  const now = Date.now();
  for (const entry of entries) {
    const want = rowOf(entry);
    // By slug; a renamed slug is found by its price.
    const bySlug = await db.select().from(products).where(eq(products.slug, entry.slug)).limit(1);
    const [row] =
      bySlug.length > 0
        ? bySlug
        : await db.select().from(products).where(eq(products.stripePriceId, entry.stripePriceId)).limit(1);
    if (!row) {
      await db.insert(products).values(want);
      changes.added.push(entry.slug);
      continue;
    }
    const changed = (Object.keys(want) as Array<keyof typeof want>).filter((key) => row[key] !== want[key]);
    if (changed.length === 0) continue;
    await db
      .update(products)
      .set({ ...want, updatedAt: now })
      .where(eq(products.id, row.id));
    changes.updated.push(`${entry.slug} (${changed.join(", ")})`);
  }
  return changes;
}

/** One line for the start-up log, or null when nothing changed. */
export function describeCatalogChanges({ added, updated }: CatalogFileChanges): string | null {
  const parts = [
    added.length > 0 ? `added ${added.join(", ")}` : "",
    updated.length > 0 ? `updated ${updated.join(", ")}` : "",
  ].filter(Boolean);
  return parts.length > 0 ? `db/catalog.json applied to the database: ${parts.join("; ")}` : null;
}
