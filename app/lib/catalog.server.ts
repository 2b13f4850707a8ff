import { and, asc, eq } from "drizzle-orm";

import { db, schema } from "./db.server";

const { products } = schema;

export function listProducts() {
  return db.select().from(products).where(eq(products.active, true)).orderBy(asc(products.id)).all();
}

/** The active product for a slug, or undefined (unknown and inactive look the same). */
export function getProduct(slug: string) {
  return db
    .select()
    .from(products)
    .where(and(eq(products.slug, slug), eq(products.active, true)))
    .get();
}

export function getProductById(id: number) {
  return db.select().from(products).where(eq(products.id, id)).get();
}
