import { defaultDetails, type PayDetails } from "./checkout-options";
import { StripeApiError } from "./errors";
import { lifecycleControl } from "./lifecycle-control";
import type { Runtime } from "./runtime";
import { SUBSCRIPTION_STATUSES } from "./state";
import type { DeliverySettings } from "./webhooks";

/**
 * The control API for tests, under /_emulator/ (no auth, JSON in and out).
 * See README.md for every route.
 */

export type ControlResult = { status: number; body: unknown };

type Body = Record<string, unknown>;

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string) => new ControlError(400, message);
const notFound = (message: string) => new ControlError(404, message);

function errorBody(status: number, message: string) {
  return { error: { type: status >= 500 ? "api_error" : "invalid_request_error", message } };
}

function optionalNumber(body: Body, key: string, { min = 0, integer = true } = {}): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min) {
    throw bad(`\`${key}\` must be ${integer ? "an integer" : "a number"} >= ${min}`);
  }
  return value;
}

function optionalBoolean(body: Body, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw bad(`\`${key}\` must be true or false`);
  return value;
}

function optionalString(body: Body, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw bad(`\`${key}\` must be a string`);
  return value;
}

/** What the hosted page would collect: promotion_code, shipping_rate, shipping {name, address}, phone, terms_accepted. */
function payDetails(body: Body): PayDetails {
  const details: PayDetails = {
    promotionCode: optionalString(body, "promotion_code"),
    shippingRate: optionalString(body, "shipping_rate"),
    phone: optionalString(body, "phone"),
    termsAccepted: optionalBoolean(body, "terms_accepted"),
  };
  const shipping = body.shipping;
  if (shipping !== undefined && shipping !== null) {
    if (typeof shipping !== "object")
      throw bad("`shipping` must be { name, address: { line1, city, postal_code, country } }");
    const s = shipping as Body;
    const address = (typeof s.address === "object" && s.address !== null ? s.address : {}) as Body;
    details.shipping = {
      name: optionalString(s, "name") ?? "",
      line1: optionalString(address, "line1") ?? "",
      line2: optionalString(address, "line2"),
      city: optionalString(address, "city") ?? "",
      postalCode: optionalString(address, "postal_code") ?? "",
      country: optionalString(address, "country") ?? "",
    };
  }
  return details;
}

export async function handleControl(
  rt: Runtime,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Body,
): Promise<ControlResult> {
  try {
    return await route(rt, method, path, query, body);
  } catch (error) {
    if (error instanceof ControlError) return { status: error.status, body: errorBody(error.status, error.message) };
    if (error instanceof StripeApiError) return { status: error.status, body: error.body() };
    throw error;
  }
}

async function route(
  rt: Runtime,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Body,
): Promise<ControlResult> {
  const parts = path.split("/").filter(Boolean).slice(1); // drop "_emulator"
  const key = `${method} ${parts.join("/")}`;
  const ok = (value: unknown = { ok: true }) => ({ status: 200, body: value });
  const { state, dispatcher } = rt;

  switch (key) {
    case "GET health":
      return ok({ ok: true, sessions: state.sessions.size, events: state.events.size });
    case "POST reset":
      rt.reset();
      return ok();
    case "GET requests":
      return ok(rt.requestLog);
    case "GET webhook":
      return ok({ url: dispatcher.endpoint?.url ?? null, secretSet: rt.webhookSecret !== null });
    case "POST webhook": {
      if (body.url === null) {
        dispatcher.endpoint = null;
        return ok({ url: null });
      }
      const url = optionalString(body, "url");
      if (url === undefined) throw bad("`url` is required (a string, or null to remove the endpoint)");
      try {
        const parsed = new URL(url);
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
      } catch {
        throw bad(`\`url\` must be an absolute http(s) URL: ${url}`);
      }
      const secret = optionalString(body, "secret") ?? rt.webhookSecret;
      if (!secret) throw bad("`secret` is required: the webhook signing secret (whsec_...)");
      rt.webhookSecret = secret;
      dispatcher.endpoint = { url, secret };
      return ok({ url });
    }
    case "GET delivery":
      return ok(dispatcher.settings);
    case "POST delivery": {
      const next: DeliverySettings = { ...dispatcher.settings };
      if (body.mode !== undefined) {
        if (body.mode !== "normal" && body.mode !== "drop" && body.mode !== "hold")
          throw bad("`mode` must be normal, drop or hold");
        next.mode = body.mode;
      }
      if (body.order !== undefined) {
        if (body.order !== "normal" && body.order !== "reverse") throw bad("`order` must be normal or reverse");
        next.order = body.order;
      }
      const delayMs = optionalNumber(body, "delayMs", { integer: false });
      if (delayMs !== undefined) next.delayMs = delayMs;
      const duplicate = optionalBoolean(body, "duplicate");
      if (duplicate !== undefined) next.duplicate = duplicate;
      dispatcher.settings = next;
      return ok(next);
    }
    case "GET deliveries":
      return ok(dispatcher.log);
    case "GET deliveries/wait": {
      const count = Number(query.get("count") ?? "1");
      const timeoutMs = Number(query.get("timeoutMs") ?? "5000");
      if (!Number.isInteger(count) || count < 0) throw bad("`count` must be an integer >= 0");
      if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw bad("`timeoutMs` must be a number >= 0");
      const reached = await dispatcher.wait(count, Math.min(timeoutMs, 600_000));
      if (reached) return ok(dispatcher.log);
      const succeeded = dispatcher.log.filter((d) => d.status >= 200 && d.status < 300).length;
      return {
        status: 408,
        body: {
          ...errorBody(
            408,
            `Timed out after ${timeoutMs} ms waiting for ${count} successful deliveries (${succeeded} so far)`,
          ),
          deliveries: dispatcher.log,
        },
      };
    }
    case "POST deliveries/release":
      return ok({ released: dispatcher.release() });
    case "POST deliveries/redeliver": {
      const eventId = optionalString(body, "eventId");
      if (!eventId) throw bad("`eventId` is required");
      const stored = state.events.get(eventId);
      if (!stored) throw notFound(`No such event: '${eventId}'`);
      if (!dispatcher.endpoint) throw bad("No webhook endpoint is configured");
      dispatcher.redeliver({ id: stored.id, type: stored.event.type, body: stored.body });
      return ok();
    }
    case "GET faults":
      return ok(rt.faults);
    case "POST faults": {
      const status = optionalNumber(body, "status", { min: 100 }) ?? 500;
      if (status > 599) throw bad("`status` must be an HTTP status");
      const count = optionalNumber(body, "count", { min: 1 });
      const method = optionalString(body, "method")?.toUpperCase() ?? null;
      const pathPrefix = optionalString(body, "pathPrefix") ?? null;
      rt.faults.push({
        method,
        pathPrefix,
        status,
        hang: optionalBoolean(body, "hang") ?? false,
        remaining: count ?? null,
      });
      return ok(rt.faults);
    }
    case "DELETE faults":
      rt.faults.length = 0;
      return ok();
  }

  if (method === "POST" && parts[0] === "sessions" && parts.length === 3) {
    const id = parts[1]!;
    const record = state.getSession(id);
    if (!record) throw notFound(`No such checkout.session: '${id}'`);
    switch (parts[2]) {
      case "pay": {
        const payMethod = optionalString(body, "method") ?? "card";
        if (payMethod !== "card" && payMethod !== "delayed") throw bad("`method` must be card or delayed");
        const email = optionalString(body, "email") ?? state.defaultEmail(record);
        const name = optionalString(body, "name") ?? null;
        const details = defaultDetails(record.options, payDetails(body));
        return ok(state.pay(record, payMethod, email, name, null, details).session);
      }
      case "decline":
        return ok(state.decline(record).session);
      case "async_succeed":
        return ok(state.asyncSucceed(record, null).session);
      case "async_fail":
        return ok(state.asyncFail(record, null).session);
      case "expire":
        return ok(state.expire(record, null).session);
      case "expires_at": {
        const inMs =
          optionalNumber(body, "in_ms", { integer: false }) ?? optionalNumber(body, "inMs", { integer: false });
        const expiresAt = optionalNumber(body, "expires_at") ?? optionalNumber(body, "expiresAt");
        if (inMs === undefined && expiresAt === undefined)
          throw bad("Give `expires_at` (unix seconds) or `in_ms` (milliseconds from now)");
        return ok(state.setExpiry(record, { inMs, expiresAt }).session);
      }
    }
  }

  if (method === "POST" && parts[0] === "subscriptions" && parts.length === 3) {
    const id = parts[1]!;
    const subscription = state.subscriptions.get(id);
    if (!subscription) throw notFound(`No such subscription: '${id}'`);
    if (parts[2] === "cancel") return ok(state.cancelSubscription(subscription, null));
    if (parts[2] === "update") {
      const status = optionalString(body, "status");
      if (status !== undefined && !SUBSCRIPTION_STATUSES.has(status)) {
        throw bad(`\`status\` must be one of ${[...SUBSCRIPTION_STATUSES].join(", ")}`);
      }
      const cancelAtPeriodEnd = optionalBoolean(body, "cancel_at_period_end");
      let metadata: Record<string, string> | undefined;
      if (body.metadata !== undefined) {
        if (typeof body.metadata !== "object" || body.metadata === null)
          throw bad("`metadata` must be an object of strings");
        metadata = Object.fromEntries(Object.entries(body.metadata).map(([k, v]) => [k, String(v)]));
      }
      return ok(state.updateSubscription(subscription, { status, cancelAtPeriodEnd, metadata }, null));
    }
  }

  const afterPayment = lifecycleControl(state, method, parts, body);
  if (afterPayment) return afterPayment;

  throw notFound(`Unknown control route: ${method} /_emulator/${parts.join("/")}`);
}
