/** The console's order filters: shared by the page's select and the server's query. */
export const ORDER_FILTERS = ["all", "flagged", "open", "paid", "unpaid", "failed", "expired"] as const;
export type OrderFilter = (typeof ORDER_FILTERS)[number];
