import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";

import { GeneralErrorBoundary } from "~/components/error-boundary";
import {
  addToCart,
  CART_MESSAGES,
  type CartState,
  cartFormToken,
  checkoutCart,
  emptyCart,
  isCartTokenFor,
  removeLine,
  setQuantity,
  viewCart,
} from "~/lib/cart.server";
import { getProduct } from "~/lib/catalog.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { readForm } from "~/lib/http.server";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { formatMoney } from "~/lib/money";
import { assertSameOrigin } from "~/lib/security.server";
import { ensureShopper, getShopper } from "~/lib/session.server";
import { UserError } from "~/lib/user-error";

/**
 * GET /cart: the shopper's cart, checked against the catalog on every view
 * (a product no longer sold leaves, a new price is taken, each with a
 * notice). POST /cart: one form per action, told apart by `intent` (add, set,
 * remove, empty, checkout), each answered 303 back here, or to Stripe's page
 * for checkout; a refused one gets this page again with its message and a 4xx.
 * docs/decisions/150-cart-one-currency-one-time-only.md
 */

export const meta: MetaFunction = () => [{ title: "Your cart: Field & Kiln" }];

export const headers: HeadersFunction = ({ loaderHeaders, actionHeaders }) => {
  const headers = new Headers(loaderHeaders);
  const cookie = actionHeaders.get("Set-Cookie");
  if (cookie) headers.set("Set-Cookie", cookie);
  const retryAfter = actionHeaders.get("Retry-After");
  if (retryAfter) headers.set("Retry-After", retryAfter);
  headers.set("Cache-Control", "no-store");
  return headers;
};

function cartView(cart: CartState) {
  const currency = cart.items[0]?.line.currency ?? null;
  const subtotal = cart.items.reduce((sum, { line }) => sum + line.unitAmount * line.quantity, 0);
  return {
    version: cart.version,
    currency: currency?.toUpperCase() ?? null,
    subtotal: currency ? formatMoney(subtotal, currency) : null,
    count: cart.items.reduce((sum, { line }) => sum + line.quantity, 0),
    lines: cart.items.map(({ line, product }) => ({
      id: line.id,
      slug: product.slug,
      name: product.name,
      quantity: line.quantity,
      maxQuantity: product.maxQuantity,
      unitPrice: formatMoney(line.unitAmount, line.currency),
      lineTotal: formatMoney(line.unitAmount * line.quantity, line.currency),
    })),
  };
}

export async function loader({ request }: LoaderFunctionArgs) {
  // The cookie is set here, so that the page's forms carry a token bound to it.
  const { shopperId, setCookie } = await ensureShopper(request);
  const { cart, notices } = await orUnavailable(() => viewCart(shopperId));
  const canceled = new URL(request.url).searchParams.get("canceled") === "1";
  return json(
    { cart: cartView(cart), token: cartFormToken(shopperId), notices, canceled },
    { headers: { "Cache-Control": "no-store", ...(setCookie ? { "Set-Cookie": setCookie } : {}) } },
  );
}

type ActionError = { error: string; field: string | null; line: string | null; notices: string[] };

export async function action({ request, context }: ActionFunctionArgs) {
  // Another site's form posting here is refused before anything else.
  assertSameOrigin(request);
  const form = await readForm(request, FORM_BODY_LIMIT);
  const headers = new Headers({ "Cache-Control": "no-store" });
  const refuse = (status: number, error: string, more: Partial<ActionError> = {}) =>
    json<ActionError>({ error, field: null, line: null, notices: [], ...more }, { status, headers });

  const { shopperId, setCookie } = await getShopper(request);
  if (setCookie) headers.set("Set-Cookie", setCookie);
  // Only a page of this shop gave this shopper this token.
  if (!shopperId || !isCartTokenFor(form.get("token"), shopperId)) return refuse(400, CART_MESSAGES.expired);

  const intent = form.get("intent");
  const line = typeof form.get("line") === "string" ? String(form.get("line")) : null;
  const back = () => redirect("/cart", { status: 303, headers });

  return orUnavailable(async () => {
    switch (intent) {
      case "add": {
        const slug = form.get("product");
        const product = typeof slug === "string" && slug !== "" ? await getProduct(slug) : undefined;
        const result = await addToCart(shopperId, product, form.get("quantity"));
        return result.ok ? back() : refuse(result.status, result.message, { field: result.field ?? null });
      }
      case "set": {
        const result = await setQuantity(shopperId, line, form.get("quantity"));
        return result.ok ? back() : refuse(result.status, result.message, { field: result.field ?? null, line });
      }
      case "remove": {
        const result = await removeLine(shopperId, line);
        return result.ok ? back() : refuse(result.status, result.message, { line });
      }
      case "empty": {
        const result = await emptyCart(shopperId);
        return result.ok ? back() : refuse(result.status, result.message);
      }
      case "checkout": {
        try {
          const result = await checkoutCart({
            shopperId,
            shownVersion: form.get("version"),
            clientAddress: typeof context?.clientAddress === "string" ? context.clientAddress : undefined,
          });
          // 303 so that the browser follows with a GET to Stripe's hosted page.
          if (result.ok) return redirect(result.url, { status: 303, headers });
          return refuse(result.status, result.message, { notices: result.notices });
        } catch (error: unknown) {
          if (error instanceof UserError) {
            if (error.retryAfter) headers.set("Retry-After", String(error.retryAfter));
            return refuse(error.status, error.message);
          }
          throw error;
        }
      }
      default:
        return refuse(400, CART_MESSAGES.unknownIntent);
    }
  });
}

export default function CartPage() {
  const { cart, token, notices, canceled } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const navigation = useNavigation();
  const busy = navigation.state !== "idle" && navigation.formAction === "/cart";
  const allNotices = [...notices, ...(actionData?.notices ?? [])];
  return (
    <section className="cart" aria-labelledby="cart-title">
      <h1 id="cart-title">Your cart</h1>
      {canceled ? (
        <p role="status" className="notice">
          Checkout canceled. Nothing was charged. Your cart is as you left it.
        </p>
      ) : null}
      {allNotices.length > 0 ? (
        <ul role="status" className="notice cart-notices">
          {allNotices.map((notice) => (
            <li key={notice}>{notice}</li>
          ))}
        </ul>
      ) : null}
      {actionData?.error ? (
        <p role="alert" className="form-error" id="cart-error">
          {actionData.error}
        </p>
      ) : null}
      {cart.lines.length === 0 ? (
        <p>
          Your cart is empty. <Link to="/">Browse the shop</Link>
        </p>
      ) : (
        <>
          <table className="cart-lines">
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Unit price</th>
                <th scope="col">Quantity</th>
                <th scope="col">Line total</th>
                <th scope="col" aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {cart.lines.map((line) => (
                <tr key={line.id} data-line={line.slug}>
                  <td data-label="Product">
                    <Link to={`/products/${line.slug}`}>{line.name}</Link>
                  </td>
                  <td data-label="Unit price">{line.unitPrice}</td>
                  <td data-label="Quantity">
                    <Form method="post" action="/cart" className="cart-quantity">
                      <input type="hidden" name="token" value={token} />
                      <input type="hidden" name="intent" value="set" />
                      <input type="hidden" name="line" value={line.id} />
                      <label>
                        <span className="visually-hidden">Quantity of {line.name}</span>
                        <input
                          type="number"
                          name="quantity"
                          inputMode="numeric"
                          min={1}
                          max={line.maxQuantity}
                          step={1}
                          required
                          defaultValue={line.quantity}
                          key={`${line.id}-${line.quantity}`}
                          aria-invalid={actionData?.line === String(line.id) || undefined}
                          aria-describedby={actionData?.line === String(line.id) ? "cart-error" : undefined}
                        />
                      </label>
                      <button type="submit" disabled={busy}>
                        Update
                      </button>
                    </Form>
                  </td>
                  <td data-label="Line total">{line.lineTotal}</td>
                  <td>
                    <Form method="post" action="/cart">
                      <input type="hidden" name="token" value={token} />
                      <input type="hidden" name="intent" value="remove" />
                      <input type="hidden" name="line" value={line.id} />
                      <button type="submit" disabled={busy} aria-label={`Remove ${line.name}`}>
                        Remove
                      </button>
                    </Form>
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colSpan={3}>
                  Subtotal ({cart.currency})
                </th>
                <td className="cart-subtotal">{cart.subtotal}</td>
                <td />
              </tr>
            </tfoot>
          </table>
          <p className="cart-note">One checkout charges one currency: this cart is in {cart.currency}.</p>
          <div className="cart-actions">
            <Form method="post" action="/cart">
              <input type="hidden" name="token" value={token} />
              <input type="hidden" name="intent" value="empty" />
              <button type="submit" disabled={busy} className="secondary">
                Empty cart
              </button>
            </Form>
            <Form method="post" action="/cart">
              <input type="hidden" name="token" value={token} />
              <input type="hidden" name="intent" value="checkout" />
              <input type="hidden" name="version" value={cart.version} />
              <button type="submit" disabled={busy} aria-busy={busy || undefined}>
                {busy && navigation.formData?.get("intent") === "checkout" ? "Taking you to checkout…" : "Check out"}
              </button>
            </Form>
          </div>
        </>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
