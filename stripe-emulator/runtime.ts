import type http from "node:http";

import type { Api } from "./api";
import type { IdempotencyStore } from "./idempotency";
import type { EmulatorState } from "./state";
import type { WebhookDispatcher } from "./webhooks";

/** What the HTTP layer and the control API share. */

export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, unknown>;
  params: Record<string, unknown>;
  idempotencyKey: string | null;
  stripeVersion: string | null;
  /** Milliseconds since the epoch. */
  at: number;
};

export type Fault = {
  method: string | null;
  pathPrefix: string | null;
  status: number;
  hang: boolean;
  /** Requests left to fail; null: until cleared. */
  remaining: number | null;
};

export type Runtime = {
  state: EmulatorState;
  dispatcher: WebhookDispatcher;
  api: Api;
  idempotency: IdempotencyStore;
  requestLog: RecordedRequest[];
  faults: Fault[];
  /** Responses of hung requests, kept open until reset or close. */
  hung: Set<http.ServerResponse>;
  /** The last webhook secret configured, reused when only the URL changes. */
  webhookSecret: string | null;
  reset(): void;
  log(line: string): void;
  verbose(line: string): void;
};
