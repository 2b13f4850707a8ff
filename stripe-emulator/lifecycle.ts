import type Stripe from "stripe";

import { invalid, noSuchParam, unknownParam } from "./errors";
import { newId, nowSeconds } from "./ids";
import {
  buildBalanceTransaction,
  buildCharge,
  buildDispute,
  buildInvoice,
  buildInvoicePayment,
  buildRefund,
  type BalanceTransaction,
  type Charge,
  type Dispute,
  type Invoice,
  type InvoicePayment,
  type PaymentKind,
  type Refund,
} from "./lifecycle-objects";
import { Collection, type ListObject } from "./lists";
import { addInterval, buildPaymentIntent, type Customer, type PaymentIntent, type Subscription } from "./objects";
import { formatAmount } from "./pages";
import type { Params } from "./params";
import type { EmulatorState, RequestContext, SessionRecord } from "./state";
import { isEmail, optBoolean, optInteger, optString, parseMetadata } from "./state";

/**
 * What Stripe does after a payment: the charge behind each paid intent,
 * refunds (full, partial, pending, failed), disputes (opened, updated, won or
 * lost) and subscription renewals (an invoice paid or failed each period).
 * Every change records the events Stripe sends, in the order it sends them,
 * through the emulator's one event log and webhook dispatcher.
 */

// RefundCreateParams in the stripe SDK (2026-10-28.endive).
const REFUND_CREATE_PARAMS = new Set([
  "amount",
  "charge",
  "currency",
  "customer",
  "expand",
  "instructions_email",
  "metadata",
  "origin",
  "payment_intent",
  "reason",
  "refund_application_fee",
  "reverse_transfer",
]);
const REFUND_REASONS = new Set(["duplicate", "fraudulent", "requested_by_customer"]);
export const DISPUTE_REASONS = new Set([
  "bank_cannot_process",
  "check_returned",
  "credit_not_processed",
  "customer_initiated",
  "debit_not_authorized",
  "duplicate",
  "fraudulent",
  "general",
  "incorrect_account_details",
  "insufficient_funds",
  "noncompliant",
  "product_not_received",
  "product_unacceptable",
  "subscription_canceled",
  "unrecognized",
]);
export const REFUND_FAILURE_REASONS = new Set([
  "charge_for_pending_refund_disputed",
  "declined",
  "expired_or_canceled_card",
  "insufficient_funds",
  "lost_or_stolen_card",
  "merchant_request",
  "unknown",
]);
const OPEN_DISPUTE = new Set(["needs_response", "under_review", "warning_needs_response", "warning_under_review"]);

export type RefundOptions = {
  amount: number | null;
  reason: Stripe.Refund.Reason | null;
  metadata: Record<string, string>;
  instructionsEmail: string | null;
  /** Leave the refund pending whatever the payment method (card refunds succeed at once otherwise). */
  pending: boolean;
};

export class Lifecycle {
  readonly charges = new Collection<Charge>();
  readonly refunds = new Collection<Refund>();
  readonly disputes = new Collection<Dispute>();
  readonly invoices = new Collection<Invoice>();
  readonly balanceTransactions = new Map<string, BalanceTransaction>();
  /** Invoice payments by invoice id, oldest first. */
  readonly invoicePayments = new Map<string, InvoicePayment[]>();

  constructor(
    private readonly state: EmulatorState,
    private readonly origin: () => string,
  ) {}

  reset() {
    this.charges.clear();
    this.refunds.clear();
    this.disputes.clear();
    this.invoices.clear();
    this.balanceTransactions.clear();
    this.invoicePayments.clear();
  }

  resolve(id: string): Record<string, unknown> | undefined {
    const found = id.startsWith("ch_")
      ? this.charges.get(id)
      : id.startsWith("re_")
        ? this.refunds.get(id)
        : id.startsWith("du_")
          ? this.disputes.get(id)
          : id.startsWith("in_")
            ? this.invoices.get(id)
            : id.startsWith("txn_")
              ? this.balanceTransactions.get(id)
              : undefined;
    return found as Record<string, unknown> | undefined;
  }

  /** Fields Stripe leaves out unless asked for with `expand` (`refunds` on a charge, `payments` on an invoice). */
  include(target: Record<string, unknown>, field: string): ListObject<unknown> | undefined {
    const id = target.id as string;
    if (target.object === "charge" && field === "refunds") {
      const data = this.refunds
        .all()
        .filter((r) => r.charge === id)
        .reverse();
      return { object: "list", data, has_more: false, url: `/v1/charges/${id}/refunds` };
    }
    if (target.object === "invoice" && field === "payments") {
      const data = [...(this.invoicePayments.get(id) ?? [])].reverse();
      return { object: "list", data, has_more: false, url: `/v1/invoices/${id}/payments` };
    }
    return undefined;
  }

  private emit(type: string, object: object, request: RequestContext | null, previous?: Record<string, unknown>) {
    this.state.emit(type, object as Record<string, unknown>, request, previous);
  }

  private transaction(input: Parameters<typeof buildBalanceTransaction>[0]) {
    const txn = buildBalanceTransaction(input);
    this.balanceTransactions.set(txn.id, txn);
    return txn;
  }

  // ---- charges (made as payments happen) ----

  /** The charge behind a payment intent's payment; its id is the intent's `latest_charge` when set. */
  chargeIntent(
    intent: PaymentIntent,
    kind: PaymentKind,
    status: "succeeded" | "failed",
    billing: { email: string | null; name: string | null },
  ): Charge {
    const id = (status === "succeeded" && (intent.latest_charge as string | null)) || newId.charge();
    const now = nowSeconds();
    const amount = intent.amount as number;
    const currency = intent.currency as string;
    const txn =
      status === "succeeded"
        ? this.transaction({
            amount,
            currency,
            source: id,
            type: "charge",
            reportingCategory: "charge",
            description: null,
            created: now,
          })
        : null;
    const charge = buildCharge({
      id,
      amount,
      currency,
      customer: intent.customer as string | null,
      email: billing.email,
      name: billing.name,
      paymentIntent: intent.id,
      paymentMethod: intent.payment_method as string,
      kind,
      status,
      description: (intent.description as string | null) ?? null,
      metadata: { ...(intent.metadata as Record<string, string>) },
      balanceTransaction: txn?.id ?? null,
      created: now,
      origin: this.origin(),
    });
    this.charges.add(charge);
    intent.latest_charge = id;
    return charge;
  }

  /**
   * A subscription's first invoice, made when its Checkout Session is paid
   * (no invoice events: the emulator sends only the Checkout ones then).
   */
  firstInvoice(record: SessionRecord, subscription: Subscription, customer: Customer, method: "card" | "delayed") {
    const item = this.subscriptionItems(subscription)[0];
    const start = item?.current_period_start ?? subscription.created;
    const end = item?.current_period_end ?? addInterval(start, "month");
    const invoice = this.newInvoice(subscription, customer, "subscription_create", { start, end }, { start, end });
    const intent = this.invoiceIntent(invoice, customer, method === "card" ? "card" : "delayed");
    const email = record.session.customer_details?.email ?? customer.email;
    if (method === "card") {
      this.chargeIntent(intent, "card", "succeeded", { email, name: customer.name });
      this.markInvoicePaid(invoice);
    } else {
      invoice.attempted = true;
      invoice.attempt_count = 1;
    }
    record.session.invoice = invoice.id;
    subscription.latest_invoice = invoice.id;
    return invoice;
  }

  /** A delayed first payment that went through: its invoice is paid (no events, as above). */
  firstInvoiceSucceeded(subscription: Subscription, email: string | null) {
    const invoice = subscription.latest_invoice ? this.invoices.get(subscription.latest_invoice as string) : undefined;
    if (invoice?.status !== "open") return;
    const intent = this.invoiceIntentOf(invoice);
    if (intent) {
      intent.status = "succeeded";
      intent.amount_received = intent.amount;
      this.chargeIntent(intent, "us_bank_account", "succeeded", { email, name: invoice.customer_name });
    }
    this.markInvoicePaid(invoice);
  }

  private subscriptionItems(subscription: Subscription) {
    return (
      subscription.items as {
        data: Array<{
          id: string;
          current_period_start: number;
          current_period_end: number;
          quantity: number;
          price: import("./catalog").PriceObject;
        }>;
      }
    ).data;
  }

  private newInvoice(
    subscription: Subscription,
    customer: Customer,
    billingReason: "subscription_create" | "subscription_cycle",
    period: { start: number; end: number },
    invoicePeriod: { start: number; end: number },
  ): Invoice {
    const sequence = (customer.next_invoice_sequence as number | undefined) ?? 1;
    customer.next_invoice_sequence = sequence + 1;
    const invoice = buildInvoice({
      subscription: { id: subscription.id, metadata: subscription.metadata },
      customer: { id: customer.id, email: customer.email, name: customer.name },
      number: `${customer.invoice_prefix as string}-${String(sequence).padStart(4, "0")}`,
      currency: subscription.currency as string,
      items: this.subscriptionItems(subscription).map((item) => ({
        price: item.price,
        quantity: item.quantity,
        subscriptionItem: item.id,
        description: `${item.quantity} × ${this.state.catalog.product(item.price.product)?.name ?? item.price.id} (at ${formatAmount(
          item.price.unit_amount,
          item.price.currency,
        )} / ${item.price.recurring?.interval ?? "month"})`,
      })),
      billingReason,
      period,
      invoicePeriod,
      created: nowSeconds(),
    });
    this.invoices.add(invoice);
    return invoice;
  }

  private invoiceIntent(invoice: Invoice, customer: Customer, method: "card" | "delayed"): PaymentIntent {
    const intent = buildPaymentIntent({
      amount: invoice.amount_due,
      currency: invoice.currency,
      customer: customer.id,
      email: customer.email ?? "shopper@example.com",
      method,
      metadata: {},
    });
    // The charge is made by chargeIntent; a renewal's card may yet fail.
    intent.latest_charge = null;
    intent.description =
      invoice.billing_reason === "subscription_create" ? "Subscription creation" : "Subscription update";
    this.state.paymentIntents.set(intent.id, intent);
    const payment = buildInvoicePayment({
      invoice: invoice.id,
      amount: invoice.amount_due,
      currency: invoice.currency,
      paymentIntent: intent.id,
      created: invoice.created,
    });
    this.invoicePayments.set(invoice.id, [...(this.invoicePayments.get(invoice.id) ?? []), payment]);
    return intent;
  }

  private invoiceIntentOf(invoice: Invoice): PaymentIntent | undefined {
    const payment = this.invoicePayments.get(invoice.id)?.at(-1);
    const id = payment?.payment.payment_intent;
    return typeof id === "string" ? this.state.paymentIntents.get(id) : undefined;
  }

  private markInvoicePaid(invoice: Invoice) {
    const now = nowSeconds();
    invoice.status = "paid";
    invoice.attempted = true;
    invoice.attempt_count += 1;
    invoice.amount_paid = invoice.amount_due;
    invoice.amount_remaining = 0;
    invoice.next_payment_attempt = null;
    invoice.status_transitions.paid_at = now;
    const payment = this.invoicePayments.get(invoice.id)?.at(-1);
    if (payment) {
      payment.status = "paid";
      payment.amount_paid = invoice.amount_due;
      payment.status_transitions.paid_at = now;
    }
  }

  // ---- refunds ----

  /** The charge a session's payment made: the intent's in payment mode, the first invoice's in subscription mode. */
  chargeOfSession(record: SessionRecord): Charge | undefined {
    const s = record.session;
    let intentId = s.payment_intent;
    if (!intentId && s.invoice) {
      const invoice = this.invoices.get(s.invoice as string);
      intentId = (invoice && (this.invoiceIntentOf(invoice)?.id ?? null)) || null;
    }
    const intent = intentId ? this.state.paymentIntents.get(intentId) : undefined;
    const chargeId = intent?.latest_charge as string | null | undefined;
    return chargeId ? this.charges.get(chargeId) : undefined;
  }

  /** POST /v1/refunds. */
  createRefund(params: Params, request: RequestContext): Refund {
    for (const key of Object.keys(params)) if (!REFUND_CREATE_PARAMS.has(key)) throw unknownParam(key);
    const chargeId = optString(params, "charge");
    const intentId = optString(params, "payment_intent");
    if (optString(params, "origin") !== null || optString(params, "customer") !== null) {
      throw invalid(
        "The Stripe emulator does not emulate customer balance refunds: pass `charge` or `payment_intent`.",
        params.origin !== undefined ? "origin" : "customer",
      );
    }
    if (chargeId && intentId) {
      throw invalid("You may only specify one of these parameters: charge, payment_intent.", "payment_intent");
    }
    let charge: Charge | undefined;
    if (chargeId) {
      charge = this.charges.get(chargeId);
      if (!charge) throw noSuchParam("charge", chargeId, "charge");
    } else if (intentId) {
      const intent = this.state.paymentIntents.get(intentId);
      if (!intent) throw noSuchParam("payment_intent", intentId, "payment_intent");
      const latest = intent.latest_charge as string | null;
      charge = latest ? this.charges.get(latest) : undefined;
      if (charge?.status !== "succeeded") {
        throw invalid(
          `This PaymentIntent (${intentId}) does not have a successful charge to refund.`,
          "payment_intent",
          "charge_not_refundable",
        );
      }
    } else {
      throw invalid(
        "One of the following params should be provided for this request: payment_intent or charge.",
        undefined,
        "parameter_missing",
      );
    }
    const amount = optInteger(params, "amount");
    if (amount !== null && amount < 1) {
      throw invalid("Invalid positive integer", "amount", "parameter_invalid_integer");
    }
    const currency = optString(params, "currency");
    if (currency !== null && currency.toLowerCase() !== charge.currency) {
      throw invalid(`The currency of the refund must be the charge's currency (${charge.currency}).`, "currency");
    }
    const reason = optString(params, "reason");
    if (reason !== null && !REFUND_REASONS.has(reason)) {
      throw invalid(
        "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
        "reason",
        "parameter_invalid_string",
      );
    }
    const instructionsEmail = optString(params, "instructions_email");
    if (instructionsEmail !== null && !isEmail(instructionsEmail)) {
      throw invalid(`Invalid email address: ${instructionsEmail}`, "instructions_email", "email_invalid");
    }
    optBoolean(params, "refund_application_fee");
    optBoolean(params, "reverse_transfer");
    return this.refund(
      charge,
      { amount, reason, metadata: parseMetadata(params.metadata), instructionsEmail, pending: false },
      request,
    );
  }

  /** Refunds `amount` (all that is left when null) of a charge: refund.created, then charge.refunded. */
  refund(charge: Charge, options: RefundOptions, request: RequestContext | null): Refund {
    if (charge.status !== "succeeded") {
      throw invalid(
        `This charge (${charge.id}) has not succeeded and cannot be refunded.`,
        "charge",
        "charge_not_refundable",
      );
    }
    if (this.disputes.all().some((d) => d.charge === charge.id && d.status !== "won")) {
      throw invalid(`Charge ${charge.id} has been charged back; cannot issue a refund.`, "charge", "charge_disputed");
    }
    const left = charge.amount - charge.amount_refunded;
    if (left <= 0) {
      throw invalid(`Charge ${charge.id} has already been refunded.`, "charge", "charge_already_refunded");
    }
    const amount = options.amount ?? left;
    if (amount > left) {
      throw invalid(
        `Refund amount (${formatAmount(amount, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(left, charge.currency)})`,
        "amount",
        "amount_too_large",
      );
    }
    const now = nowSeconds();
    const card = charge.payment_method_details?.type === "card";
    const status = card && !options.pending ? "succeeded" : "pending";
    const refundTxn = this.transaction({
      amount: -amount,
      currency: charge.currency,
      source: "",
      type: "refund",
      reportingCategory: "refund",
      description: "REFUND FOR CHARGE",
      created: now,
    });
    const refund = buildRefund({
      charge,
      amount,
      reason: options.reason,
      metadata: options.metadata,
      status,
      instructionsEmail: options.instructionsEmail,
      balanceTransaction: refundTxn.id,
      created: now,
    });
    refundTxn.source = refund.id;
    this.refunds.add(refund);
    const previous: Record<string, unknown> = { amount_refunded: charge.amount_refunded };
    charge.amount_refunded += amount;
    if (charge.amount_refunded === charge.amount) {
      previous.refunded = false;
      charge.refunded = true;
    }
    this.emit("refund.created", refund, request);
    this.emit("charge.refunded", charge, request, previous);
    return refund;
  }

  /** A pending refund that went through: refund.updated. */
  succeedRefund(refund: Refund, request: RequestContext | null): Refund {
    if (refund.status !== "pending") {
      throw invalid(`Only a pending refund can succeed; this one is \`${refund.status}\`.`, "refund");
    }
    refund.status = "succeeded";
    delete refund.pending_reason;
    if (refund.destination_details?.type === "card") {
      refund.destination_details.card = {
        reference: newId.secret().slice(0, 12),
        reference_status: "available",
        reference_type: "acquirer_reference_number",
        type: "refund",
      };
    }
    this.emit("refund.updated", refund, request, { status: "pending" });
    return refund;
  }

  /**
   * A refund the bank sent back (pending or even succeeded, as card refunds
   * can fail later): its amount is given back to the charge; refund.updated,
   * then refund.failed.
   */
  failRefund(refund: Refund, reason: string, request: RequestContext | null): Refund {
    if (refund.status !== "pending" && refund.status !== "succeeded") {
      throw invalid(`Only a pending or succeeded refund can fail; this one is \`${refund.status}\`.`, "refund");
    }
    const charge = this.charges.get(refund.charge as string);
    const previousStatus = refund.status;
    const now = nowSeconds();
    const txn = this.transaction({
      amount: refund.amount,
      currency: refund.currency,
      source: refund.id,
      type: "refund_failure",
      reportingCategory: "refund_failure",
      description: "REFUND FAILURE",
      created: now,
    });
    refund.status = "failed";
    refund.failure_reason = reason;
    refund.failure_balance_transaction = txn.id;
    delete refund.pending_reason;
    if (charge) {
      charge.amount_refunded = Math.max(0, charge.amount_refunded - refund.amount);
      charge.refunded = false;
    }
    this.emit("refund.updated", refund, request, { status: previousStatus });
    this.emit("refund.failed", refund, request);
    return refund;
  }

  updateRefund(refund: Refund, params: Params): Refund {
    for (const key of Object.keys(params)) if (key !== "metadata" && key !== "expand") throw unknownParam(key);
    if (params.metadata !== undefined) {
      const changes = parseMetadata(params.metadata);
      const metadata = { ...(refund.metadata ?? {}) };
      // An empty value removes the key, as on Stripe.
      if (typeof params.metadata === "object" && !Array.isArray(params.metadata)) {
        for (const [key, value] of Object.entries(params.metadata)) if (value === "") delete metadata[key];
      }
      refund.metadata = { ...metadata, ...changes };
    }
    return refund;
  }

  // ---- disputes ----

  /** A chargeback: charge.dispute.created (needs_response), then charge.dispute.funds_withdrawn. */
  openDispute(charge: Charge, options: { amount?: number; reason?: string }, request: RequestContext | null): Dispute {
    if (charge.status !== "succeeded") throw invalid(`Charge ${charge.id} has not succeeded: it cannot be disputed.`);
    if (this.disputes.all().some((d) => d.charge === charge.id)) {
      throw invalid(`Charge ${charge.id} is already disputed.`, "charge");
    }
    const left = charge.amount - charge.amount_refunded;
    if (left <= 0) throw invalid(`Charge ${charge.id} has been fully refunded: there is nothing to dispute.`);
    const amount = options.amount ?? left;
    if (!Number.isInteger(amount) || amount < 1 || amount > left) {
      throw invalid(`The disputed amount must be an integer between 1 and ${left}.`, "amount");
    }
    const reason = options.reason ?? "fraudulent";
    if (!DISPUTE_REASONS.has(reason)) {
      throw invalid(`Invalid reason: must be one of ${[...DISPUTE_REASONS].join(", ")}`, "reason");
    }
    const now = nowSeconds();
    const withdrawal = this.transaction({
      amount: -amount,
      currency: charge.currency,
      source: "",
      type: "adjustment",
      reportingCategory: "dispute",
      description: `Chargeback withdrawal for ${charge.id}`,
      created: now,
    });
    const dispute = buildDispute({ charge, amount, reason, withdrawal, created: now });
    withdrawal.source = dispute.id;
    this.disputes.add(dispute);
    charge.disputed = true;
    this.emit("charge.dispute.created", dispute, request);
    this.emit("charge.dispute.funds_withdrawn", dispute, request);
    return dispute;
  }

  /** Evidence given (and submitted, by default): charge.dispute.updated, status under_review. */
  updateDispute(
    dispute: Dispute,
    changes: { evidence?: Record<string, string>; submit?: boolean; metadata?: Record<string, string> },
    request: RequestContext | null,
  ): Dispute {
    if (!OPEN_DISPUTE.has(dispute.status)) {
      throw invalid(`This dispute is closed (status \`${dispute.status}\`): it cannot be updated.`, "dispute");
    }
    const previous: Record<string, unknown> = {};
    if (changes.evidence) {
      const evidence = dispute.evidence as unknown as Record<string, unknown>;
      const before: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(changes.evidence)) {
        if (!(key in evidence) || key === "enhanced_evidence") throw unknownParam(`evidence[${key}]`);
        before[key] = evidence[key];
        evidence[key] = value;
      }
      previous.evidence = before;
      dispute.evidence_details.has_evidence = true;
    }
    if (changes.metadata) {
      previous.metadata = dispute.metadata;
      dispute.metadata = { ...dispute.metadata, ...changes.metadata };
    }
    if (changes.submit !== false && dispute.status === "needs_response") {
      previous.status = dispute.status;
      previous.evidence_details = { ...dispute.evidence_details };
      dispute.status = "under_review";
      dispute.evidence_details.submission_count += 1;
      dispute.evidence_details.submission_method = "manual";
      dispute.evidence_details.due_by = null;
    }
    this.emit("charge.dispute.updated", dispute, request, previous);
    return dispute;
  }

  /** The bank's decision: charge.dispute.closed, then charge.dispute.funds_reinstated when won. */
  closeDispute(dispute: Dispute, outcome: "won" | "lost", request: RequestContext | null): Dispute {
    if (!OPEN_DISPUTE.has(dispute.status)) {
      throw invalid(`This dispute is already closed (status \`${dispute.status}\`).`, "dispute");
    }
    const previous = { status: dispute.status };
    dispute.status = outcome;
    dispute.evidence_details.due_by = null;
    if (outcome === "won") {
      const reinstated = this.transaction({
        amount: dispute.amount,
        currency: dispute.currency,
        source: dispute.id,
        type: "adjustment",
        reportingCategory: "dispute_reversal",
        description: `Chargeback reversal for ${dispute.charge as string}`,
        created: nowSeconds(),
      });
      dispute.balance_transactions.push(reinstated);
    }
    this.emit("charge.dispute.closed", dispute, request, previous);
    if (outcome === "won") this.emit("charge.dispute.funds_reinstated", dispute, request);
    return dispute;
  }

  // ---- subscription renewals ----

  /**
   * One billing period on. A new period: customer.subscription.updated (the
   * new current period), invoice.created, invoice.finalized, then
   * invoice.paid + invoice.payment_succeeded, or invoice.payment_failed +
   * customer.subscription.updated (past_due). A subscription already past
   * due retries its open invoice instead, without a new period.
   */
  advanceSubscription(subscription: Subscription, outcome: "paid" | "failed", request: RequestContext | null) {
    if (!["active", "trialing", "past_due"].includes(subscription.status)) {
      throw invalid(
        `Only an active, trialing or past_due subscription can be renewed; this one is \`${subscription.status}\`.`,
        "subscription",
      );
    }
    const customer = this.state.customers.get(subscription.customer);
    if (!customer) throw invalid(`The subscription's customer ${subscription.customer} is gone.`, "subscription");
    const latest = subscription.latest_invoice ? this.invoices.get(subscription.latest_invoice as string) : undefined;
    let invoice: Invoice;
    let intent: PaymentIntent | undefined;
    if (subscription.status === "past_due" && latest && latest.status === "open") {
      invoice = latest;
      intent = this.invoiceIntentOf(invoice);
    } else {
      const items = this.subscriptionItems(subscription);
      const previousItems = structuredClone(subscription.items);
      const first = items[0];
      const oldStart = first?.current_period_start ?? subscription.created;
      const start = first?.current_period_end ?? nowSeconds();
      const end = addInterval(start, first?.price.recurring?.interval ?? "month");
      for (const item of items) {
        item.current_period_start = start;
        item.current_period_end = end;
      }
      invoice = this.newInvoice(
        subscription,
        customer,
        "subscription_cycle",
        { start, end },
        { start: oldStart, end: start },
      );
      const previousLatest = subscription.latest_invoice ?? null;
      subscription.latest_invoice = invoice.id;
      intent = this.invoiceIntent(invoice, customer, "card");
      this.emit("customer.subscription.updated", subscription, request, {
        items: previousItems,
        latest_invoice: previousLatest,
      });
      // Stripe drafts a renewal invoice, then finalizes it about an hour later.
      const finalizedAt = invoice.status_transitions.finalized_at;
      invoice.status = "draft";
      invoice.status_transitions.finalized_at = null;
      this.emit("invoice.created", invoice, request);
      invoice.status = "open";
      invoice.status_transitions.finalized_at = finalizedAt;
      this.emit("invoice.finalized", invoice, request);
    }
    if (intent) intent.status = outcome === "paid" ? "succeeded" : "requires_payment_method";
    if (outcome === "paid") {
      if (intent) {
        intent.amount_received = intent.amount;
        intent.last_payment_error = null;
        this.chargeIntent(intent, "card", "succeeded", { email: customer.email, name: customer.name });
      }
      this.markInvoicePaid(invoice);
      this.emit("invoice.paid", invoice, request);
      this.emit("invoice.payment_succeeded", invoice, request);
      if (subscription.status === "past_due") {
        subscription.status = "active";
        this.emit("customer.subscription.updated", subscription, request, { status: "past_due" });
      }
    } else {
      if (intent) {
        intent.amount_received = 0;
        const charge = this.chargeIntent(intent, "card", "failed", { email: customer.email, name: customer.name });
        intent.last_payment_error = {
          charge: charge.id,
          code: "card_declined",
          decline_code: "generic_decline",
          message: "Your card was declined.",
          type: "card_error",
        };
      }
      invoice.attempted = true;
      invoice.attempt_count += 1;
      invoice.next_payment_attempt = nowSeconds() + 3 * 86400;
      this.emit("invoice.payment_failed", invoice, request);
      if (subscription.status !== "past_due") {
        const previous = subscription.status;
        subscription.status = "past_due";
        this.emit("customer.subscription.updated", subscription, request, { status: previous });
      }
    }
    return { subscription, invoice };
  }
}
