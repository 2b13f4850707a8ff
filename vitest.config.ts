import { defineConfig } from "vitest/config";
import tsconfigPaths from "vite-tsconfig-paths";

// Kept apart from vite.config.ts: the Remix Vite plugin breaks vitest for .tsx.
export default defineConfig({
  plugins: [tsconfigPaths()],
  test: {
    globalSetup: ["tests/support/global-setup.ts"],
    restoreMocks: true,
    // The app's log lines (console.info/warn/log) are shown only for a failing test, suite or file
    // (docs/decisions/080-app-log-lines-only-for-failing-tests.md); console.error is tests/support/setup.ts's.
    silent: "passed-only",
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          environment: "node",
          setupFiles: ["tests/support/setup.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          environment: "node",
          setupFiles: ["tests/support/setup.ts", "tests/support/setup-emulator.ts"],
        },
      },
      {
        // The same integration tests on PostgreSQL (npm test runs it when TEST_DATABASE_URL is set).
        extends: true,
        test: {
          name: "integration-pg",
          include: ["tests/integration/**/*.test.ts"],
          // These make their own PostgreSQL databases (several instances, a server that goes away, the copy)
          // or run each dialect themselves (the job stores and workers): once, in `integration`, is enough.
          exclude: [
            "tests/integration/many-instances.test.ts",
            "tests/integration/database-goes-away.test.ts",
            "tests/integration/copy-sqlite-to-pg.test.ts",
            "tests/integration/jobs-{store,worker,processes,mail,cli}.test.ts",
          ],
          environment: "node",
          globalSetup: ["tests/support/global-setup.ts", "tests/support/global-setup-pg.ts"],
          setupFiles: ["tests/support/setup.ts", "tests/support/setup-pg.ts", "tests/support/setup-emulator.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "emulator",
          include: ["stripe-emulator/tests/**/*.test.ts"],
          environment: "node",
          setupFiles: ["tests/support/setup.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "component",
          include: ["tests/component/**/*.test.tsx"],
          environment: "jsdom",
          setupFiles: ["tests/support/setup.ts", "tests/support/setup-dom.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          environment: "node",
          setupFiles: ["tests/support/setup.ts"],
          // One browser, one built server at a time: 2 cores.
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
    ],
  },
});
