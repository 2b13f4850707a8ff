import { afterAll } from "vitest";

import { startEmulator } from "../../stripe-emulator/server";

// Each integration test file gets its own emulator on a free loopback port,
// started before the app's modules read STRIPE_API_BASE.
const emulator = await startEmulator({ port: 0, quiet: true, retryBaseMs: 50, maxAttempts: 3 });
process.env.STRIPE_API_BASE = emulator.url;

afterAll(() => emulator.close());
