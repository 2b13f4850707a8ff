import type Stripe from "stripe";

import type { PriceObject } from "./catalog";
import { randomString } from "./ids";

/**
 * Builders for what happens after a payment: charges, refunds, disputes,
 * balance transactions, invoices and their lines and payments. Typed as the
 * stripe SDK's own types (API 2026-10-28.endive), so that `tsc` checks every
 * required field; optional fields are present only where Stripe sends them.
 */

export type Charge = Stripe.Charge;
export type Refund = Stripe.Refund;
export type Dispute = Stripe.Dispute;
export type Invoice = Stripe.Invoice;
export type InvoicePayment = Stripe.InvoicePayment;
export type BalanceTransaction = Stripe.BalanceTransaction;

export const lifecycleId = {
  refund: () => `re_${randomString(24)}`,
  dispute: () => `du_${randomString(24)}`,
  invoice: () => `in_${randomString(24)}`,
  invoiceLine: () => `il_${randomString(24)}`,
  invoicePayment: () => `inpay_${randomString(24)}`,
  balanceTransaction: () => `txn_${randomString(24)}`,
};

export type PaymentKind = "card" | "us_bank_account";

const nullAddress = () => ({ city: null, country: null, line1: null, line2: null, postal_code: null, state: null });

function paymentMethodDetails(kind: PaymentKind, amount: number): Stripe.Charge.PaymentMethodDetails {
  if (kind === "us_bank_account") {
    return {
      type: "us_bank_account",
      us_bank_account: {
        account_holder_type: "individual",
        account_type: "checking",
        bank_name: "STRIPE TEST BANK",
        fingerprint: randomString(16),
        last4: "6789",
        payment_reference: null,
        routing_number: "110000000",
      },
    };
  }
  return {
    type: "card",
    card: {
      amount_authorized: amount,
      authorization_code: String(100000 + Math.floor(Math.random() * 900000)),
      brand: "visa",
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
      country: "US",
      electronic_commerce_indicator: null,
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      funding: "credit",
      installments: null,
      last4: "4242",
      mandate: null,
      network: "visa",
      network_transaction_id: randomString(15),
      regulated_status: "unregulated",
      three_d_secure: null,
      transaction_link_id: null,
      wallet: null,
    },
  };
}

export function buildBalanceTransaction(input: {
  amount: number;
  currency: string;
  source: string;
  type: Stripe.BalanceTransaction.Type;
  reportingCategory: string;
  description: string | null;
  created: number;
}): BalanceTransaction {
  // Stripe's US card fee: 2.9% + 30 cents, on payments only.
  const fee = input.type === "charge" ? Math.round(input.amount * 0.029) + 30 : 0;
  return {
    id: lifecycleId.balanceTransaction(),
    object: "balance_transaction",
    amount: input.amount,
    available_on: input.created + 2 * 86400,
    balance_type: "payments",
    created: input.created,
    currency: input.currency,
    description: input.description,
    exchange_rate: null,
    fee,
    fee_details:
      fee === 0
        ? []
        : [
            {
              amount: fee,
              application: null,
              currency: input.currency,
              description: "Stripe processing fees",
              type: "stripe_fee",
            },
          ],
    net: input.amount - fee,
    reporting_category: input.reportingCategory,
    source: input.source,
    status: "pending",
    type: input.type,
  };
}

export function buildCharge(input: {
  id: string;
  amount: number;
  currency: string;
  customer: string | null;
  email: string | null;
  name: string | null;
  paymentIntent: string;
  paymentMethod: string;
  kind: PaymentKind;
  status: "succeeded" | "pending" | "failed";
  description: string | null;
  metadata: Record<string, string>;
  balanceTransaction: string | null;
  created: number;
  origin: string;
}): Charge {
  const succeeded = input.status === "succeeded";
  const failed = input.status === "failed";
  return {
    id: input.id,
    object: "charge",
    amount: input.amount,
    amount_captured: succeeded ? input.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: input.balanceTransaction,
    billing_details: { address: nullAddress(), email: input.email, name: input.name, phone: null, tax_id: null },
    calculated_statement_descriptor: "STRIPE EMULATOR",
    captured: succeeded,
    created: input.created,
    currency: input.currency,
    customer: input.customer,
    description: input.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: failed ? "card_declined" : null,
    failure_message: failed ? "Your card was declined." : null,
    fraud_details: {},
    livemode: false,
    metadata: input.metadata,
    on_behalf_of: null,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: failed ? "declined_by_network" : "approved_by_network",
      reason: failed ? "generic_decline" : null,
      risk_level: "normal",
      risk_score: 20,
      seller_message: failed
        ? "The bank did not return any further details with this decline."
        : succeeded
          ? "Payment complete."
          : "The payment is processing.",
      type: failed ? "issuer_declined" : "authorized",
    },
    paid: succeeded,
    payment_intent: input.paymentIntent,
    payment_method: input.paymentMethod,
    payment_method_details: paymentMethodDetails(input.kind, input.amount),
    receipt_email: input.email,
    receipt_number: null,
    // No receipt page is emulated; the dashboard shows the charge.
    receipt_url: `${input.origin}/dashboard`,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: input.status,
    transfer_data: null,
    transfer_group: null,
  };
}

export function buildRefund(input: {
  charge: Charge;
  amount: number;
  reason: Stripe.Refund.Reason | null;
  metadata: Record<string, string>;
  status: "succeeded" | "pending";
  instructionsEmail: string | null;
  balanceTransaction: string;
  created: number;
}): Refund {
  const charge = input.charge;
  const card = charge.payment_method_details?.type === "card";
  const refund: Refund = {
    id: lifecycleId.refund(),
    object: "refund",
    amount: input.amount,
    balance_transaction: input.balanceTransaction,
    charge: charge.id,
    created: input.created,
    currency: charge.currency,
    customer: charge.customer,
    customer_account: null,
    destination_details: card
      ? {
          type: "card",
          card:
            input.status === "succeeded"
              ? {
                  reference: randomString(12),
                  reference_status: "available",
                  reference_type: "acquirer_reference_number",
                  type: "refund",
                }
              : { reference_status: "pending", type: "pending" },
        }
      : { type: "us_bank_transfer", us_bank_transfer: { reference: null, reference_status: "pending" } },
    metadata: input.metadata,
    payment_intent: charge.payment_intent,
    payment_method: charge.payment_method,
    reason: input.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: input.status,
    transfer_reversal: null,
  };
  if (input.instructionsEmail) refund.instructions_email = input.instructionsEmail;
  if (input.status === "pending") refund.pending_reason = "processing";
  return refund;
}

const DISPUTE_EVIDENCE = (): Stripe.Dispute.Evidence => ({
  access_activity_log: null,
  billing_address: null,
  cancellation_policy: null,
  cancellation_policy_disclosure: null,
  cancellation_rebuttal: null,
  customer_communication: null,
  customer_email_address: null,
  customer_name: null,
  customer_purchase_ip: null,
  customer_signature: null,
  duplicate_charge_documentation: null,
  duplicate_charge_explanation: null,
  duplicate_charge_id: null,
  enhanced_evidence: {},
  product_description: null,
  receipt: null,
  refund_policy: null,
  refund_policy_disclosure: null,
  refund_refusal_explanation: null,
  service_date: null,
  service_documentation: null,
  shipping_address: null,
  shipping_carrier: null,
  shipping_date: null,
  shipping_documentation: null,
  shipping_tracking_number: null,
  uncategorized_file: null,
  uncategorized_text: null,
});

export function buildDispute(input: {
  charge: Charge;
  amount: number;
  reason: string;
  withdrawal: BalanceTransaction;
  created: number;
}): Dispute {
  const charge = input.charge;
  const card = charge.payment_method_details?.type === "card";
  const dispute: Dispute = {
    id: lifecycleId.dispute(),
    object: "dispute",
    amount: input.amount,
    balance_transactions: [input.withdrawal],
    charge: charge.id,
    created: input.created,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: DISPUTE_EVIDENCE(),
    evidence_details: {
      due_by: input.created + 7 * 86400,
      enhanced_eligibility: {},
      has_evidence: false,
      past_due: false,
      submission_count: 0,
      submission_method: "not_submitted",
    },
    intended_submission_method: null,
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    payment_intent: charge.payment_intent,
    reason: input.reason,
    status: "needs_response",
  };
  if (card) {
    dispute.payment_method_details = {
      type: "card",
      card: { brand: "visa", case_type: "chargeback", network: "visa", network_reason_code: "10.4" },
    };
  }
  return dispute;
}

export function buildInvoicePayment(input: {
  invoice: string;
  amount: number;
  currency: string;
  paymentIntent: string;
  created: number;
}): InvoicePayment {
  return {
    id: lifecycleId.invoicePayment(),
    object: "invoice_payment",
    amount_paid: null,
    amount_requested: input.amount,
    created: input.created,
    currency: input.currency,
    invoice: input.invoice,
    is_default: true,
    livemode: false,
    payment: { payment_intent: input.paymentIntent, type: "payment_intent" },
    status: "open",
    status_transitions: { canceled_at: null, paid_at: null },
  };
}

export type InvoiceItemInput = { price: PriceObject; quantity: number; subscriptionItem: string; description: string };

export function buildInvoice(input: {
  subscription: { id: string; metadata: Record<string, string> };
  customer: { id: string; email: string | null; name: string | null };
  number: string;
  currency: string;
  items: InvoiceItemInput[];
  billingReason: "subscription_create" | "subscription_cycle";
  /** The subscription period these lines pay for. */
  period: { start: number; end: number };
  /** Stripe's invoice period: the usage period before the invoice (equal to the line period on the first invoice). */
  invoicePeriod: { start: number; end: number };
  created: number;
}): Invoice {
  const id = lifecycleId.invoice();
  const lines: Stripe.InvoiceLineItem[] = input.items.map((item) => ({
    id: lifecycleId.invoiceLine(),
    object: "line_item",
    amount: item.price.unit_amount * item.quantity,
    currency: input.currency,
    description: item.description,
    discount_amounts: [],
    discountable: true,
    discounts: [],
    invoice: id,
    livemode: false,
    metadata: {},
    parent: {
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: false,
        proration_details: { credited_items: null },
        subscription: input.subscription.id,
        subscription_item: item.subscriptionItem,
      },
      type: "subscription_item_details",
    },
    period: { end: input.period.end, start: input.period.start },
    pretax_credit_amounts: [],
    pricing: {
      price_details: { price: item.price.id, product: item.price.product },
      type: "price_details",
      unit_amount_decimal: null,
    },
    quantity: item.quantity,
    quantity_decimal: null,
    subscription: input.subscription.id,
    subtotal: item.price.unit_amount * item.quantity,
    taxes: [],
  }));
  const total = lines.reduce((sum, line) => sum + line.amount, 0);
  return {
    id,
    object: "invoice",
    account_country: "US",
    account_name: "Stripe emulator",
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: input.billingReason,
    collection_method: "charge_automatically",
    created: input.created,
    currency: input.currency,
    custom_fields: null,
    customer: input.customer.id,
    customer_account: null,
    customer_address: null,
    customer_email: input.customer.email,
    customer_name: input.customer.name,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: "none",
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: input.created,
    ending_balance: 0,
    footer: null,
    from_invoice: null,
    // No hosted invoice page or PDF is emulated.
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: "self" },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: "list", data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: input.number,
    on_behalf_of: null,
    parent: {
      quote_details: null,
      subscription_details: { metadata: { ...input.subscription.metadata }, subscription: input.subscription.id },
      type: "subscription_details",
    },
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: input.invoicePeriod.end,
    period_start: input.invoicePeriod.start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: "open",
    status_transitions: { finalized_at: input.created, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: input.created,
  };
}
