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
};

export type LoadOrder = (checkoutId: string) => Promise<PaidOrder | undefined>;

const ORDER_SQL = `SELECT c.id, c.status, c.payment_status AS "paymentStatus", c.flag, c.customer_email AS "customerEmail",
  c.amount_total AS "amountTotal", c.amount_subtotal AS "amountSubtotal", c.amount_discount AS "amountDiscount",
  c.amount_tax AS "amountTax", c.amount_shipping AS "amountShipping", c.currency, c.quantity, p.name AS "productName", p.unit_amount AS "unitAmount",
  p.currency AS "productCurrency"
  FROM checkout_sessions c JOIN products p ON p.id = c.product_id WHERE c.id = `;

export function sqliteOrderLoader(sqlite: Database.Database): LoadOrder {
  const statement = sqlite.prepare(`${ORDER_SQL}?`);
  return async (checkoutId) => statement.get(checkoutId) as PaidOrder | undefined;
}

export function pgOrderLoader(pool: Pick<Pool | PoolClient, "query">): LoadOrder {
  return async (checkoutId) => {
    const result = await pool.query<PaidOrder>(`${ORDER_SQL}$1`, [checkoutId]);
    const row = result.rows[0];
    const n = (value: number | null) => (value === null ? null : Number(value));
    return (
      row && {
        ...row,
        amountTotal: n(row.amountTotal),
        amountSubtotal: n(row.amountSubtotal),
        amountDiscount: n(row.amountDiscount),
        amountTax: n(row.amountTax),
        amountShipping: n(row.amountShipping),
      }
    );
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
  const line = `${order.quantity} × ${order.productName} (${formatMoney(order.unitAmount, order.productCurrency)} each)`;
  const total = `Total: ${formatMoney(order.amountTotal ?? order.unitAmount * order.quantity, currency)}`;
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
    line,
    ...details,
    total,
    "",
    `Your orders: ${ordersUrl}`,
    `Order reference: ${order.id}`,
    "",
  ].join("\n");
  const html = `<!doctype html><html><body>
<p>Thank you for your order from ${escapeHtml(shopName)}.</p>
<ul><li>${escapeHtml(line)}</li></ul>
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
