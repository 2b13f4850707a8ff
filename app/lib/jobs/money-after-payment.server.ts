import type { JobHandler } from "./types";

/**
 * The jobs the state machine enqueues after a payment
 * (app/lib/orders/transition.ts): `order.revoked` (a full refund, or a lost
 * dispute), `order.reinstated` (a won dispute) and `subscription.renewed` (a
 * renewal paid). This shop grants nothing beyond the order itself, so each
 * default handler only logs the ids and is done; a shop that grants access
 * (a download, a seat, a licence) passes its own `run` for the kind it needs
 * (README, "After payment"). Like every job, a handler runs at least once:
 * its effect must be keyed on the job key it is given.
 */

export const ORDER_REVOKED = "order.revoked";
export const ORDER_REINSTATED = "order.reinstated";
export const SUBSCRIPTION_RENEWED = "subscription.renewed";

/** `cause` is "refund" or "dispute"; `disputeId` names the dispute when a dispute was lost. */
export type OrderRevokedPayload = { checkoutId: string; cause?: string; disputeId?: string };
export type OrderReinstatedPayload = { checkoutId: string; disputeId: string };
export type SubscriptionRenewedPayload = { checkoutId: string; invoiceId: string; subscriptionId: string };

export type MoneyAfterPaymentRuns = {
  revoke?: JobHandler<OrderRevokedPayload>["run"];
  reinstate?: JobHandler<OrderReinstatedPayload>["run"];
  renew?: JobHandler<SubscriptionRenewedPayload>["run"];
};

/** The three handlers: the given `run`s, else the defaults that log ids and are done. */
export function moneyAfterPaymentHandlers(
  runs: MoneyAfterPaymentRuns = {},
  log: Pick<Console, "info"> = console,
): [JobHandler<OrderRevokedPayload>, JobHandler<OrderReinstatedPayload>, JobHandler<SubscriptionRenewedPayload>] {
  return [
    {
      kind: ORDER_REVOKED,
      run:
        runs.revoke ??
        (async (p) => {
          log.info(
            `order.revoked: nothing granted to take back session=${p.checkoutId} cause=${p.cause ?? "-"} dispute=${p.disputeId ?? "-"}`,
          );
        }),
    },
    {
      kind: ORDER_REINSTATED,
      run:
        runs.reinstate ??
        (async (p) => {
          log.info(`order.reinstated: nothing granted to give back session=${p.checkoutId} dispute=${p.disputeId}`);
        }),
    },
    {
      kind: SUBSCRIPTION_RENEWED,
      run:
        runs.renew ??
        (async (p) => {
          log.info(
            `subscription.renewed: nothing granted to extend session=${p.checkoutId} subscription=${p.subscriptionId} invoice=${p.invoiceId}`,
          );
        }),
    },
  ];
}
