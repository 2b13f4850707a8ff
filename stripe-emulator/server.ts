import http from "node:http";
import type { AddressInfo } from "node:net";

import { Api } from "./api";
import { loadCatalog } from "./catalog";
import { type PayDetails, totalsFor } from "./checkout-options";
import { handleControl } from "./control";
import { dashboard } from "./dashboard";
import { apiError, StripeApiError } from "./errors";
import { IdempotencyStore } from "./idempotency";
import { newId } from "./ids";
import { API_VERSION } from "./objects";
import { checkoutPage, closedPage, DECLINED_MESSAGE, notFoundPage, portalPage, type Page } from "./pages";
import { canonical, normalizeJson, parseForm, toPlain, type Params } from "./params";
import type { Runtime } from "./runtime";
import { EmulatorState, isEmail, type SessionRecord } from "./state";
import { WebhookDispatcher } from "./webhooks";

/**
 * A local stand-in for the parts of Stripe's API that the shop uses: Checkout
 * Sessions and their hosted payment page, prices and products from
 * db/catalog.json, customers, subscriptions, the billing portal, the Events
 * API and signed webhook deliveries; plus a control API for tests. See
 * README.md.
 */

export type EmulatorOptions = {
  /** 0 picks a free port. Default 12111. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default <repo>/db/catalog.json. */
  catalogPath?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  /** Delay before the first retry of a failed delivery, doubling after; default 1000. */
  retryBaseMs?: number;
  /** Delivery attempts per event; default 5. */
  maxAttempts?: number;
  /** No logging at all. */
  quiet?: boolean;
  /** Log every API request and delivery (to stderr). */
  verbose?: boolean;
};

export type Emulator = { url: string; port: number; close(): Promise<void> };

const MAX_BODY = 1024 * 1024;
const MAX_REQUEST_LOG = 100_000;

const NO_API_KEY =
  "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";

function maskKey(key: string) {
  if (key.length <= 12) return "*".repeat(key.length);
  return `${key.slice(0, 8)}${"*".repeat(key.length - 12)}${key.slice(-4)}`;
}

/** Test-mode secret or restricted keys only: the emulator is never live. */
function authenticate(header: string | undefined): StripeApiError | null {
  const noKey = new StripeApiError(401, "invalid_request_error", NO_API_KEY);
  if (!header) return noKey;
  let key = "";
  const bearer = /^Bearer\s+(.*)$/i.exec(header);
  const basic = /^Basic\s+(.*)$/i.exec(header);
  if (bearer) key = bearer[1]!.trim();
  else if (basic) key = Buffer.from(basic[1]!.trim(), "base64").toString("utf8").split(":")[0] ?? "";
  if (!key) return noKey;
  if (!/^(sk|rk)_test_[A-Za-z0-9_]+$/.test(key)) {
    return new StripeApiError(401, "invalid_request_error", `Invalid API Key provided: ${maskKey(key)}`);
  }
  return null;
}

function header(req: http.IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string>) {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

const JSON_HEADERS = { "Content-Type": "application/json", "Cache-Control": "no-cache, no-store" };
const HTML_HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  // No script may run on these pages (form-action is deliberately left open: payment redirects off-site).
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
  "X-Content-Type-Options": "nosniff",
};

function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  send(res, status, typeof value === "string" ? value : JSON.stringify(value), { ...JSON_HEADERS, ...headers });
}

function sendPage(res: http.ServerResponse, page: Page) {
  send(res, page.status, page.html, HTML_HEADERS);
}

/** `{CHECKOUT_SESSION_ID}` in success_url becomes the session's id, as on Stripe. */
function successUrl(record: SessionRecord): string | null {
  return record.session.success_url?.split("{CHECKOUT_SESSION_ID}").join(record.id) ?? null;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? "127.0.0.1";
  const catalog = loadCatalog(options.catalogPath);
  const write = (line: string) => process.stderr.write(`stripe-emulator: ${line}\n`);
  const log = options.quiet ? () => {} : write;
  const verbose = options.verbose && !options.quiet ? write : () => {};
  let origin = "";

  const dispatcher = new WebhookDispatcher({
    retryBaseMs: options.retryBaseMs ?? 1000,
    maxAttempts: options.maxAttempts ?? 5,
    onDelivered: (eventId) => state.markDelivered(eventId),
    log: (line) => (/-> 2\d\d$/.test(line) ? verbose(line) : log(line)),
  });
  const state = new EmulatorState(catalog, dispatcher, () => origin);
  if (options.webhookUrl && options.webhookSecret) {
    dispatcher.endpoint = { url: options.webhookUrl, secret: options.webhookSecret };
  } else if (options.webhookUrl) {
    log("a webhook URL was given without a secret: webhooks are off until POST /_emulator/webhook sets both");
  }

  const rt: Runtime = {
    state,
    dispatcher,
    api: new Api(state),
    idempotency: new IdempotencyStore(),
    requestLog: [],
    faults: [],
    hung: new Set(),
    webhookSecret: options.webhookSecret ?? null,
    reset() {
      state.reset();
      dispatcher.reset();
      rt.idempotency.clear();
      rt.requestLog = [];
      rt.faults.length = 0;
      for (const res of rt.hung) res.socket?.destroy();
      rt.hung.clear();
    },
    log,
    verbose,
  };

  async function handleApi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    rawBody: string,
    requestId: string,
  ) {
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname;
    const stripeVersion = header(req, "stripe-version");
    const idempotencyKey = header(req, "idempotency-key");
    const headers: Record<string, string> = { "Stripe-Version": stripeVersion ?? API_VERSION };
    const query = parseForm(url.search.slice(1));
    let body: Params = Object.create(null) as Params;
    let badJson = false;
    if (rawBody) {
      if ((header(req, "content-type") ?? "").includes("application/json")) {
        try {
          body = normalizeJson(JSON.parse(rawBody)) as Params;
          if (typeof body !== "object" || Array.isArray(body)) badJson = true;
        } catch {
          badJson = true;
        }
      } else {
        body = parseForm(rawBody);
      }
    }
    rt.requestLog.push({
      method,
      path,
      query: toPlain(query) as Record<string, unknown>,
      params: badJson ? {} : (toPlain(body) as Record<string, unknown>),
      idempotencyKey,
      stripeVersion,
      at: Date.now(),
    });
    if (rt.requestLog.length > MAX_REQUEST_LOG)
      rt.requestLog.splice(0, rt.requestLog.length - MAX_REQUEST_LOG + 10_000);

    // Injected faults come first: they stand for failures before Stripe's code runs.
    const faultIndex = rt.faults.findIndex(
      (f) => (f.method === null || f.method === method) && (f.pathPrefix === null || path.startsWith(f.pathPrefix)),
    );
    if (faultIndex !== -1) {
      const fault = rt.faults[faultIndex]!;
      if (fault.remaining !== null && --fault.remaining <= 0) rt.faults.splice(faultIndex, 1);
      verbose(`${method} ${path} -> fault ${fault.hang ? "hang" : fault.status}`);
      if (fault.hang) {
        rt.hung.add(res);
        res.on("close", () => rt.hung.delete(res));
        return;
      }
      const error = apiError(fault.status, "Simulated failure injected by the Stripe emulator's control API.");
      return sendJson(res, fault.status, error.body(), headers);
    }

    const authError = authenticate(header(req, "authorization") ?? undefined);
    if (authError)
      return sendJson(res, 401, authError.body(), { ...headers, "WWW-Authenticate": 'Bearer realm="Stripe"' });
    if (badJson)
      return sendJson(
        res,
        400,
        { error: { message: "Invalid JSON in the request body.", type: "invalid_request_error" } },
        headers,
      );

    const params = method === "POST" ? body : query;
    const keyed = method === "POST" && idempotencyKey !== null && idempotencyKey !== "";
    let fingerprint = "";
    if (keyed) {
      headers["Idempotency-Key"] = idempotencyKey;
      if (idempotencyKey.length > 255) {
        const error = new StripeApiError(
          400,
          "invalid_request_error",
          "Idempotency-Key must be at most 255 characters long.",
          {
            param: "Idempotency-Key",
          },
        );
        return sendJson(res, 400, error.body(), headers);
      }
      fingerprint = canonical(toPlain(params));
      const saved = rt.idempotency.get(idempotencyKey);
      if (saved) {
        if (saved.method !== method || saved.path !== path) {
          const error = new StripeApiError(
            400,
            "idempotency_error",
            `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${saved.method} ${saved.path}' vs '${method} ${path}'). Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
          return sendJson(res, 400, error.body(), headers);
        }
        if (saved.fingerprint !== fingerprint) {
          const error = new StripeApiError(
            400,
            "idempotency_error",
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
          return sendJson(res, 400, error.body(), headers);
        }
        verbose(`${method} ${path} -> ${saved.status} (idempotent replay)`);
        return sendJson(res, saved.status, saved.body, {
          ...headers,
          "Idempotent-Replayed": "true",
          "Original-Request": saved.requestId,
        });
      }
    }

    let status: number;
    let text: string;
    try {
      const result = rt.api.handle(method, path, params, {
        id: requestId,
        idempotency_key: keyed ? idempotencyKey : null,
      });
      status = result.status;
      text = JSON.stringify(result.body);
    } catch (error) {
      const stripeError = error instanceof StripeApiError ? error : apiError(500);
      if (!(error instanceof StripeApiError))
        log(`internal error on ${method} ${path}: ${(error as Error).stack ?? String(error)}`);
      status = stripeError.status;
      text = JSON.stringify(stripeError.body());
    }
    // Saved once the endpoint ran: successes and server errors, not rejected parameters.
    if (keyed && (status < 400 || status >= 500)) {
      rt.idempotency.set(idempotencyKey, { method, path, fingerprint, status, body: text, requestId, at: Date.now() });
    }
    verbose(`${method} ${path} -> ${status}`);
    sendJson(res, status, text, headers);
  }

  function handleCheckoutPage(req: http.IncomingMessage, res: http.ServerResponse, id: string, rawBody: string) {
    const record = state.getSession(id);
    if (!record) return sendPage(res, notFoundPage(`No such checkout session: ${id}`));
    if (record.session.status !== "open") {
      if (req.method === "POST" && record.asyncState === "pending") {
        const action = parseForm(rawBody).action;
        if (action === "async_succeed") state.asyncSucceed(record, null);
        else if (action === "async_fail") state.asyncFail(record, null);
      }
      return sendPage(res, closedPage(record, successUrl(record)));
    }
    if (req.method === "GET" || req.method === "HEAD")
      return sendPage(res, checkoutPage(record, state.defaultEmail(record)));
    if (req.method !== "POST") return sendPage(res, { ...notFoundPage("Use GET or POST."), status: 405 });

    const form = parseForm(rawBody);
    const field = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : "");
    const action = field("action");
    const email = field("email").trim();
    const details: PayDetails = {
      promotionCode: field("promotion_code"),
      shippingRate: field("shipping_rate") || undefined,
      shipping: record.options.allowedCountries
        ? {
            name: field("shipping_name"),
            line1: field("shipping_line1"),
            line2: field("shipping_line2"),
            city: field("shipping_city"),
            postalCode: field("shipping_postal_code"),
            country: field("shipping_country"),
          }
        : undefined,
      phone: field("phone"),
      termsAccepted: field("terms") === "accepted",
    };
    const again = (status: number, message: string | null) =>
      sendPage(
        res,
        checkoutPage(record, email || state.defaultEmail(record), message ? { status, message } : null, details),
      );
    if (action === "apply") {
      // Shows the totals with the promotion code and shipping rate entered; nothing changes.
      try {
        totalsFor(record.session, record.lineItems, record.options, details, { requireAll: false });
        return again(200, null);
      } catch (error: unknown) {
        if (error instanceof StripeApiError) return again(400, error.message);
        throw error;
      }
    }
    if (action !== "card" && action !== "declined" && action !== "delayed") {
      return again(400, "Choose how to pay.");
    }
    if (!isEmail(email)) {
      return sendPage(
        res,
        checkoutPage(record, email, { status: 400, message: "Enter a valid email address." }, details),
      );
    }
    if (action === "declined") {
      state.decline(record);
      return sendPage(res, checkoutPage(record, email, { status: 402, message: DECLINED_MESSAGE }, details));
    }
    try {
      state.pay(record, action === "card" ? "card" : "delayed", email, null, null, details);
    } catch (error: unknown) {
      if (error instanceof StripeApiError && error.status === 400) return again(400, error.message);
      throw error;
    }
    const target = successUrl(record) ?? `/c/pay/${record.id}`;
    send(res, 303, "", { Location: target, "Cache-Control": "no-store" });
  }

  function handlePortalPage(req: http.IncomingMessage, res: http.ServerResponse, id: string, rawBody: string) {
    const portal = state.portalSessions.get(id);
    if (!portal) return sendPage(res, { ...notFoundPage(`No such billing portal session: ${id}`) });
    const customer = state.customers.get(portal.customer);
    const own = () => state.subscriptions.all().filter((s) => s.customer === portal.customer);
    if (req.method === "POST") {
      const form = parseForm(rawBody);
      const subscription = own().find((s) => s.id === form.subscription);
      const action = form.action;
      let notice: string;
      let status = 200;
      if (!subscription || (action !== "cancel_now" && action !== "cancel_at_period_end")) {
        notice = "Choose a subscription of this customer and how to cancel it.";
        status = 400;
      } else if (subscription.status === "canceled" || subscription.status === "incomplete_expired") {
        notice = `Subscription ${subscription.id} has already ended.`;
        status = 400;
      } else if (action === "cancel_now") {
        // customer.subscription.deleted, as Stripe sends for an immediate cancel.
        state.cancelSubscription(subscription, null);
        notice = `Subscription ${subscription.id} is canceled.`;
      } else {
        // customer.subscription.updated with cancel_at_period_end, Stripe's portal default.
        state.updateSubscription(subscription, { cancelAtPeriodEnd: true }, null);
        notice = `Subscription ${subscription.id} cancels at the end of the period.`;
      }
      const page = portalPage(portal, customer?.email ?? null, own(), notice);
      return sendPage(res, { ...page, status });
    }
    sendPage(res, portalPage(portal, customer?.email ?? null, own()));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const requestId = newId.request();
    res.setHeader("Request-Id", requestId);
    const url = new URL(req.url ?? "/", "http://emulator.invalid");
    const path = url.pathname;
    const rawBody = await readBody(req);
    if (rawBody === null) {
      return sendJson(res, 413, {
        error: { type: "invalid_request_error", message: "The request body is too large." },
      });
    }
    if (path === "/v1" || path.startsWith("/v1/")) return handleApi(req, res, url, rawBody, requestId);
    if (path.startsWith("/_emulator/")) {
      let body: Record<string, unknown> = {};
      if (rawBody.trim()) {
        try {
          const parsed: unknown = JSON.parse(rawBody);
          if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error();
          body = parsed as Record<string, unknown>;
        } catch {
          return sendJson(res, 400, {
            error: { type: "invalid_request_error", message: "The body must be a JSON object." },
          });
        }
      }
      const result = await handleControl(rt, (req.method ?? "GET").toUpperCase(), path, url.searchParams, body);
      return sendJson(res, result.status, result.body);
    }
    if (path === "/dashboard" || path.startsWith("/dashboard/")) {
      const answer = dashboard(state, (req.method ?? "GET").toUpperCase(), path, url.searchParams, rawBody);
      if (answer.location) return send(res, 303, "", { Location: answer.location, "Cache-Control": "no-store" });
      return sendPage(res, answer);
    }
    const pay = /^\/c\/pay\/([^/]+)\/?$/.exec(path);
    if (pay) return handleCheckoutPage(req, res, decodeURIComponent(pay[1]!), rawBody);
    const portal = /^\/p\/session\/([^/]+)\/?$/.exec(path);
    if (portal && (req.method === "GET" || req.method === "HEAD" || req.method === "POST"))
      return handlePortalPage(req, res, decodeURIComponent(portal[1]!), rawBody);
    if (path === "/" || path === "/_emulator") {
      return sendJson(res, 200, {
        name: "stripe-emulator",
        api_version: API_VERSION,
        readme: "stripe-emulator/README.md",
        dashboard: `${origin}/dashboard`,
      });
    }
    sendJson(res, 404, { error: { type: "invalid_request_error", message: `Not found: ${req.method} ${path}` } });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`internal error: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) sendJson(res, 500, apiError(500).body());
      else res.destroy();
    });
  });
  // Longer than clients keep idle sockets, so that a reused socket is rarely closed under them.
  server.keepAliveTimeout = 30_000;

  const port = options.port ?? 12111;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost =
    host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  origin = `http://${urlHost}:${address.port}`;
  if (dispatcher.endpoint) log(`webhooks go to ${dispatcher.endpoint.url}`);

  let closing: Promise<void> | null = null;
  return {
    url: origin,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        state.close();
        dispatcher.close();
        for (const res of rt.hung) res.socket?.destroy();
        rt.hung.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
