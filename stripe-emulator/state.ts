import type { Catalog, PriceObject } from "./catalog";
import {
  applyTotals,
  openSessionFields,
  type PayDetails,
  parseSessionOptions,
  type SessionOptions,
  SHIPPING_RATES,
  shippingRateObject,
  totalsFor,
} from "./checkout-options";
import { invalid, missingParam, noSuchParam, StripeApiError, unknownParam } from "./errors";
import { newId, nowSeconds } from "./ids";
import { Lifecycle } from "./lifecycle";
import { Collection } from "./lists";
import {
  buildCheckoutSession,
  buildCustomer,
  buildCustomerDetails,
  buildEvent,
  buildLineItem,
  buildPaymentIntent,
  buildPortalSession,
  buildSubscription,
  snapshot,
  type CheckoutSession,
  type Customer,
  type LineItem,
  type PaymentIntent,
  type PortalSession,
  type StripeEvent,
  type Subscription,
} from "./objects";
import { asArray, isHash, type ParamValue, type Params } from "./params";
import type { WebhookDispatcher } from "./webhooks";

/**
 * Everything the emulator remembers, in memory, and the state changes of
 * Checkout: pay (card or delayed), decline, async success/failure, expiry,
 * subscription cancel/update. Each change records an event and hands it to
 * the webhook dispatcher.
 */

export type RequestContext = { id: string | null; idempotency_key: string | null };
const NO_REQUEST: RequestContext = { id: null, idempotency_key: null };

export type SessionRecord = {
  id: string;
  session: CheckoutSession;
  lineItems: LineItem[];
  expiresAtMs: number;
  paymentMethod: "card" | "delayed" | null;
  asyncState: "pending" | "succeeded" | "failed" | null;
  paymentIntentMetadata: Record<string, string>;
  subscriptionMetadata: Record<string, string>;
  /** Promotion codes, tax, shipping, phone, terms (checkout-options.ts). */
  options: SessionOptions;
};

export type StoredEvent = { id: string; event: StripeEvent; body: string };

// Checkout.SessionCreateParams in the stripe SDK (2026-10-28.endive), plus `expand`.
const SESSION_CREATE_PARAMS = new Set([
  "adaptive_pricing",
  "after_expiration",
  "allow_promotion_codes",
  "allowed_payment_method_types",
  "automatic_tax",
  "billing_address_collection",
  "branding_settings",
  "cancel_url",
  "client_reference_id",
  "consent_collection",
  "currency",
  "custom_fields",
  "custom_text",
  "customer",
  "customer_account",
  "customer_creation",
  "customer_email",
  "customer_update",
  "discounts",
  "excluded_payment_method_types",
  "expand",
  "expires_at",
  "integration_identifier",
  "invoice_creation",
  "line_items",
  "locale",
  "managed_payments",
  "metadata",
  "mode",
  "name_collection",
  "optional_items",
  "origin_context",
  "payment_intent_data",
  "payment_method_collection",
  "payment_method_configuration",
  "payment_method_data",
  "payment_method_options",
  "payment_method_types",
  "permissions",
  "phone_number_collection",
  "redirect_on_completion",
  "return_url",
  "saved_payment_method_options",
  "setup_intent_data",
  "shipping_address_collection",
  "shipping_options",
  "submit_type",
  "subscription_data",
  "success_url",
  "tax_id_collection",
  "ui_mode",
  "wallet_options",
]);
const LINE_ITEM_PARAMS = new Set([
  "adjustable_quantity",
  "dynamic_tax_rates",
  "metadata",
  "price",
  "price_data",
  "quantity",
  "tax_rates",
]);

export const SUBSCRIPTION_STATUSES = new Set([
  "active",
  "canceled",
  "incomplete",
  "incomplete_expired",
  "past_due",
  "paused",
  "trialing",
  "unpaid",
]);

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const isEmail = (value: string) => EMAIL.test(value) && value.length <= 512;

// ---- parameter helpers -------------------------------------------------

export function optString(params: Params, key: string, param = key): string | null {
  const value = params[key];
  if (value === undefined || value === "") return null;
  if (typeof value !== "string") throw invalid(`Invalid ${param}: must be a string`, param, "parameter_invalid_string");
  return value;
}

export function optInteger(params: Params, key: string, param = key): number | null {
  const value = params[key];
  if (value === undefined || value === "") return null;
  if (typeof value !== "string" || !/^-?\d+$/.test(value)) {
    throw invalid(
      `Invalid integer: ${typeof value === "string" ? value : JSON.stringify(value)}`,
      param,
      "parameter_invalid_integer",
    );
  }
  return Number(value);
}

export function optBoolean(params: Params, key: string): boolean | null {
  const value = params[key];
  if (value === undefined || value === "") return null;
  if (value === "true") return true;
  if (value === "false") return false;
  throw invalid(
    `Invalid boolean: ${typeof value === "string" ? value : JSON.stringify(value)}`,
    key,
    "parameter_invalid_boolean",
  );
}

export function parseMetadata(value: ParamValue | undefined, param = "metadata"): Record<string, string> {
  if (value === undefined || value === "") return {};
  if (!isHash(value)) throw invalid(`Invalid object`, param, "parameter_invalid_empty");
  const out: Record<string, string> = {};
  const entries = Object.entries(value);
  if (entries.length > 50) throw invalid("You can specify up to 50 keys in metadata.", param);
  for (const [key, v] of entries) {
    if (key.length > 40) throw invalid("Metadata keys must be at most 40 characters long.", `${param}[${key}]`);
    if (typeof v !== "string") throw invalid("Metadata values must be strings.", `${param}[${key}]`);
    if (v.length > 500) throw invalid("Metadata values can have up to 500 characters.", `${param}[${key}]`);
    if (v !== "") out[key] = v;
  }
  return out;
}

export function checkUrl(value: string | null, param: string): string | null {
  if (value === null) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid("Not a valid URL", param, "url_invalid");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || value.length > 5000) {
    throw invalid("Not a valid URL", param, "url_invalid");
  }
  return value;
}

// ---- expiry queue --------------------------------------------------------

/** A min-heap of (time, session id) and one timer for the earliest. */
class ExpiryQueue {
  private heap: Array<{ at: number; id: string }> = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  constructor(private readonly onDue: (id: string) => void) {}

  push(at: number, id: string) {
    const heap = this.heap;
    heap.push({ at, id });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    if (at < this.timerAt) this.schedule(at);
  }

  private pop() {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && heap[l]!.at < heap[smallest]!.at) smallest = l;
        if (r < heap.length && heap[r]!.at < heap[smallest]!.at) smallest = r;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
        i = smallest;
      }
    }
    return top;
  }

  private schedule(at: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire() {
    this.timer = null;
    this.timerAt = Infinity;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) this.onDue(this.pop().id);
    if (this.heap.length > 0) this.schedule(this.heap[0]!.at);
  }

  clear() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    this.heap = [];
  }
}

// ---- the state -----------------------------------------------------------

export class EmulatorState {
  readonly sessions = new Collection<SessionRecord>();
  readonly customers = new Collection<Customer>();
  readonly subscriptions = new Collection<Subscription>();
  readonly paymentIntents = new Map<string, PaymentIntent>();
  readonly portalSessions = new Map<string, PortalSession>();
  readonly events = new Collection<StoredEvent>();
  /** Charges, refunds, disputes, invoices: what happens after a payment. */
  readonly lifecycle: Lifecycle;
  private readonly expiry = new ExpiryQueue((id) => {
    const record = this.sessions.get(id);
    if (record) this.touch(record);
  });

  constructor(
    readonly catalog: Catalog,
    private readonly dispatcher: WebhookDispatcher,
    private readonly origin: () => string,
  ) {
    this.lifecycle = new Lifecycle(this, origin);
  }

  reset() {
    this.lifecycle.reset();
    this.sessions.clear();
    this.customers.clear();
    this.subscriptions.clear();
    this.paymentIntents.clear();
    this.portalSessions.clear();
    this.events.clear();
    this.expiry.clear();
  }

  close() {
    this.expiry.clear();
  }

  /** Any object by id, for `expand`. */
  resolve(id: string): Record<string, unknown> | undefined {
    if (id.startsWith("cus_")) return this.customers.get(id);
    if (id.startsWith("pi_")) return this.paymentIntents.get(id);
    if (id.startsWith("sub_")) return this.subscriptions.get(id);
    if (id.startsWith("price_")) return this.catalog.price(id);
    if (id.startsWith("prod_")) return this.catalog.product(id);
    if (id.startsWith("cs_")) return this.sessions.get(id)?.session;
    if (id.startsWith("shr_")) {
      const rate = SHIPPING_RATES.find((r) => r.id === id);
      return rate && (shippingRateObject(rate, "usd") as unknown as Record<string, unknown>);
    }
    return this.lifecycle.resolve(id);
  }

  // ---- events ----

  emit(
    type: string,
    object: Record<string, unknown>,
    request: RequestContext | null,
    previousAttributes?: Record<string, unknown>,
  ) {
    const event = buildEvent({
      type,
      object: snapshot(object),
      previousAttributes,
      request: request ?? NO_REQUEST,
      pendingWebhooks: this.dispatcher.endpoint ? 1 : 0,
    });
    const body = JSON.stringify(event, null, 2);
    this.events.add({ id: event.id, event, body });
    this.dispatcher.publish({ id: event.id, type, body });
    return event;
  }

  markDelivered(eventId: string) {
    const stored = this.events.get(eventId);
    if (stored) stored.event.pending_webhooks = 0;
  }

  // ---- checkout sessions ----

  /** Expires an open session whose time has come (called on every access and by the timer). */
  touch(record: SessionRecord) {
    if (record.session.status === "open" && Date.now() >= record.expiresAtMs) this.markExpired(record, null);
    return record;
  }

  getSession(id: string): SessionRecord | undefined {
    const record = this.sessions.get(id);
    return record && this.touch(record);
  }

  createSession(params: Params, _request: RequestContext): SessionRecord {
    for (const key of Object.keys(params)) if (!SESSION_CREATE_PARAMS.has(key)) throw unknownParam(key);

    const mode = optString(params, "mode");
    if (!mode) throw missingParam("mode");
    if (mode === "setup") throw invalid("The Stripe emulator does not support `setup` mode.", "mode");
    if (mode !== "payment" && mode !== "subscription") {
      throw invalid("Invalid mode: must be one of payment, setup, or subscription", "mode");
    }
    const uiMode = optString(params, "ui_mode");
    // `hosted_page` in this API version (`hosted` before it).
    if (uiMode && uiMode !== "hosted_page" && uiMode !== "hosted") {
      throw invalid("The Stripe emulator only emulates the hosted page: `ui_mode=hosted_page`.", "ui_mode");
    }

    // line_items
    if (params.line_items === undefined || params.line_items === "") throw missingParam("line_items");
    const rawItems = asArray(params.line_items);
    if (!rawItems) throw invalid("Invalid array", "line_items");
    if (rawItems.length === 0) throw missingParam("line_items");
    if (rawItems.length > 100) throw invalid("You can only pass up to 100 line items.", "line_items");
    const items: Array<{ price: PriceObject; quantity: number }> = rawItems.map((raw, i) => {
      const p = `line_items[${i}]`;
      if (!isHash(raw)) throw invalid("Invalid object", p);
      for (const key of Object.keys(raw)) if (!LINE_ITEM_PARAMS.has(key)) throw unknownParam(`${p}[${key}]`);
      if (raw.price_data !== undefined) {
        throw invalid(
          "The Stripe emulator only knows the catalog's prices: pass `price`, not `price_data`.",
          `${p}[price_data]`,
        );
      }
      const priceId = optString(raw, "price", `${p}[price]`);
      if (!priceId) throw missingParam(`${p}[price]`);
      const price = this.catalog.price(priceId);
      if (!price) throw noSuchParam("price", priceId, `${p}[price]`);
      if (!price.active)
        throw invalid("The price specified is inactive. This field only accepts active prices.", `${p}[price]`);
      const quantity = optInteger(raw, "quantity", `${p}[quantity]`);
      if (quantity === null) throw missingParam(`${p}[quantity]`);
      if (quantity < 1) throw invalid("This value must be greater than or equal to 1.", `${p}[quantity]`);
      if (quantity > 999_999) throw invalid("This value must be less than or equal to 999999.", `${p}[quantity]`);
      return { price, quantity };
    });
    items.forEach(({ price }, i) => {
      if (mode === "payment" && price.type === "recurring") {
        throw invalid(
          "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
          `line_items[${i}][price]`,
        );
      }
      if (price.currency !== items[0]!.price.currency) {
        throw invalid("All line items of a Checkout Session must have the same currency.", `line_items[${i}][price]`);
      }
    });
    if (mode === "subscription" && !items.some(({ price }) => price.type === "recurring")) {
      throw invalid(
        "You must provide at least one recurring price in `subscription` mode when using prices.",
        "line_items",
      );
    }

    const successUrl = checkUrl(optString(params, "success_url"), "success_url");
    const cancelUrl = checkUrl(optString(params, "cancel_url"), "cancel_url");

    const customerId = optString(params, "customer");
    const customerEmail = optString(params, "customer_email");
    if (customerId && customerEmail) {
      throw invalid("You may only specify one of these parameters: customer, customer_email.", "customer_email");
    }
    if (customerId && !this.customers.get(customerId)) throw noSuchParam("customer", customerId, "customer");
    if (customerEmail && !isEmail(customerEmail)) {
      throw invalid(`Invalid email address: ${customerEmail}`, "customer_email", "email_invalid");
    }
    let customerCreation = optString(params, "customer_creation") as "always" | "if_required" | null;
    if (customerCreation !== null) {
      if (customerCreation !== "always" && customerCreation !== "if_required") {
        throw invalid("Invalid customer_creation: must be one of always or if_required", "customer_creation");
      }
      if (mode !== "payment")
        throw invalid("`customer_creation` can only be used in `payment` mode.", "customer_creation");
      if (customerId)
        throw invalid(
          "You may only specify one of these parameters: customer, customer_creation.",
          "customer_creation",
        );
    } else if (mode === "payment" && !customerId) {
      customerCreation = "if_required";
    }

    const clientReferenceId = optString(params, "client_reference_id");
    if (clientReferenceId !== null && clientReferenceId.length > 200) {
      throw invalid(
        `Invalid string: ${clientReferenceId.slice(0, 20)}...; must be at most 200 characters`,
        "client_reference_id",
        "string_length_exceeds_maximum",
      );
    }
    const metadata = parseMetadata(params.metadata);

    const now = nowSeconds();
    let expiresAt = now + 24 * 3600;
    const requestedExpiry = optInteger(params, "expires_at");
    if (requestedExpiry !== null) {
      // A minute of slack for the caller's clock and the trip here.
      if (requestedExpiry < now + 30 * 60 - 60) {
        throw invalid(
          "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
          "expires_at",
        );
      }
      if (requestedExpiry > now + 24 * 3600) {
        throw invalid(
          "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
          "expires_at",
        );
      }
      expiresAt = requestedExpiry;
    }

    let paymentIntentMetadata: Record<string, string> = {};
    if (params.payment_intent_data !== undefined) {
      if (mode !== "payment")
        throw invalid("You can not pass `payment_intent_data` in `subscription` mode.", "payment_intent_data");
      if (isHash(params.payment_intent_data)) {
        paymentIntentMetadata = parseMetadata(params.payment_intent_data.metadata, "payment_intent_data[metadata]");
      }
    }
    let subscriptionMetadata: Record<string, string> = {};
    if (params.subscription_data !== undefined) {
      if (mode !== "subscription")
        throw invalid("You can not pass `subscription_data` in `payment` mode.", "subscription_data");
      if (isHash(params.subscription_data)) {
        subscriptionMetadata = parseMetadata(params.subscription_data.metadata, "subscription_data[metadata]");
      }
    }
    const submitType = optString(params, "submit_type");
    if (submitType && mode !== "payment")
      throw invalid("You can only use `submit_type` in `payment` mode.", "submit_type");
    const billingAddressCollection = optString(params, "billing_address_collection");
    if (billingAddressCollection && billingAddressCollection !== "auto" && billingAddressCollection !== "required") {
      throw invalid(
        "Invalid billing_address_collection: must be one of auto or required",
        "billing_address_collection",
      );
    }
    const methodTypes = asArray(params.payment_method_types)?.filter((v): v is string => typeof v === "string") ?? [];
    const currency = items[0]!.price.currency;
    const options = parseSessionOptions(params, { mode, currency, customer: customerId !== null });

    const id = newId.checkoutSession();
    const lineItems = items.map(({ price, quantity }) =>
      buildLineItem(price, quantity, this.catalog.product(price.product)?.name ?? price.id),
    );
    const session = buildCheckoutSession({
      id,
      mode,
      amount: lineItems.reduce((sum, item) => sum + item.amount_total, 0),
      currency: items[0]!.price.currency,
      created: now,
      expiresAt,
      url: `${this.origin()}/c/pay/${id}`,
      customer: customerId,
      customerEmail,
      customerCreation,
      clientReferenceId,
      metadata,
      successUrl,
      cancelUrl,
      locale: optString(params, "locale"),
      submitType,
      allowPromotionCodes: optBoolean(params, "allow_promotion_codes"),
      billingAddressCollection,
      paymentMethodTypes: methodTypes.length > 0 ? methodTypes : ["card"],
    });
    Object.assign(session, openSessionFields(options, currency));
    const shippingAmount = options.shippingRates[0]?.amounts[currency] ?? 0;
    session.amount_total += shippingAmount;
    session.total_details = { amount_discount: 0, amount_shipping: shippingAmount, amount_tax: 0 };
    const record: SessionRecord = {
      id,
      session,
      lineItems,
      expiresAtMs: expiresAt * 1000,
      paymentMethod: null,
      asyncState: null,
      paymentIntentMetadata,
      subscriptionMetadata,
      options,
    };
    this.sessions.add(record);
    this.expiry.push(record.expiresAtMs, id);
    return record;
  }

  private assertOpen(record: SessionRecord) {
    this.touch(record);
    const status = record.session.status;
    if (status !== "open") {
      throw invalid(
        `This Checkout Session is no longer open: its status is \`${status}\`.`,
        "session",
        "checkout_session_not_open",
      );
    }
  }

  /** The email a payment page starts with. */
  defaultEmail(record: SessionRecord): string {
    const s = record.session;
    if (s.customer_email) return s.customer_email;
    const customer = s.customer ? this.customers.get(s.customer) : undefined;
    return customer?.email ?? "shopper@example.com";
  }

  pay(
    record: SessionRecord,
    method: "card" | "delayed",
    email: string,
    name: string | null,
    request: RequestContext | null,
    details: PayDetails = {},
  ) {
    this.assertOpen(record);
    if (!isEmail(email)) throw invalid(`Invalid email address: ${email}`, "email", "email_invalid");
    const s = record.session;
    const totals = totalsFor(s, record.lineItems, record.options, details, { requireAll: true });
    const collected = applyTotals(s, record.lineItems, record.options, details, totals);
    let customer = s.customer ? this.customers.get(s.customer) : undefined;
    if (!customer && (s.mode === "subscription" || s.customer_creation === "always")) {
      customer = buildCustomer({ email, name, metadata: {} });
      this.customers.add(customer);
    }
    let subscription: Subscription | undefined;
    if (s.mode === "payment") {
      const intent = buildPaymentIntent({
        amount: s.amount_total,
        currency: s.currency,
        customer: customer?.id ?? null,
        email,
        method,
        metadata: record.paymentIntentMetadata,
      });
      this.paymentIntents.set(intent.id, intent);
      s.payment_intent = intent.id;
      if (method === "card") {
        this.lifecycle.chargeIntent(intent, "card", "succeeded", { email, name: name ?? customer?.name ?? null });
      }
    } else {
      subscription = buildSubscription({
        customer: customer!.id,
        items: record.lineItems
          .filter((i) => i.price.type === "recurring")
          .map((i) => ({ price: i.price, quantity: i.quantity })),
        currency: s.currency,
        status: method === "card" ? "active" : "incomplete",
        metadata: record.subscriptionMetadata,
        paymentMethod: newId.paymentMethod(),
      });
      this.subscriptions.add(subscription);
      s.subscription = subscription.id;
      this.lifecycle.firstInvoice(record, subscription, customer!, method);
    }
    s.customer = customer?.id ?? null;
    s.customer_details = buildCustomerDetails(email, name ?? customer?.name ?? null, collected.phone);
    s.collected_information = {
      business_name: null,
      individual_name: null,
      shipping_details: collected.shippingDetails,
    };
    s.consent = collected.consent;
    s.status = "complete";
    s.payment_status = method === "card" ? "paid" : "unpaid";
    s.url = null;
    record.paymentMethod = method;
    record.asyncState = method === "delayed" ? "pending" : null;
    if (subscription) this.emit("customer.subscription.created", subscription, request);
    this.emit("checkout.session.completed", s, request);
    return record;
  }

  /** A declined card changes nothing (the session stays open); it only has to be open. */
  decline(record: SessionRecord) {
    this.assertOpen(record);
    return record;
  }

  private assertAsyncPending(record: SessionRecord) {
    this.touch(record);
    if (record.session.status !== "complete" || record.asyncState !== "pending") {
      throw invalid(
        "Only a Checkout Session completed with a delayed payment method, whose payment is still processing, can succeed or fail.",
        "session",
      );
    }
  }

  asyncSucceed(record: SessionRecord, request: RequestContext | null) {
    this.assertAsyncPending(record);
    const s = record.session;
    const intent = s.payment_intent ? this.paymentIntents.get(s.payment_intent) : undefined;
    if (intent) {
      intent.status = "succeeded";
      intent.amount_received = intent.amount;
      this.lifecycle.chargeIntent(intent, "us_bank_account", "succeeded", {
        email: s.customer_details?.email ?? null,
        name: s.customer_details?.name ?? null,
      });
    }
    const subscription = s.subscription ? this.subscriptions.get(s.subscription) : undefined;
    if (subscription) this.lifecycle.firstInvoiceSucceeded(subscription, s.customer_details?.email ?? null);
    if (subscription && subscription.status !== "active") {
      const previous = subscription.status;
      subscription.status = "active";
      this.emit("customer.subscription.updated", subscription, request, { status: previous });
    }
    s.payment_status = "paid";
    record.asyncState = "succeeded";
    this.emit("checkout.session.async_payment_succeeded", s, request);
    return record;
  }

  asyncFail(record: SessionRecord, request: RequestContext | null) {
    this.assertAsyncPending(record);
    const s = record.session;
    const intent = s.payment_intent ? this.paymentIntents.get(s.payment_intent) : undefined;
    if (intent) {
      intent.status = "requires_payment_method";
      intent.last_payment_error = {
        code: "payment_method_provider_decline",
        message: "The payment could not be completed: the bank debit failed.",
        type: "invalid_request_error",
      };
    }
    const subscription = s.subscription ? this.subscriptions.get(s.subscription) : undefined;
    if (subscription && subscription.status === "incomplete") {
      subscription.status = "incomplete_expired";
      subscription.ended_at = nowSeconds();
      this.emit("customer.subscription.updated", subscription, request, { status: "incomplete", ended_at: null });
    }
    record.asyncState = "failed";
    this.emit("checkout.session.async_payment_failed", s, request);
    return record;
  }

  private markExpired(record: SessionRecord, request: RequestContext | null) {
    const s = record.session;
    s.status = "expired";
    s.url = null;
    this.emit("checkout.session.expired", s, request);
  }

  /** POST /v1/checkout/sessions/:id/expire and the control API. */
  expire(record: SessionRecord, request: RequestContext | null) {
    this.touch(record);
    const status = record.session.status;
    if (status !== "open") {
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of \`${status}\`.`,
      );
    }
    this.markExpired(record, request);
    return record;
  }

  /** For tests: move an open session's expiry (seconds, or milliseconds from now). */
  setExpiry(record: SessionRecord, at: { expiresAt?: number; inMs?: number }) {
    this.assertOpen(record);
    const ms = at.inMs !== undefined ? Date.now() + at.inMs : at.expiresAt! * 1000;
    record.expiresAtMs = ms;
    record.session.expires_at = Math.ceil(ms / 1000);
    this.expiry.push(ms, record.id);
    return this.touch(record);
  }

  // ---- customers, subscriptions, portal ----

  createCustomer(params: Params): Customer {
    const email = optString(params, "email");
    if (email !== null && email.length > 512) throw invalid("Invalid string: must be at most 512 characters", "email");
    const name = optString(params, "name");
    if (name !== null && name.length > 256) throw invalid("Invalid string: must be at most 256 characters", "name");
    const customer = buildCustomer({
      email,
      name,
      description: optString(params, "description"),
      phone: optString(params, "phone"),
      metadata: parseMetadata(params.metadata),
    });
    this.customers.add(customer);
    return customer;
  }

  cancelSubscription(subscription: Subscription, request: RequestContext | null) {
    if (subscription.status === "canceled" || subscription.status === "incomplete_expired") {
      throw invalid(`This subscription has already ended (status \`${subscription.status}\`).`, "subscription");
    }
    const previous = { status: subscription.status };
    const now = nowSeconds();
    subscription.status = "canceled";
    subscription.canceled_at = now;
    subscription.ended_at = now;
    subscription.cancellation_details = {
      comment: null,
      feedback: null,
      feedback_option: null,
      reason: "cancellation_requested",
    };
    this.emit("customer.subscription.deleted", subscription, request, previous);
    return subscription;
  }

  updateSubscription(
    subscription: Subscription,
    changes: { status?: string; cancelAtPeriodEnd?: boolean; metadata?: Record<string, string> },
    request: RequestContext | null,
  ) {
    const previous: Record<string, unknown> = {};
    if (changes.status !== undefined && changes.status !== subscription.status) {
      if (!SUBSCRIPTION_STATUSES.has(changes.status)) {
        throw invalid(`Invalid status: must be one of ${[...SUBSCRIPTION_STATUSES].join(", ")}`, "status");
      }
      previous.status = subscription.status;
      subscription.status = changes.status;
      if (changes.status === "canceled" && subscription.canceled_at === null) {
        previous.canceled_at = null;
        previous.ended_at = subscription.ended_at;
        subscription.canceled_at = nowSeconds();
        subscription.ended_at = subscription.canceled_at;
      }
    }
    if (changes.cancelAtPeriodEnd !== undefined && changes.cancelAtPeriodEnd !== subscription.cancel_at_period_end) {
      previous.cancel_at_period_end = subscription.cancel_at_period_end;
      subscription.cancel_at_period_end = changes.cancelAtPeriodEnd;
      // Stripe also sets cancel_at to the end of the current period (clears it when undone).
      const items = subscription.items as { data?: Array<{ current_period_end?: number }> } | undefined;
      previous.cancel_at = subscription.cancel_at ?? null;
      subscription.cancel_at = changes.cancelAtPeriodEnd ? (items?.data?.[0]?.current_period_end ?? null) : null;
    }
    if (changes.metadata !== undefined) {
      previous.metadata = subscription.metadata;
      subscription.metadata = { ...subscription.metadata, ...changes.metadata };
    }
    this.emit("customer.subscription.updated", subscription, request, previous);
    return subscription;
  }

  createPortalSession(params: Params): PortalSession {
    const customer = optString(params, "customer");
    if (!customer) throw missingParam("customer");
    if (!this.customers.get(customer)) throw noSuchParam("customer", customer, "customer");
    const returnUrl = checkUrl(optString(params, "return_url"), "return_url");
    const portal = buildPortalSession({
      customer,
      returnUrl,
      origin: this.origin(),
      locale: optString(params, "locale"),
    });
    this.portalSessions.set(portal.id, portal);
    return portal;
  }
}

export { StripeApiError };
