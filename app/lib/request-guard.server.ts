import { matchRoutes } from "@remix-run/react";

import { config } from "./config.server";
import { FORM_BODY_LIMIT, WEBHOOK_BODY_LIMIT } from "./limits";
import { CROSS_SITE_MESSAGE, isSameOrigin } from "./security.server";

/**
 * What server.js decides before Remix sees a request: the method, the
 * request target, the Host syntax, the cross-site check and the body limit.
 * Every decision is made on the URL Remix will route, which is APP_ORIGIN
 * plus the request target (never built from Host or X-Forwarded-Host), and
 * on the route Remix's own matcher picks for it, so that a trailing slash,
 * letter case or a percent-escape cannot put a form post past a check meant
 * for it. docs/decisions/090-one-view-of-the-request.md
 */

export const ALLOWED_METHODS = ["GET", "HEAD", "POST"];
export const WEBHOOK_ROUTE_ID = "routes/stripe.webhook";

type ServerRoute = { id: string; parentId?: string; path?: string; index?: boolean; caseSensitive?: boolean };
type RouteNode = Parameters<typeof matchRoutes>[0][number];

export type Verdict =
  | { ok: true; url: URL; routeId: string | null; bodyLimit: number }
  | { ok: false; status: number; message: string; headers?: Record<string, string> };

// A name or an IPv4 address, or a bracketed IPv6 literal; an optional port.
const HOST =
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

export function isValidHost(value: string) {
  const match = HOST.exec(value);
  return match !== null && value.length <= 255 && (match[1] === undefined || Number(match[1]) <= 65535);
}

function tree(routes: Record<string, ServerRoute>, parentId?: string): RouteNode[] {
  return Object.values(routes)
    .filter((route) => route.parentId === parentId)
    .map((route) =>
      route.index
        ? { id: route.id, path: route.path, index: true, caseSensitive: route.caseSensitive }
        : { id: route.id, path: route.path, caseSensitive: route.caseSensitive, children: tree(routes, route.id) },
    );
}

const refuse = (status: number, message: string, headers?: Record<string, string>): Verdict => ({
  ok: false,
  status,
  message,
  headers,
});

/** Paths whose route is remembered: enough for a shop's pages; a flood of odd paths only clears it. */
const REMEMBERED_PATHS = 1_000;

export function createRequestGuard(routes: Record<string, ServerRoute>, basename?: string) {
  const routeTree = tree(routes);
  // matchRoutes flattens and ranks the whole tree on every call (Remix then does it twice more);
  // the route of a path never changes while the process runs.
  const routeOfPath = new Map<string, string | null>();
  const routeOf = (pathname: string) => {
    let routeId = routeOfPath.get(pathname);
    if (routeId === undefined) {
      routeId = matchRoutes(routeTree, pathname, basename)?.at(-1)?.route.id ?? null;
      if (routeOfPath.size >= REMEMBERED_PATHS) routeOfPath.clear();
      routeOfPath.set(pathname, routeId);
    }
    return routeId;
  };
  return function check(method: string, target: string, headers: { get(name: string): string | null | undefined }) {
    // Origin-form only: no absolute-form (`GET http://other/ HTTP/1.1`), no `OPTIONS *`.
    if (!target.startsWith("/") || target.startsWith("//")) {
      return refuse(400, "The request target must be a path.");
    }
    // Neither header names the URL (APP_ORIGIN does), but a malformed one is a malformed request.
    const host = headers.get("Host");
    if (host != null && !isValidHost(host)) return refuse(400, "The Host header is not a valid host.");
    const forwarded = headers.get("X-Forwarded-Host");
    if (forwarded != null && !forwarded.split(",").every((h) => isValidHost(h.trim()))) {
      return refuse(400, "The X-Forwarded-Host header is not a valid host.");
    }

    let url: URL;
    try {
      url = new URL(`${config.appOrigin}${target}`);
    } catch {
      return refuse(400, "The request target is not a valid path.");
    }
    if (url.origin !== config.appOrigin) return refuse(400, "The request target is not a valid path.");

    // A path Remix could not decode would be routed undecoded (and logged as a warning).
    try {
      decodeURIComponent(url.pathname);
    } catch {
      return refuse(400, "The request target is not a valid path.");
    }
    // Single fetch (the v3 flag) asks for `/path.data`; Remix answers the old `?_data=` with an error.
    if (url.searchParams.has("_data")) return refuse(400, "The _data parameter is not used by this shop.");
    const routeId = routeOf(url.pathname);
    const webhook = routeId === WEBHOOK_ROUTE_ID;
    if (!ALLOWED_METHODS.includes(method)) {
      return webhook
        ? refuse(405, "Method not allowed: Stripe delivers webhooks with POST.", { Allow: "POST" })
        : refuse(405, "This method is not allowed here.", { Allow: ALLOWED_METHODS.join(", ") });
    }

    // Stripe's webhook calls come from no site; every other post must come from this one.
    if (method === "POST" && !webhook && !isSameOrigin(headers, config.appOrigin)) {
      return refuse(403, CROSS_SITE_MESSAGE);
    }
    return { ok: true, url, routeId, bodyLimit: webhook ? WEBHOOK_BODY_LIMIT : FORM_BODY_LIMIT } satisfies Verdict;
  };
}
