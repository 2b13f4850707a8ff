import type { MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";

import { listProducts } from "~/lib/catalog.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { formatMoney } from "~/lib/money";

export const meta: MetaFunction = () => [{ title: "Field & Kiln: shop" }];

export async function loader() {
  const products = (await orUnavailable(listProducts)).map((p) => ({
    slug: p.slug,
    name: p.name,
    description: p.description,
    mode: p.mode,
    price: formatMoney(p.unitAmount, p.currency),
    interval: p.recurringInterval,
  }));
  return json({ products });
}

export default function Catalog() {
  const { products } = useLoaderData<typeof loader>();
  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">The shop</h1>
      {products.length === 0 ? <p>Nothing is for sale right now.</p> : null}
      <ul className="catalog">
        {products.map((p) => (
          <li key={p.slug}>
            <h2>
              <Link to={`/products/${p.slug}`}>{p.name}</Link>
            </h2>
            <p>{p.description}</p>
            <p className="price">
              {p.price}
              {p.interval ? ` / ${p.interval}` : null}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}
