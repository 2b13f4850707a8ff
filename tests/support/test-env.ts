/** The configuration every test starts from (secrets are obviously fake). */
export const TEST_ENV = {
  NODE_ENV: "test",
  APP_ORIGIN: "http://shop.test",
  STRIPE_SECRET_KEY: "sk_test_shop_tests_only",
  // Newest first: the previous one still verifies during a rotation.
  STRIPE_WEBHOOK_SECRET: "whsec_test_current_secret,whsec_test_previous_secret",
  SESSION_SECRET: "test-session-secret-newest-0123456789abcdef,test-session-secret-previous-0123456789abcdef",
  STRIPE_TIMEOUT_MS: "1500",
  DATABASE_BUSY_TIMEOUT_MS: "300",
  // Each load of a pending success page asks Stripe (tests/integration/stripe-bounds.test.ts sets a window).
  STRIPE_LOOKUP_INTERVAL_MS: "0",
  // SQLite unless the integration-pg setup (tests/support/setup-pg.ts) gives the file a PostgreSQL database.
  DATABASE_URL: "",
} as const;

export const WEBHOOK_SECRET = "whsec_test_current_secret";
export const PREVIOUS_WEBHOOK_SECRET = "whsec_test_previous_secret";
export const SESSION_SECRET = "test-session-secret-newest-0123456789abcdef";
export const PREVIOUS_SESSION_SECRET = "test-session-secret-previous-0123456789abcdef";
