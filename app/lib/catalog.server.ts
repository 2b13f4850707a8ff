import { and, asc, eq } from "drizzle-orm";

import type { Product } from "../../db/schema/types";
import { db, schema } from "./db.server";

const { products } = schema;

export function listProducts(): Promise<Product[]> {
  return db.select().from(products).where(eq(products.active, true)).orderBy(asc(products.id));
}

/** The active product for a slug, or undefined (unknown and inactive look the same). */
export async function getProduct(slug: string): Promise<Product | undefined> {
  const [row] = await db
    .select()
    .from(products)
    .where(and(eq(products.slug, slug), eq(products.active, true)))
    .limit(1);
  return row;
}

export async function getProductById(id: number): Promise<Product | undefined> {
  const [row] = await db.select().from(products).where(eq(products.id, id)).limit(1);
  return row;
}
