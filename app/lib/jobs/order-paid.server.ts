import type Database from "better-sqlite3";
import type { Pool, PoolClient } from "pg";

import { type Mailer, messageIdFor } from "../mail.server";
import { formatMoney } from "../money";
import { totalsView } from "../order-views";
import type { JobHandler, NewJob } from "./types";

/**
 * The `order.paid` job: the order confirmation mail. Enqueued by the state
 * machine in the transaction where a checkout first becomes paid; the handler
 * reads the order again, so a flagged or unpaid order gets no mail whatever
 * the payload says.
 */

export const ORDER_PAID = "order.paid";

export type OrderPaidPayload = { checkoutId: string };

/** What the state machine enqueues when checkout `checkoutId` is first paid. */
export function orderPaidJob(checkoutId: string): NewJob {
  return { kind: ORDER_PAID, key: `${ORDER_PAID}:${checkoutId}`, payload: { checkoutId } };
}

export type PaidOrder = {
  id: string;
  status: string;
  paymentStatus: string;
  flag: string | null;
  customerEmail: string | null;
  amountTotal: number | null;
  amountSubtotal: number | null;
  amountDiscount: number | null;
  amountTax: number | null;
  amountShipping: number | null;
  currency: string | null;
  quantity: number;
  productName: string;
  unitAmount: number;
  productCurrency: string;
  /** What the shop asked Stripe to charge, line by line (none for a checkout stored before lines were). */
  lines?: MailLine[];
};

export type MailLine = { name: string; quantity: number; unitAmount: number; currency: string };

export type LoadOrder = (checkoutId: string) => Promise<PaidOrder | undefined>;

const ORDER_SQL = `SELECT c.id, c.status, c.payment_status AS "paymentStatus", c.flag, c.customer_email AS "customerEmail",
  c.amount_total AS "amountTotal", c.amount_subtotal AS "amountSubtotal", c.amount_discount AS "amountDiscount",
  c.amount_tax AS "amountTax", c.amount_shipping AS "amountShipping", c.currency, c.quantity, p.name AS "productName", p.unit_amount AS "unitAmount",
  p.currency AS "productCurrency"
  FROM checkout_sessions c JOIN products p ON p.id = c.product_id WHERE c.id = `;

const LINES_SQL = `SELECT p.name, i.quantity, i.unit_amount AS "unitAmount", i.currency
  FROM checkout_line_items i JOIN products p ON p.id = i.product_id WHERE i.checkout_session_id = `;

export function sqliteOrderLoader(sqlite: Database.Database): LoadOrder {
  const statement = sqlite.prepare(`${ORDER_SQL}?`);
  const lines = sqlite.prepare(`${LINES_SQL}? ORDER BY i.id`);
  return async (checkoutId) => {
    const row = statement.get(checkoutId) as PaidOrder | undefined;
    return row && { ...row, lines: lines.all(checkoutId) as MailLine[] };
  };
}

export function pgOrderLoader(pool: Pick<Pool | PoolClient, "query">): LoadOrder {
  return async (checkoutId) => {
    const result = await pool.query<PaidOrder>(`${ORDER_SQL}$1`, [checkoutId]);
    const row = result.rows[0];
    if (!row) return undefined;
    const lines = await pool.query<MailLine>(`${LINES_SQL}$1 ORDER BY i.id`, [checkoutId]);
    const n = (value: number | null) => (value === null ? null : Number(value));
    return {
      ...row,
      amountTotal: n(row.amountTotal),
      amountSubtotal: n(row.amountSubtotal),
      amountDiscount: n(row.amountDiscount),
      amountTax: n(row.amountTax),
      amountShipping: n(row.amountShipping),
      lines: lines.rows,
    };
  };
}

export function isMailable(order: PaidOrder) {
  return (
    order.status === "complete" &&
    (order.paymentStatus === "paid" || order.paymentStatus === "no_payment_required") &&
    order.flag === null
  );
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

export function confirmationMail(order: PaidOrder, { appOrigin, shopName }: { appOrigin: string; shopName: string }) {
  const currency = order.currency ?? order.productCurrency;
  const lines: MailLine[] = order.lines?.length
    ? order.lines
    : [
        {
          name: order.productName,
          quantity: order.quantity,
          unitAmount: order.unitAmount,
          currency: order.productCurrency,
        },
      ];
  // One line per product: name, quantity, unit price, line total.
  const lineTexts = lines.map(
    (l) =>
      `${l.quantity} × ${l.name} (${formatMoney(l.unitAmount, l.currency)} each): ${formatMoney(l.unitAmount * l.quantity, l.currency)}`,
  );
  const subtotal = lines.reduce((sum, l) => sum + l.unitAmount * l.quantity, 0);
  const total = `Total: ${formatMoney(order.amountTotal ?? subtotal, currency)}`;
  const totals = totalsView(order, formatMoney);
  // Subtotal, discount, shipping and tax, when they make the total differ from the subtotal.
  const details = totals
    ? [
        `Subtotal: ${totals.subtotal}`,
        totals.discount && `Discount: ${totals.discount}`,
        totals.shipping && `Shipping: ${totals.shipping}`,
        totals.tax && `Tax: ${totals.tax}`,
      ].filter((l): l is string => Boolean(l))
    : [];
  const ordersUrl = `${appOrigin}/orders`;
  const subject = `Your ${shopName} order is confirmed`;
  const text = [
    `Thank you for your order from ${shopName}.`,
    "",
    ...lineTexts,
    ...details,
    total,
    "",
    `Your orders: ${ordersUrl}`,
    `Order reference: ${order.id}`,
    "",
  ].join("\n");
  const html = `<!doctype html><html><body>
<p>Thank you for your order from ${escapeHtml(shopName)}.</p>
<ul>${lineTexts.map((line) => `<li>${escapeHtml(line)}</li>`).join("")}</ul>
${details.map((d) => `<p>${escapeHtml(d)}</p>`).join("\n")}
<p><strong>${escapeHtml(total)}</strong></p>
<p><a href="${escapeHtml(ordersUrl)}">Your orders</a></p>
<p>Order reference: ${escapeHtml(order.id)}</p>
</body></html>
`;
  return { subject, text, html };
}

export function orderPaidHandler({
  loadOrder,
  mailer,
  appOrigin,
  from,
  shopName = "Field & Kiln",
  log = console,
}: {
  loadOrder: LoadOrder;
  mailer: Mailer;
  appOrigin: string;
  from: string;
  shopName?: string;
  log?: Pick<Console, "info">;
}): JobHandler<OrderPaidPayload> {
  return {
    kind: ORDER_PAID,
    maxAttempts: 10,
    timeoutMs: 60_000,
    async run({ checkoutId }, { key }) {
      const order = await loadOrder(checkoutId);
      if (!order) throw new Error(`no checkout ${checkoutId}`);
      if (!isMailable(order)) {
        log.info(`order.paid: no mail, the order is not paid or is flagged session=${checkoutId}`);
        return;
      }
      if (!order.customerEmail) {
        log.info(`order.paid: no mail, Stripe collected no address session=${checkoutId}`);
        return;
      }
      const content = confirmationMail(order, { appOrigin, shopName });
      await mailer.send({
        ...content,
        to: order.customerEmail,
        from,
        messageId: messageIdFor(key, new URL(appOrigin).hostname),
      });
      log.info(`order.paid: confirmation sent session=${checkoutId}`);
    },
  };
}
