import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useActionData, useLoaderData } from "@remix-run/react";

import { AddToCartForm } from "~/components/add-to-cart-form";
import { BuyForm } from "~/components/buy-form";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { FORM_EXPIRED, isFormTokenFor, newFormToken, parseBuyForm } from "~/lib/buy-form.server";
import { cartFormToken } from "~/lib/cart.server";
import { getProduct } from "~/lib/catalog.server";
import { createCheckout } from "~/lib/checkout.server";
import { UserError } from "~/lib/user-error";
import { orUnavailable } from "~/lib/db-errors.server";
import { invariantResponse, readForm } from "~/lib/http.server";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { formatMoney } from "~/lib/money";
import { assertSameOrigin } from "~/lib/security.server";
import { ensureShopper, getShopper } from "~/lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `${data.product.name}: Field & Kiln` : "Not found: Field & Kiln" },
];

// Each load carries a fresh one-time form token: never cache this page.
export const headers: HeadersFunction = ({ loaderHeaders, actionHeaders }) => {
  const headers = new Headers(loaderHeaders);
  const cookie = actionHeaders.get("Set-Cookie");
  if (cookie) headers.set("Set-Cookie", cookie);
  headers.set("Cache-Control", "no-store");
  return headers;
};

export async function loader({ request, params }: LoaderFunctionArgs) {
  const product = await orUnavailable(() => getProduct(params.slug ?? ""));
  invariantResponse(product, "No product by that name is for sale.", { status: 404 });

  // The shopper's cookie is set here, so that two quick submits of the form
  // carry the same shopper (and so find the same Checkout Session).
  const { shopperId, setCookie } = await ensureShopper(request);
  const canceled = new URL(request.url).searchParams.get("canceled") === "1";
  return json(
    {
      product: {
        slug: product.slug,
        name: product.name,
        description: product.description,
        mode: product.mode,
        maxQuantity: product.maxQuantity,
        price: formatMoney(product.unitAmount, product.currency),
        interval: product.recurringInterval,
      },
      token: newFormToken(shopperId),
      // One-time products can go in the cart; a subscription is its own checkout.
      cartToken: product.mode === "payment" ? cartFormToken(shopperId) : null,
      canceled,
    },
    { headers: { "Cache-Control": "no-store", ...(setCookie ? { "Set-Cookie": setCookie } : {}) } },
  );
}

export async function action({ request, params, context }: ActionFunctionArgs) {
  // Another site's form posting here is refused before anything else.
  assertSameOrigin(request);
  const product = await orUnavailable(() => getProduct(params.slug ?? ""));
  invariantResponse(product, "No product by that name is for sale.", { status: 404 });

  // Only the slug (above), the quantity and the token are read from the
  // request. Price, amount, mode and redirect URLs come from the server.
  const form = await readForm(request, FORM_BODY_LIMIT);
  const quantityField = typeof form.get("quantity") === "string" ? String(form.get("quantity")) : null;
  const parsed = parseBuyForm(form, product);
  if (!parsed.ok) {
    return json({ error: parsed.error, field: parsed.field, quantity: quantityField }, { status: 400 });
  }

  // The token must be one this page gave this shopper: no cookie, a forged
  // token or another shopper's is refused before Stripe is asked anything.
  const { shopperId, setCookie } = await getShopper(request);
  if (!shopperId || !isFormTokenFor(parsed.token, shopperId)) {
    return json({ error: FORM_EXPIRED, field: "token" as const, quantity: quantityField }, { status: 400 });
  }
  const headers = new Headers();
  if (setCookie) headers.set("Set-Cookie", setCookie);
  try {
    const checkout = await orUnavailable(() =>
      createCheckout({
        product,
        quantity: parsed.quantity,
        formToken: parsed.token,
        shopperId,
        clientAddress: typeof context?.clientAddress === "string" ? context.clientAddress : undefined,
      }),
    );
    // 303 so that the browser follows with a GET to Stripe's hosted page.
    return redirect(checkout.url, { status: 303, headers });
  } catch (error: unknown) {
    if (error instanceof UserError) {
      if (error.retryAfter) headers.set("Retry-After", String(error.retryAfter));
      return json({ error: error.message, field: null, quantity: quantityField }, { status: error.status, headers });
    }
    throw error;
  }
}

export default function ProductPage() {
  const { product, token, cartToken, canceled } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  return (
    <article className="product" aria-labelledby="product-title">
      <p>
        <Link to="/">← All products</Link>
      </p>
      {canceled ? (
        <p role="status" className="notice">
          Checkout canceled. Nothing was charged. You can try again below whenever you are ready.
        </p>
      ) : null}
      <h1 id="product-title">{product.name}</h1>
      <p>{product.description}</p>
      <p className="price">
        {product.price}
        {product.interval ? ` / ${product.interval}` : null}
        {product.maxQuantity > 1 ? " each" : null}
      </p>
      <BuyForm
        slug={product.slug}
        token={token}
        maxQuantity={product.maxQuantity}
        mode={product.mode}
        error={actionData?.error}
        field={actionData?.field}
        quantity={actionData?.quantity}
      />
      {cartToken ? <AddToCartForm slug={product.slug} token={cartToken} maxQuantity={product.maxQuantity} /> : null}
    </article>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary messages={{ 404: "We could not find that product." }} />;
}
