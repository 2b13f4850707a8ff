import { invalid, noSuch, StripeApiError, unknownParam } from "./errors";
import { lifecycleRoute } from "./lifecycle-api";
import { createdFilter, paginate, parseLimit, type ListObject } from "./lists";
import { snapshot, type LineItem } from "./objects";
import { asArray, expandList, type Params } from "./params";
import { optBoolean, optString, type EmulatorState, type RequestContext } from "./state";

/**
 * The /v1 REST routes: Stripe's paths, parameters, list shapes, `expand`
 * and errors. Returns the status and JSON body; the HTTP layer adds headers,
 * authentication, idempotency and fault injection.
 */

export type ApiResult = { status: number; body: unknown };

type Json = Record<string, unknown>;

// What `expand` may replace, per object type (ids become objects).
const EXPANDABLE: Record<string, ReadonlySet<string>> = {
  "checkout.session": new Set([
    "customer",
    "payment_intent",
    "subscription",
    "invoice",
    "setup_intent",
    "payment_link",
    "line_items",
  ]),
  item: new Set(["price"]),
  price: new Set(["product"]),
  product: new Set(["default_price"]),
  plan: new Set(["product"]),
  subscription: new Set([
    "customer",
    "latest_invoice",
    "default_payment_method",
    "default_source",
    "pending_setup_intent",
    "schedule",
    "test_clock",
  ]),
  subscription_item: new Set(["price"]),
  payment_intent: new Set(["customer", "latest_charge", "payment_method", "application", "on_behalf_of", "review"]),
  charge: new Set(["balance_transaction", "customer", "payment_intent", "failure_balance_transaction", "review"]),
  refund: new Set(["balance_transaction", "charge", "customer", "failure_balance_transaction", "payment_intent"]),
  dispute: new Set(["charge", "payment_intent"]),
  invoice: new Set(["customer", "default_payment_method", "latest_revision", "on_behalf_of", "test_clock"]),
  invoice_payment: new Set(["invoice"]),
  customer: new Set(["default_source", "test_clock"]),
  "billing_portal.session": new Set(["configuration"]),
};

function allowOnly(params: Params, allowed: readonly string[]) {
  for (const key of Object.keys(params)) if (!allowed.includes(key)) throw unknownParam(key);
}

const PAGINATION = ["limit", "starting_after", "ending_before", "expand"] as const;

export class Api {
  constructor(private readonly state: EmulatorState) {}

  handle(method: string, path: string, params: Params, request: RequestContext): ApiResult {
    const parts = path
      .split("/")
      .slice(2) // ["", "v1", ...]
      .map((part) => {
        try {
          return decodeURIComponent(part);
        } catch {
          return part;
        }
      });
    const [resource, a, b, c] = parts;
    const unrecognized = () =>
      new StripeApiError(
        404,
        "invalid_request_error",
        `Unrecognized request URL (${method}: ${path}).${
          path.endsWith("/")
            ? " If you are trying to list objects, remove the trailing slash. If you are trying to retrieve an object, make sure you passed a valid (non-empty) identifier in your code."
            : ""
        } Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      );
    const route = `${method} ${resource ?? ""}`;
    const expand = expandList(params);
    const ok = (body: Json | ListObject<unknown>, status = 200): ApiResult => ({
      status,
      body: this.expand(body, expand),
    });

    if (parts.some((p) => p === "")) throw unrecognized();

    if (resource === "checkout" && a === "sessions") {
      if (b === undefined) {
        if (method === "POST") return ok(this.state.createSession(params, request).session);
        if (method === "GET") return ok(this.listSessions(params));
      } else if (c === undefined && method === "GET") {
        allowOnly(params, ["expand"]);
        return ok(this.session(b).session);
      } else if (c === "line_items" && method === "GET" && parts.length === 4) {
        allowOnly(params, [...PAGINATION]);
        return ok(this.lineItemList(this.session(b).lineItems, b, params));
      } else if (c === "expire" && method === "POST" && parts.length === 4) {
        allowOnly(params, ["expand"]);
        return ok(this.state.expire(this.session(b), request).session);
      }
      throw unrecognized();
    }
    const afterPayment = lifecycleRoute(this.state, method, parts, params, request);
    if (afterPayment) return ok(afterPayment as Json);
    if (parts.length > 2) throw unrecognized();

    switch (route) {
      case "GET prices": {
        if (a !== undefined) {
          allowOnly(params, ["expand"]);
          const price = this.state.catalog.price(a);
          if (!price) throw noSuch("price", a, "price");
          return ok(price);
        }
        allowOnly(params, [
          ...PAGINATION,
          "active",
          "currency",
          "product",
          "type",
          "lookup_keys",
          "created",
          "recurring",
        ]);
        const active = optBoolean(params, "active");
        const product = optString(params, "product");
        const type = optString(params, "type");
        const currency = optString(params, "currency");
        const created = createdFilter(params);
        const prices = this.state.catalog.prices;
        return ok(
          paginate(prices, params, {
            url: "/v1/prices",
            kind: "price",
            positionOf: (id) => {
              const i = prices.findIndex((p) => p.id === id);
              return i === -1 ? undefined : i;
            },
            filter: (p) =>
              (active === null || p.active === active) &&
              (product === null || p.product === product) &&
              (type === null || p.type === type) &&
              (currency === null || p.currency === currency) &&
              (!created || created(p.created as number)),
          }),
        );
      }
      case "GET products": {
        if (a !== undefined) {
          allowOnly(params, ["expand"]);
          const product = this.state.catalog.product(a);
          if (!product) throw noSuch("product", a, "id");
          return ok(product);
        }
        allowOnly(params, [...PAGINATION, "active", "ids", "created", "shippable", "url"]);
        const active = optBoolean(params, "active");
        const ids = asArray(params.ids)?.filter((v): v is string => typeof v === "string");
        const products = this.state.catalog.products;
        return ok(
          paginate(products, params, {
            url: "/v1/products",
            kind: "product",
            positionOf: (id) => {
              const i = products.findIndex((p) => p.id === id);
              return i === -1 ? undefined : i;
            },
            filter: (p) => (active === null || p.active === active) && (!ids || ids.includes(p.id)),
          }),
        );
      }
      case "POST customers": {
        if (a !== undefined) throw unrecognized();
        return ok(this.state.createCustomer(params));
      }
      case "GET customers": {
        if (a !== undefined) {
          allowOnly(params, ["expand"]);
          const customer = this.state.customers.get(a);
          if (!customer) throw noSuch("customer", a, "id");
          return ok(customer);
        }
        allowOnly(params, [...PAGINATION, "email", "created", "test_clock"]);
        const email = optString(params, "email");
        const created = createdFilter(params);
        return ok(
          paginate(this.state.customers.all(), params, {
            url: "/v1/customers",
            kind: "customer",
            positionOf: (id) => this.state.customers.position(id),
            filter: (cu) => (email === null || cu.email === email) && (!created || created(cu.created)),
          }),
        );
      }
      case "POST billing_portal": {
        if (a !== "sessions" || parts.length !== 2) throw unrecognized();
        return ok(this.state.createPortalSession(params));
      }
      case "GET events": {
        if (a !== undefined) {
          allowOnly(params, ["expand"]);
          const stored = this.state.events.get(a);
          if (!stored) throw noSuch("event", a, "id");
          return ok(stored.event);
        }
        return ok(this.listEvents(params));
      }
      case "GET subscriptions": {
        if (a !== undefined) {
          allowOnly(params, ["expand"]);
          return ok(this.subscription(a));
        }
        allowOnly(params, [...PAGINATION, "customer", "status", "price", "created"]);
        const customer = optString(params, "customer");
        const status = optString(params, "status");
        const price = optString(params, "price");
        const created = createdFilter(params);
        return ok(
          paginate(this.state.subscriptions.all(), params, {
            url: "/v1/subscriptions",
            kind: "subscription",
            positionOf: (id) => this.state.subscriptions.position(id),
            filter: (s) =>
              (customer === null || s.customer === customer) &&
              // Stripe lists every status but `canceled` unless asked.
              (status === null ? s.status !== "canceled" : status === "all" || s.status === status) &&
              (price === null ||
                (s.items as { data: Array<{ price: { id: string } }> }).data.some((item) => item.price.id === price)) &&
              (!created || created(s.created)),
          }),
        );
      }
      case "DELETE subscriptions": {
        if (a === undefined) throw unrecognized();
        allowOnly(params, ["expand", "invoice_now", "prorate", "cancellation_details"]);
        return ok(this.state.cancelSubscription(this.subscription(a), request));
      }
      case "GET payment_intents": {
        if (a === undefined) throw unrecognized();
        allowOnly(params, ["expand", "client_secret"]);
        const intent = this.state.paymentIntents.get(a);
        if (!intent) throw noSuch("payment_intent", a, "intent");
        return ok(intent);
      }
    }
    throw unrecognized();
  }

  private session(id: string) {
    const record = this.state.getSession(id);
    if (!record) throw noSuch("checkout.session", id, "session");
    return record;
  }

  private subscription(id: string) {
    const subscription = this.state.subscriptions.get(id);
    if (!subscription) throw noSuch("subscription", id, "subscription_exposed_id");
    return subscription;
  }

  private listSessions(params: Params) {
    allowOnly(params, [
      ...PAGINATION,
      "customer",
      "customer_details",
      "created",
      "payment_intent",
      "payment_link",
      "status",
      "subscription",
      "customer_account",
    ]);
    const customer = optString(params, "customer");
    const status = optString(params, "status");
    if (status !== null && status !== "open" && status !== "complete" && status !== "expired") {
      throw invalid("Invalid status: must be one of complete, expired, or open", "status");
    }
    const paymentIntent = optString(params, "payment_intent");
    const subscription = optString(params, "subscription");
    const created = createdFilter(params);
    const details = params.customer_details;
    const email =
      typeof details === "object" && !Array.isArray(details) && typeof details.email === "string"
        ? details.email
        : null;
    const state = this.state;
    return paginate(state.sessions.all(), params, {
      url: "/v1/checkout/sessions",
      kind: "checkout.session",
      positionOf: (id) => state.sessions.position(id),
      filter: (record) => {
        const s = state.touch(record).session;
        return (
          (customer === null || s.customer === customer) &&
          (status === null || s.status === status) &&
          (paymentIntent === null || s.payment_intent === paymentIntent) &&
          (subscription === null || s.subscription === subscription) &&
          (email === null || s.customer_details?.email === email) &&
          (!created || created(s.created))
        );
      },
      render: (record) => record.session,
    });
  }

  /** Line items keep their order (first item first). */
  private lineItemList(items: readonly LineItem[], sessionId: string, params: Params): ListObject<LineItem> {
    const limit = parseLimit(params);
    const after = optString(params, "starting_after");
    const before = optString(params, "ending_before");
    let start = 0;
    let end = items.length;
    if (after) {
      const i = items.findIndex((item) => item.id === after);
      if (i === -1) throw invalid(`No such line item: '${after}'`, "starting_after", "resource_missing");
      start = i + 1;
    }
    if (before) {
      const i = items.findIndex((item) => item.id === before);
      if (i === -1) throw invalid(`No such line item: '${before}'`, "ending_before", "resource_missing");
      end = i;
      start = Math.max(0, end - limit);
    }
    const data = items.slice(start, Math.min(end, start + limit));
    const hasMore = before ? start > 0 : start + limit < end;
    return { object: "list", data, has_more: hasMore, url: `/v1/checkout/sessions/${sessionId}/line_items` };
  }

  private listEvents(params: Params) {
    allowOnly(params, [...PAGINATION, "type", "types", "created", "delivery_success"]);
    const type = optString(params, "type");
    const types = asArray(params.types)?.filter((v): v is string => typeof v === "string");
    if (type && types && types.length > 0)
      throw invalid("You may only specify one of these parameters: type, types.", "types");
    if (types && types.length > 20) throw invalid("You can pass at most 20 types.", "types");
    let match: ((t: string) => boolean) | null = null;
    if (type) {
      if (type.includes("*")) {
        const re = new RegExp(
          `^${type
            .split("*")
            .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
            .join(".*")}$`,
        );
        match = (t) => re.test(t);
      } else {
        match = (t) => t === type;
      }
    } else if (types && types.length > 0) {
      const set = new Set(types);
      match = (t) => set.has(t);
    }
    const created = createdFilter(params);
    const deliverySuccess = optBoolean(params, "delivery_success");
    return paginate(this.state.events.all(), params, {
      url: "/v1/events",
      kind: "event",
      positionOf: (id) => this.state.events.position(id),
      filter: ({ event }) =>
        (!match || match(event.type)) &&
        (!created || created(event.created)) &&
        (deliverySuccess === null || (event.pending_webhooks === 0) === deliverySuccess),
      render: ({ event }) => event,
    });
  }

  /** Applies `expand` paths to a copy of the response. */
  expand(body: Json | ListObject<unknown>, paths: string[]): unknown {
    if (paths.length === 0) return body;
    const copy = snapshot(body) as Json;
    for (const path of paths) {
      const segments = path.split(".");
      if (segments.length > 4) {
        throw invalid(`You cannot expand more than 4 levels of a property. Property: ${path}`, "expand");
      }
      this.expandAt(copy, segments, path);
    }
    return copy;
  }

  private expandAt(target: Json, segments: string[], path: string) {
    const [segment, ...rest] = segments;
    if (segment === undefined) return;
    const cannot = () => invalid(`This property cannot be expanded (${path}).`, "expand");
    if (target.object === "list" && segment === "data") {
      for (const item of target.data as Json[]) if (item && typeof item === "object") this.expandAt(item, rest, path);
      return;
    }
    if (segment === "line_items" && target.object === "checkout.session") {
      if (!target.line_items) {
        const record = this.state.sessions.get(target.id as string);
        target.line_items = snapshot(
          this.lineItemList(record?.lineItems ?? [], target.id as string, Object.create(null) as Params),
        );
      }
      if (rest.length > 0) this.expandAt(target.line_items as Json, rest, path);
      return;
    }
    if (!(segment in target)) {
      // `refunds` on a charge, `payments` on an invoice: left out unless expanded.
      const included = this.state.lifecycle.include(target, segment);
      if (!included) throw cannot();
      target[segment] = snapshot(included);
      if (rest.length > 0) this.expandAt(target[segment] as Json, rest, path);
      return;
    }
    let value = target[segment];
    const expandable = EXPANDABLE[target.object as string]?.has(segment) ?? false;
    if (typeof value === "string") {
      if (!expandable) throw cannot();
      const resolved = this.state.resolve(value);
      if (resolved) {
        value = snapshot(resolved);
        target[segment] = value;
      }
    } else if (value === null) {
      if (!expandable) throw cannot();
      return;
    } else if (typeof value !== "object" || (rest.length === 0 && !expandable)) {
      throw cannot();
    }
    if (rest.length > 0 && value && typeof value === "object") this.expandAt(value as Json, rest, path);
  }
}
