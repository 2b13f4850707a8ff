import type { LinksFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import {
  Links,
  Meta,
  Outlet,
  Scripts,
  ScrollRestoration,
  useMatches,
  useRouteLoaderData,
  Link,
} from "@remix-run/react";
import type { ReactNode } from "react";

import { GeneralErrorBoundary } from "./components/error-boundary";
import { useRequestInfo } from "./components/request-info";
import { SimulatedPaymentsBanner } from "./components/simulated-banner";
import { cartCount } from "./lib/cart.server";
import { config } from "./lib/config.server";
import { getShopper } from "./lib/session.server";
import styles from "./styles.css?url";

export const links: LinksFunction = () => [
  { rel: "stylesheet", href: styles },
  // No favicon: an empty one keeps browsers from asking for /favicon.ico.
  { rel: "icon", href: "data:," },
];

export const meta: MetaFunction = () => [{ title: "Field & Kiln" }];

export async function loader({ request }: LoaderFunctionArgs) {
  return json({
    cartCount: await headerCartCount(request),
    simulated: config.stripe.simulated,
    emulated: config.stripe.emulated,
    // Development without MAIL_URL: mail is written to files and shown at /dev/mail.
    mailPage: !config.production && !config.mail.url,
  });
}

// The header's count is a courtesy: a database that does not answer leaves it out, not the page.
async function headerCartCount(request: Request): Promise<number | null> {
  const { shopperId } = await getShopper(request);
  if (!shopperId) return 0;
  try {
    return await cartCount(shopperId);
  } catch {
    return null;
  }
}

/**
 * The cart count a page's own loader read, the deepest page first: a loader
 * that can change the cart (the success page records a payment, which
 * settles the cart) counts it afterwards, while the root loader ran beside it
 * and counted it before.
 */
function pageCartCount(matches: ReturnType<typeof useMatches>): number | undefined {
  for (const match of [...matches].reverse()) {
    if (match.id === "root") continue;
    const count = (match.data as { cartCount?: unknown } | null | undefined)?.cartCount;
    if (typeof count === "number") return count;
  }
  return undefined;
}

export function Layout({ children }: { children: ReactNode }) {
  const data = useRouteLoaderData<typeof loader>("root");
  const cartCount = pageCartCount(useMatches()) ?? data?.cartCount;
  const { nonce } = useRequestInfo();
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body>
        {data?.simulated ? <SimulatedPaymentsBanner emulated={data.emulated} mailPage={data.mailPage} /> : null}
        <header className="site-header">
          <Link to="/" className="brand">
            Field &amp; Kiln
          </Link>
          <nav>
            <Link to="/cart" className="cart-link">
              Cart
              {cartCount ? <span className="cart-count"> ({cartCount})</span> : null}
            </Link>
            <Link to="/orders">Your orders</Link>
          </nav>
        </header>
        <main>{children}</main>
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  return <Outlet />;
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
