/**
 * Request body limits, by route (app/lib/request-guard.server.ts picks one).
 * The Buy and portal forms are tiny; Stripe's events are well under 1 MB.
 * server.js enforces these before Remix reads a byte, and the actions check
 * Content-Length again (dev server, tests).
 */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
export const FORM_BODY_LIMIT = 16 * 1024;
