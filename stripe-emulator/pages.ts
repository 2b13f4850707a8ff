import { type PayDetails, PROMOTION_CODE, TAX_PERCENT, type Totals, totalsFor } from "./checkout-options";
import type { LineItem, PortalSession, Subscription } from "./objects";
import type { SessionRecord } from "./state";

/**
 * The hosted pages: Checkout at /c/pay/:id and the billing portal at
 * /p/session/:id. Plain HTML forms, no scripts: they work with JavaScript off.
 * Stable ids for browser tests: #email, #pay-card, #pay-declined,
 * #pay-delayed, #back, #error, #total, #line-items, #return; with Checkout's
 * options #promotion-code, #apply, #shipping-name, #shipping-line1,
 * #shipping-city, #shipping-postal-code, #shipping-country,
 * #shipping-rate-<shr_id>, #phone, #terms, and the totals #subtotal,
 * #discount, #shipping-amount, #tax.
 */

export const PAGE_TITLE = "Checkout (Stripe emulator)";
export const DECLINED_MESSAGE = "Your card was declined.";

export const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

const formatters = new Map<string, Intl.NumberFormat>();
/** An amount in the currency's smallest unit, formatted like "$32.00" or "€49.00". */
export function formatAmount(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  let formatter = formatters.get(code);
  if (!formatter) {
    try {
      formatter = new Intl.NumberFormat("en-US", { style: "currency", currency: code });
    } catch {
      formatter = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    formatters.set(code, formatter);
  }
  const digits = formatter.resolvedOptions().maximumFractionDigits ?? 2;
  return formatter.format(amount / 10 ** digits);
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}
main{max-width:32rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.08)}
.banner{background:#fff4d6;border:1px solid #f0d070;padding:.4rem .6rem;border-radius:4px;font-size:.85rem}
table{width:100%;border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.35rem .2rem;border-bottom:1px solid #e3e8ee}
td.num,th.num{text-align:right}#total{font-size:1.2rem;font-weight:600}
label{display:block;margin:.8rem 0 .2rem}input[type=email]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.buttons{display:flex;flex-direction:column;gap:.5rem;margin-top:1rem}
button{padding:.6rem;font-size:1rem;border-radius:6px;border:1px solid #635bff;background:#fff;color:#635bff;cursor:pointer}
button#pay-card{background:#635bff;color:#fff}
#error{background:#fde8e8;border:1px solid #f5b5b5;color:#9b1c1c;padding:.5rem;border-radius:4px}
a{color:#635bff}`;

function document(title: string, body: string) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<main>
<p class="banner">Stripe emulator: test mode, no real payment is made.</p>
${body}
</main>
</body>
</html>
`;
}

export type Page = { status: number; html: string };

function lineItemRows(items: readonly LineItem[]) {
  return items
    .map((item) => {
      const interval = item.price.recurring ? ` / ${escapeHtml(item.price.recurring.interval)}` : "";
      return `<tr><td class="name">${escapeHtml(item.description)}</td><td class="num quantity">${item.quantity}</td><td class="num unit">${escapeHtml(
        formatAmount(item.price.unit_amount, item.currency),
      )}${interval}</td><td class="num amount">${escapeHtml(formatAmount(item.amount_total, item.currency))}</td></tr>`;
    })
    .join("\n");
}

/** Subtotal, discount, shipping and tax rows: from the totals given (an open page) or the session's own. */
function totalRows(record: SessionRecord, totals: Totals | null) {
  const s = record.session;
  const t = totals ?? {
    subtotal: s.amount_subtotal,
    discount: (s.total_details as { amount_discount?: number } | null)?.amount_discount ?? 0,
    tax: (s.total_details as { amount_tax?: number } | null)?.amount_tax ?? 0,
    shipping: (s.total_details as { amount_shipping?: number | null } | null)?.amount_shipping ?? 0,
  };
  const o = record.options;
  const money = (amount: number) => escapeHtml(formatAmount(amount, s.currency));
  const rows = [
    t.discount > 0 ? `<tr><td>Discount</td><td class="num" id="discount">-${money(t.discount)}</td></tr>` : "",
    o.shippingRates.length > 0
      ? `<tr><td>Shipping</td><td class="num" id="shipping-amount">${money(t.shipping)}</td></tr>`
      : "",
    o.automaticTax ? `<tr><td>Tax (${TAX_PERCENT}%)</td><td class="num" id="tax">${money(t.tax)}</td></tr>` : "",
  ].filter(Boolean);
  if (rows.length === 0) return "";
  return `<table id="totals">
<tr><td>Subtotal</td><td class="num" id="subtotal">${money(t.subtotal)}</td></tr>
${rows.join("\n")}
</table>`;
}

function summary(record: SessionRecord, totals: Totals | null = null) {
  const s = record.session;
  const recurring = record.lineItems.find((i) => i.price.recurring);
  const totalLabel = s.mode === "subscription" ? "Total due today" : "Total";
  const then = recurring
    ? `<p id="recurring">Then ${escapeHtml(formatAmount(recurring.amount_total, s.currency))} every ${escapeHtml(recurring.price.recurring!.interval)}.</p>`
    : "";
  return `<table id="line-items">
<thead><tr><th>Item</th><th class="num">Qty</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
<tbody>
${lineItemRows(record.lineItems)}
</tbody>
</table>
${totalRows(record, totals)}
<p id="total">${totalLabel}: <span id="total-amount">${escapeHtml(formatAmount(totals?.total ?? s.amount_total, s.currency))}</span></p>
${then}`;
}

/** The page of an open session, with the payment form; `error` shows above it. */
export function checkoutPage(
  record: SessionRecord,
  email: string,
  error: { status: number; message: string } | null = null,
  details: PayDetails = {},
): Page {
  const s = record.session;
  let totals: Totals | null = null;
  try {
    totals = totalsFor(s, record.lineItems, record.options, details, { requireAll: false });
  } catch {
    // A code or rate that does not apply (its error is shown): the totals without them.
    totals = totalsFor(
      s,
      record.lineItems,
      record.options,
      { ...details, promotionCode: "", shippingRate: undefined },
      {
        requireAll: false,
      },
    );
  }
  const back = s.cancel_url ? `<p><a id="back" href="${escapeHtml(s.cancel_url)}">Back</a></p>` : "";
  const body = `<h1>${s.mode === "subscription" ? "Subscribe" : "Pay"}</h1>
${summary(record, totals)}
${error ? `<div id="error" role="alert">${escapeHtml(error.message)}</div>` : ""}
<form method="post" action="/c/pay/${escapeHtml(s.id)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required value="${escapeHtml(email)}">
${optionFields(record, details, totals)}
<div class="buttons">
<button id="pay-card" type="submit" name="action" value="card">Pay</button>
<button id="pay-declined" type="submit" name="action" value="declined">Pay with a declined card</button>
<button id="pay-delayed" type="submit" name="action" value="delayed">Pay by bank transfer</button>
</div>
</form>
${back}`;
  return { status: error?.status ?? 200, html: document(PAGE_TITLE, body) };
}

function optionFields(record: SessionRecord, details: PayDetails, totals: Totals) {
  const s = record.session;
  const o = record.options;
  const value = (text: string | undefined) => escapeHtml(text ?? "");
  const parts: string[] = [];
  if (s.allow_promotion_codes) {
    parts.push(`<label for="promotion-code">Promotion code (test code: ${PROMOTION_CODE.code})</label>
<input id="promotion-code" name="promotion_code" autocomplete="off" value="${value(details.promotionCode)}">
<button id="apply" type="submit" name="action" value="apply" formnovalidate>Apply</button>`);
  }
  if (o.allowedCountries) {
    const a = details.shipping;
    const countries = o.allowedCountries
      .map((c) => `<option value="${c}"${a?.country === c ? " selected" : ""}>${c}</option>`)
      .join("");
    parts.push(`<fieldset id="shipping"><legend>Shipping address</legend>
<label for="shipping-name">Name</label><input id="shipping-name" name="shipping_name" required value="${value(a?.name)}">
<label for="shipping-line1">Address</label><input id="shipping-line1" name="shipping_line1" required value="${value(a?.line1)}">
<label for="shipping-line2">Address line 2</label><input id="shipping-line2" name="shipping_line2" value="${value(a?.line2)}">
<label for="shipping-city">City</label><input id="shipping-city" name="shipping_city" required value="${value(a?.city)}">
<label for="shipping-postal-code">Postal code</label><input id="shipping-postal-code" name="shipping_postal_code" required value="${value(a?.postalCode)}">
<label for="shipping-country">Country</label><select id="shipping-country" name="shipping_country">${countries}</select>
</fieldset>`);
  }
  if (o.shippingRates.length > 0) {
    const rates = o.shippingRates
      .map(
        (rate) =>
          `<label><input type="radio" id="shipping-rate-${escapeHtml(rate.id)}" name="shipping_rate" value="${escapeHtml(rate.id)}"${
            totals.rate?.id === rate.id ? " checked" : ""
          }> ${escapeHtml(rate.display_name)}: ${escapeHtml(formatAmount(rate.amounts[s.currency]!, s.currency))}</label>`,
      )
      .join("\n");
    parts.push(`<fieldset id="shipping-rates"><legend>Shipping method</legend>\n${rates}\n</fieldset>`);
  }
  if (o.phone) {
    parts.push(`<label for="phone">Phone</label>
<input id="phone" name="phone" type="tel" autocomplete="tel" required value="${value(details.phone)}">`);
  }
  if (o.termsRequired) {
    parts.push(
      `<label><input id="terms" name="terms" type="checkbox" value="accepted" required${
        details.termsAccepted ? " checked" : ""
      }> ${escapeHtml(o.termsMessage ?? "I agree to the terms of service.")}</label>`,
    );
  }
  return parts.join("\n");
}

/** A session that can no longer be paid: expired (410) or complete (200). */
export function closedPage(record: SessionRecord, successUrl: string | null): Page {
  const s = record.session;
  if (s.status === "expired") {
    const back = s.cancel_url ? `<p><a id="back" href="${escapeHtml(s.cancel_url)}">Back</a></p>` : "";
    return {
      status: 410,
      html: document(PAGE_TITLE, `<h1 id="status">This checkout session has expired</h1>\n${summary(record)}\n${back}`),
    };
  }
  let heading: string;
  if (s.payment_status === "paid") heading = "This checkout session is already paid";
  else if (record.asyncState === "failed") heading = "This checkout session is complete, but its payment failed";
  else heading = "This checkout session is complete: the payment is processing";
  const next = successUrl ? `<p><a id="continue" href="${escapeHtml(successUrl)}">Continue</a></p>` : "";
  // What the bank would do days later, at the press of a button (the control API's async_succeed / async_fail).
  const bank =
    record.asyncState === "pending"
      ? `<form method="post" action="/c/pay/${escapeHtml(s.id)}">
<p>Emulator only: decide what the bank does with this debit.</p>
<div class="buttons">
<button id="debit-succeed" type="submit" name="action" value="async_succeed">Make the debit succeed</button>
<button id="debit-fail" type="submit" name="action" value="async_fail">Make the debit fail</button>
</div>
</form>`
      : "";
  return {
    status: 200,
    html: document(PAGE_TITLE, `<h1 id="status">${heading}</h1>\n${summary(record)}\n${bank}\n${next}`),
  };
}

export function notFoundPage(what: string): Page {
  return {
    status: 404,
    html: document(PAGE_TITLE, `<h1 id="status">Not found</h1>\n<p>${escapeHtml(what)}</p>`),
  };
}

const ENDED = new Set(["canceled", "incomplete_expired"]);

export function portalPage(
  portal: PortalSession,
  email: string | null,
  subscriptions: readonly Subscription[],
  notice: string | null = null,
): Page {
  const rows = subscriptions
    .map((s) => {
      const id = escapeHtml(s.id);
      const ending = s.cancel_at_period_end ? ' <span class="ending">(cancels at the end of the period)</span>' : "";
      // Stripe's portal cancels at the period's end by default, or at once where so configured: both are offered.
      const form = ENDED.has(s.status)
        ? ""
        : `\n<form method="post" action="/p/session/${escapeHtml(portal.id)}">
<input type="hidden" name="subscription" value="${id}">
${s.cancel_at_period_end ? "" : `<button type="submit" name="action" value="cancel_at_period_end">Cancel at the end of the period</button>\n`}<button type="submit" name="action" value="cancel_now">Cancel now</button>
</form>`;
      return `<li id="${id}"><span class="id">${id}</span>: <span class="status">${escapeHtml(s.status)}</span>${ending}${form}</li>`;
    })
    .join("\n");
  const back = portal.return_url
    ? `<p><a id="return" href="${escapeHtml(portal.return_url)}">Return to the shop</a></p>`
    : "<p>No return URL was given.</p>";
  const body = `<h1>Billing portal</h1>
${notice ? `<p id="notice" role="status">${escapeHtml(notice)}</p>\n` : ""}<p id="customer">Customer ${escapeHtml(portal.customer)}${email ? ` (${escapeHtml(email)})` : ""}</p>
<h2>Subscriptions</h2>
${rows ? `<ul id="subscriptions">\n${rows}\n</ul>` : "<p>No subscriptions.</p>"}
${back}`;
  return { status: 200, html: document("Billing portal (Stripe emulator)", body) };
}
