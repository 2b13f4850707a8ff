import type * as pg from "./pg";
import type * as sqlite from "./sqlite";

// The row types every module uses, whichever database holds the rows. They
// are read off the SQLite tables; the check below fails the type check if the
// PostgreSQL tables would give a different row.

export type Product = typeof sqlite.products.$inferSelect;
export type Shopper = typeof sqlite.shoppers.$inferSelect;
export type CheckoutSession = typeof sqlite.checkoutSessions.$inferSelect;
export type Cart = typeof sqlite.carts.$inferSelect;
export type CartLine = typeof sqlite.cartLines.$inferSelect;
export type CheckoutLineItem = typeof sqlite.checkoutLineItems.$inferSelect;
export type StripeEvent = typeof sqlite.stripeEvents.$inferSelect;
export type Refund = typeof sqlite.refunds.$inferSelect;
export type JobLock = typeof sqlite.jobLocks.$inferSelect;
export type Job = typeof sqlite.jobs.$inferSelect;
export type Operator = typeof sqlite.operators.$inferSelect;
export type OrderChange = typeof sqlite.orderChanges.$inferSelect;
export type WebhookFailure = typeof sqlite.webhookFailures.$inferSelect;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Rows<S> = { [K in keyof S]: S[K] extends { $inferSelect: infer R } ? R : never };
const sameRows: Same<Rows<typeof pg>, Rows<typeof sqlite>> = true;
void sameRows;
