import type { Mailer } from "../mail.server";
import { type LoadOrder, orderPaidHandler } from "./order-paid.server";
import type { JobHandler } from "./types";

/**
 * Every kind of job this shop runs, one handler each. A shop adds its own
 * work after payment here (README, "Jobs and mail"): a handler is async, is
 * given the payload, the job key, the attempt number and an AbortSignal, and
 * must make its own effect happen once per key, because a job runs at least
 * once.
 */
export function shopHandlers(deps: {
  loadOrder: LoadOrder;
  mailer: Mailer;
  appOrigin: string;
  mailFrom: string;
}): JobHandler<never>[] {
  return [orderPaidHandler({ ...deps, from: deps.mailFrom })];
}
