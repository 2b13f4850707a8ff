import type { PriceObject } from "./catalog";
import { newId, nowSeconds } from "./ids";

/**
 * Builders for the objects the emulator returns, with the same fields and
 * types as Stripe's own examples (stripe-emulator/fixtures/*.json).
 */

export const API_VERSION = "2026-10-28.endive";

type Json = Record<string, unknown>;

export type CheckoutSession = {
  id: string;
  object: "checkout.session";
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: string | null;
  customer_creation: "always" | "if_required" | null;
  customer_details: CustomerDetails | null;
  customer_email: string | null;
  expires_at: number;
  metadata: Record<string, string>;
  mode: "payment" | "subscription";
  payment_intent: string | null;
  payment_status: "paid" | "unpaid" | "no_payment_required";
  status: "open" | "complete" | "expired";
  subscription: string | null;
  success_url: string | null;
  url: string | null;
  [key: string]: unknown;
};

export type CustomerDetails = {
  address: Json;
  business_name: null;
  email: string;
  individual_name: null;
  name: string | null;
  phone: string | null;
  tax_exempt: "none";
  tax_ids: never[];
};

export type LineItem = {
  id: string;
  object: "item";
  amount_subtotal: number;
  amount_total: number;
  currency: string;
  description: string;
  price: PriceObject;
  quantity: number;
  [key: string]: unknown;
};

export type Customer = {
  id: string;
  object: "customer";
  email: string | null;
  name: string | null;
  created: number;
  [key: string]: unknown;
};
export type PaymentIntent = { id: string; object: "payment_intent"; status: string; [key: string]: unknown };
export type Subscription = {
  id: string;
  object: "subscription";
  status: string;
  customer: string;
  created: number;
  cancel_at_period_end: boolean;
  canceled_at: number | null;
  ended_at: number | null;
  metadata: Record<string, string>;
  [key: string]: unknown;
};
export type PortalSession = {
  id: string;
  object: "billing_portal.session";
  customer: string;
  return_url: string | null;
  url: string;
  [key: string]: unknown;
};
export type StripeEvent = {
  id: string;
  object: "event";
  api_version: string;
  created: number;
  data: { object: Json; previous_attributes?: Json };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
};

const nullAddress = () => ({ city: null, country: null, line1: null, line2: null, postal_code: null, state: null });

export function buildLineItem(price: PriceObject, quantity: number, description: string): LineItem {
  const amount = price.unit_amount * quantity;
  return {
    id: newId.lineItem(),
    object: "item",
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: amount,
    amount_tax: 0,
    amount_total: amount,
    currency: price.currency,
    description,
    metadata: {},
    price,
    quantity,
  };
}

export function buildCheckoutSession(input: {
  id: string;
  mode: "payment" | "subscription";
  amount: number;
  currency: string;
  created: number;
  expiresAt: number;
  url: string;
  customer: string | null;
  customerEmail: string | null;
  customerCreation: "always" | "if_required" | null;
  clientReferenceId: string | null;
  metadata: Record<string, string>;
  successUrl: string | null;
  cancelUrl: string | null;
  locale: string | null;
  submitType: string | null;
  allowPromotionCodes: boolean | null;
  billingAddressCollection: string | null;
  paymentMethodTypes: string[];
}): CheckoutSession {
  const payment = input.mode === "payment";
  return {
    id: input.id,
    object: "checkout.session",
    adaptive_pricing: { enabled: false },
    after_expiration: null,
    allow_promotion_codes: input.allowPromotionCodes,
    amount_subtotal: input.amount,
    amount_total: input.amount,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: input.billingAddressCollection,
    cancel_url: input.cancelUrl,
    client_reference_id: input.clientReferenceId,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: input.created,
    currency: input.currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: input.customer,
    customer_account: null,
    customer_creation: input.customerCreation,
    customer_details: null,
    customer_email: input.customerEmail,
    discounts: [],
    expires_at: input.expiresAt,
    integration_identifier: null,
    invoice: null,
    invoice_creation: payment
      ? {
          enabled: false,
          invoice_data: {
            account_tax_ids: null,
            custom_fields: null,
            description: null,
            footer: null,
            issuer: null,
            metadata: {},
            rendering_options: null,
          },
        }
      : null,
    livemode: false,
    locale: input.locale,
    managed_payments: { enabled: false },
    metadata: input.metadata,
    mode: input.mode,
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: payment ? "if_required" : "always",
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: input.paymentMethodTypes,
    payment_status: "unpaid",
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: input.customer
      ? { allow_redisplay_filters: ["always"], payment_method_remove: "disabled", payment_method_save: null }
      : null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: "open",
    submit_type: input.submitType,
    subscription: null,
    success_url: input.successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: "hosted_page",
    url: input.url,
    wallet_options: null,
  };
}

export function buildCustomerDetails(email: string, name: string | null, phone: string | null = null): CustomerDetails {
  return {
    address: nullAddress(),
    business_name: null,
    email,
    individual_name: null,
    name,
    phone,
    tax_exempt: "none",
    tax_ids: [],
  };
}

export function buildCustomer(input: {
  email: string | null;
  name: string | null;
  description?: string | null;
  phone?: string | null;
  metadata: Record<string, string>;
}): Customer {
  return {
    id: newId.customer(),
    object: "customer",
    address: null,
    balance: 0,
    created: nowSeconds(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: input.description ?? null,
    discount: null,
    email: input.email,
    invoice_prefix: newId.invoicePrefix(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: input.metadata,
    name: input.name,
    next_invoice_sequence: 1,
    phone: input.phone ?? null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: "none",
    test_clock: null,
  };
}

export function buildPaymentIntent(input: {
  amount: number;
  currency: string;
  customer: string | null;
  email: string;
  method: "card" | "delayed";
  metadata: Record<string, string>;
}): PaymentIntent {
  const id = newId.paymentIntent();
  const card = input.method === "card";
  return {
    id,
    object: "payment_intent",
    amount: input.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: card ? input.amount : 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: "automatic_async",
    client_secret: `${id}_secret_${newId.secret()}`,
    confirmation_method: "automatic",
    created: nowSeconds(),
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    description: null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: card ? newId.charge() : null,
    livemode: false,
    managed_payments: { enabled: false },
    metadata: input.metadata,
    next_action: null,
    on_behalf_of: null,
    payment_method: newId.paymentMethod(),
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: [card ? "card" : "us_bank_account"],
    processing: null,
    receipt_email: input.email,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: card ? "succeeded" : "processing",
    transfer_data: null,
    transfer_group: null,
  };
}

const SECONDS_PER = { day: 86400, week: 7 * 86400, month: 30 * 86400, year: 365 * 86400 } as Record<string, number>;

export function addInterval(start: number, interval: string): number {
  const date = new Date(start * 1000);
  if (interval === "month") date.setUTCMonth(date.getUTCMonth() + 1);
  else if (interval === "year") date.setUTCFullYear(date.getUTCFullYear() + 1);
  else return start + (SECONDS_PER[interval] ?? SECONDS_PER.month!);
  return Math.floor(date.getTime() / 1000);
}

function planFromPrice(price: PriceObject) {
  return {
    id: price.id,
    object: "plan",
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: String(price.unit_amount),
    billing_scheme: "per_unit",
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? "month",
    interval_count: price.recurring?.interval_count ?? 1,
    livemode: false,
    metadata: {},
    meter: null,
    nickname: null,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: "licensed",
  };
}

export function buildSubscription(input: {
  customer: string;
  items: Array<{ price: PriceObject; quantity: number }>;
  currency: string;
  status: string;
  metadata: Record<string, string>;
  paymentMethod: string;
}): Subscription {
  const id = newId.subscription();
  const now = nowSeconds();
  const interval = input.items.find((i) => i.price.recurring)?.price.recurring?.interval ?? "month";
  const periodEnd = addInterval(now, interval);
  return {
    id,
    object: "subscription",
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: { proration_discounts: "included" }, type: "flexible", updated_at: now },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: "charge_automatically",
    created: now,
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    days_until_due: null,
    default_payment_method: input.paymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    ended_at: null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: "self" },
    },
    items: {
      object: "list",
      data: input.items.map(({ price, quantity }) => ({
        id: newId.subscriptionItem(),
        object: "subscription_item",
        billing_thresholds: null,
        created: now,
        current_period_end: periodEnd,
        current_period_start: now,
        current_trial: null,
        discounts: [],
        metadata: {},
        plan: planFromPrice(price),
        price,
        quantity,
        subscription: id,
        tax_rates: [],
      })),
      has_more: false,
      total_count: input.items.length,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    latest_invoice: null,
    livemode: false,
    managed_payments: { enabled: false },
    metadata: input.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: "off" },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: input.status,
    test_clock: null,
    transfer_data: null,
    trial_end: null,
    trial_settings: { end_behavior: { missing_payment_method: "create_invoice" } },
    trial_start: null,
  };
}

export function buildPortalSession(input: {
  customer: string;
  returnUrl: string | null;
  origin: string;
  locale: string | null;
}): PortalSession {
  const id = newId.portalSession();
  return {
    id,
    object: "billing_portal.session",
    configuration: "bpc_emulator_default",
    created: nowSeconds(),
    customer: input.customer,
    customer_account: null,
    flow: null,
    livemode: false,
    locale: input.locale,
    on_behalf_of: null,
    return_url: input.returnUrl,
    url: `${input.origin}/p/session/${id}`,
  };
}

export function buildEvent(input: {
  type: string;
  object: Json;
  previousAttributes?: Json;
  request: { id: string | null; idempotency_key: string | null };
  pendingWebhooks: number;
}): StripeEvent {
  const data: StripeEvent["data"] = { object: input.object };
  if (input.previousAttributes) data.previous_attributes = input.previousAttributes;
  return {
    id: newId.event(),
    object: "event",
    api_version: API_VERSION,
    created: nowSeconds(),
    data,
    livemode: false,
    pending_webhooks: input.pendingWebhooks,
    request: input.request,
    type: input.type,
  };
}

/** A deep copy of an object as it is now (for event snapshots and expansion). */
export function snapshot<T>(value: T): T {
  return structuredClone(value);
}
