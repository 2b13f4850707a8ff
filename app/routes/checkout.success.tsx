import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";

import { GeneralErrorBoundary } from "~/components/error-boundary";
import { OrderStatus } from "~/components/order-status";
import { cartCount } from "~/lib/cart.server";
import { orUnavailable } from "~/lib/db-errors.server";
import {
  findOwnCheckout,
  isKnownShopper,
  orderLines,
  refreshFromStripe,
  SESSION_ID,
  successView,
} from "~/lib/orders.server";
import { clientKey, orderLookups } from "~/lib/rate-limit.server";
import { getShopper } from "~/lib/session.server";

/**
 * GET /checkout/success?session_id=cs_...: where Stripe sends the shopper
 * back. The id is no secret (history, logs, referrers), so the order shows
 * only to the cookie session that started it; any other visitor gets the
 * same 404 whether the id exists or not, and repeated misses get 429.
 */

// Never cached, and the session id in this URL never leaks through a Referer.
const PRIVATE = { "Cache-Control": "no-store", "Referrer-Policy": "no-referrer" } as const;

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: "Your order: Field & Kiln" },
  // Reloads a pending page without JavaScript until the stored state changes.
  ...(data?.refreshSeconds ? [{ httpEquiv: "refresh", content: String(data.refreshSeconds) }] : []),
];

// Applies to the 400/404/429 pages too: errorHeaders are the thrown Response's.
export const headers: HeadersFunction = ({ errorHeaders }) => {
  const headers = new Headers(PRIVATE);
  const retryAfter = errorHeaders?.get("Retry-After");
  if (retryAfter) headers.set("Retry-After", retryAfter);
  return headers;
};

const MESSAGES = {
  400: "That is not a valid order link.",
  404: "We could not find that order.",
  429: "Too many order links tried. Please wait a minute and try again.",
} as const;

const DETAILS = {
  400: "An order link ends in ?session_id=cs_... exactly as the payment page sent it.",
  // The same words for every id that is not this shopper's: nothing to probe.
  404: "Orders show only in the browser they were bought with. If you paid, your receipt is in your email.",
  429: "Nothing was looked up.",
} as const;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { shopperId, setCookie } = await getShopper(request);
  const headers = new Headers(PRIVATE);
  // A cookie signed with an older secret is re-signed, whatever the answer.
  if (setCookie) headers.set("Set-Cookie", setCookie);

  const id = new URL(request.url).searchParams.get("session_id");
  return orUnavailable(async () => {
    const own = id && SESSION_ID.test(id) && shopperId ? await findOwnCheckout(shopperId, id) : undefined;
    if (!own) {
      const status = id && SESSION_ID.test(id) ? 404 : 400;
      const key = clientKey(request, context, shopperId && (await isKnownShopper(shopperId)) ? shopperId : null);
      const wait = await orderLookups.blockedFor(key);
      if (wait !== null) {
        headers.set("Retry-After", String(wait));
        throw refuse(429, headers);
      }
      await orderLookups.consume(key);
      throw refuse(status, headers);
    }

    const checkout = await refreshFromStripe(own.checkout);
    const lines = (await orderLines([checkout.id])).get(checkout.id);
    // The refresh may have recorded the payment and so settled the cart; the
    // root loader counted it in parallel, before: the header takes this count.
    const count = shopperId ? await cartCount(shopperId).catch(() => null) : null;
    return json({ ...successView({ checkout, product: own.product }, lines), cartCount: count }, { headers });
  });
}

function refuse(status: 400 | 404 | 429, headers: Headers) {
  headers.set("Content-Type", "text/plain; charset=utf-8");
  return new Response(DETAILS[status], { status, headers });
}

export default function CheckoutSuccess() {
  const view = useLoaderData<typeof loader>();
  return <OrderStatus view={view} />;
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary messages={MESSAGES} />;
}
