import { and, asc, eq, sql } from "drizzle-orm";

import { db, schema } from "./db.server";

const { products } = schema;

export function listProducts() {
  return db.select().from(products).where(eq(products.active, true)).orderBy(asc(products.id)).all();
}

// Prepared once: every product page and every Buy post looks its product up.
let bySlug: ReturnType<typeof prepareBySlug> | undefined;
const prepareBySlug = () =>
  db
    .select()
    .from(products)
    .where(and(eq(products.slug, sql.placeholder("slug")), eq(products.active, true)))
    .prepare();

/** The active product for a slug, or undefined (unknown and inactive look the same). */
export function getProduct(slug: string) {
  return (bySlug ??= prepareBySlug()).get({ slug });
}

export function getProductById(id: number) {
  return db.select().from(products).where(eq(products.id, id)).get();
}
