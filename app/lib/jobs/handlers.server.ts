import type { Mailer } from "../mail.server";
import { moneyAfterPaymentHandlers } from "./money-after-payment.server";
import { type LoadOrder, orderPaidHandler } from "./order-paid.server";
import type { JobHandler } from "./types";

/**
 * Every kind of job this shop runs, one handler each. A shop adds its own
 * work after payment here (README, "Jobs and mail"): a handler is async, is
 * given the payload, the job key, the attempt number and an AbortSignal, and
 * must make its own effect happen once per key, because a job runs at least
 * once. The jobs the money after a payment enqueues (a revocation, a
 * reinstatement, a renewal) have default handlers that log and are done: pass
 * your own `run` to moneyAfterPaymentHandlers to take back or grant access
 * (README, "After payment").
 */
export function shopHandlers(deps: {
  loadOrder: LoadOrder;
  mailer: Mailer;
  appOrigin: string;
  mailFrom: string;
}): JobHandler<never>[] {
  return [orderPaidHandler({ ...deps, from: deps.mailFrom }), ...moneyAfterPaymentHandlers()];
}
