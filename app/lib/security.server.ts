import { randomBytes } from "node:crypto";

import { config } from "./config.server";

/**
 * Security headers and cross-site checks, in one place.
 * CSP: Remix's inline scripts carry a per-request nonce. `form-action` must
 * list the checkout's origin: Chrome and Safari apply it to the redirect that
 * follows a form post, so without it the 303 to the hosted page is blocked.
 */

export function newNonce() {
  return randomBytes(16).toString("base64");
}

export function newRequestId() {
  return randomBytes(8).toString("hex");
}

// Where the Buy and portal forms' 303s lead.
function redirectOrigins() {
  const origins = new Set(["https://checkout.stripe.com", "https://billing.stripe.com"]);
  if (config.stripe.apiBase) origins.add(config.stripe.apiBase.origin);
  return [...origins];
}

export function contentSecurityPolicy(nonce: string) {
  const dev = config.nodeEnv === "development";
  return [
    "default-src 'self'",
    // Vite's dev server injects its client and styles without a nonce.
    dev ? "script-src 'self' 'unsafe-inline'" : `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`,
    dev ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "img-src 'self' data:",
    dev ? "connect-src 'self' ws: wss:" : "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    `form-action 'self' ${redirectOrigins().join(" ")}`,
  ].join("; ");
}

/**
 * Headers of every HTML document. server.js adds X-Content-Type-Options and
 * (in production) HSTS to every response, documents, data and assets alike.
 */
export function applyDocumentHeaders(headers: Headers, nonce: string) {
  if (!headers.has("Referrer-Policy")) headers.set("Referrer-Policy", "strict-origin-when-cross-origin");
  headers.set("Content-Security-Policy", contentSecurityPolicy(nonce));
  headers.set("X-Frame-Options", "DENY");
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
}

export const CROSS_SITE_MESSAGE = "This form was sent from another site, so it was refused. Nothing was charged.";

/**
 * Whether a state-changing request comes from this site (CSRF). Browsers send
 * Fetch Metadata (`Sec-Fetch-Site`); older ones at least send `Origin` on a
 * POST. A request with neither comes from no browser and carries no ambient
 * cookie risk. https://web.dev/articles/fetch-metadata
 */
export function isSameOrigin(headers: { get(name: string): string | null | undefined }, requestOrigin: string) {
  const site = headers.get("Sec-Fetch-Site");
  if (site) return site === "same-origin";
  const origin = headers.get("Origin");
  if (!origin) return true;
  return origin === config.appOrigin || origin === requestOrigin;
}

/** Refuses a form post made by another site with 403, before anything is read. */
export function assertSameOrigin(request: Request) {
  if (!isSameOrigin(request.headers, new URL(request.url).origin)) {
    throw new Response(CROSS_SITE_MESSAGE, { status: 403, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}
