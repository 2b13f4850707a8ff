import type Stripe from "stripe";

import { config } from "./config.server";
import { WEBHOOK_BODY_LIMIT } from "./limits";
import { handledEvent } from "./orders/events";
import { stripe } from "./stripe.server";
import { UserError } from "./user-error";

/**
 * Everything the webhook route checks before it believes a delivery: the size
 * of the body, the Stripe-Signature header against every configured secret,
 * the timestamp, and the shape of the event. Nothing here touches the
 * database, so a delivery that fails any check leaves no trace.
 */

/** Stripe's events are a few KB; anything near 1 MiB is not from Stripe. */
export const MAX_WEBHOOK_BODY_BYTES = WEBHOOK_BODY_LIMIT;

/** The SDK's default: a signature older than this is a replay. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** A timestamp this far ahead is not clock skew: the SDK lets it through, this module does not. */
export const FUTURE_TOLERANCE_SECONDS = 300;

const tooLarge = () => new UserError(413, `Webhook body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes.`);

/**
 * The raw body as text, as `request.text()` would give it, but never more
 * than `limit` bytes: a declared Content-Length over the limit is refused
 * before reading, and a chunked body is cut off once it passes the limit.
 */
export async function readBoundedBody(request: Request, limit = MAX_WEBHOOK_BODY_BYTES): Promise<string> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null) {
    const length = Number(declared);
    if (!/^\d+$/.test(declared.trim()) || !Number.isSafeInteger(length)) {
      throw new UserError(400, "Content-Length is not a number.");
    }
    if (length > limit) throw tooLarge();
  }
  if (!request.body) return "";

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > limit) {
      void discardRest(reader, DISCARD_LIMIT_BYTES);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** How much of a refused body is read and dropped before the connection is cut. */
export const DISCARD_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * Reads and drops the rest of a refused body while the 413 goes out, so that
 * the sender can read the answer and reuse the connection; past `budget`
 * bytes it cancels, which the body stream of server.js (@remix-run/node's
 * createReadableStreamFromReadable) turns into closing the socket.
 * (Cancelling at once would reset the connection under the 413.)
 */
async function discardRest(reader: ReadableStreamDefaultReader<Uint8Array>, budget: number) {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      budget -= value.byteLength;
      if (budget < 0) return await reader.cancel();
    }
  } catch {
    // The sender went away: nothing left to drop.
  }
}

type Timestamp = { ok: true; seconds: number } | { ok: false; message: string };

/** The header's `t=`, read strictly: the SDK takes `parseInt` of it, so `t=12abc` would pass there. */
function signatureTimestamp(header: string): Timestamp {
  const parts = header.split(",").map((part) => part.trim());
  const stamps = parts.filter((part) => part.startsWith("t="));
  if (stamps.length !== 1) return { ok: false, message: "Stripe-Signature header needs exactly one t= timestamp." };
  const value = stamps[0]!.slice(2);
  if (!/^\d{1,12}$/.test(value)) return { ok: false, message: "Stripe-Signature timestamp is not a number." };
  if (!parts.some((part) => /^v1=[0-9a-f]+$/i.test(part))) {
    return { ok: false, message: "Stripe-Signature header has no v1 signature." };
  }
  return { ok: true, seconds: Number(value) };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function assertEvent(value: unknown): asserts value is Stripe.Event {
  const fail = (what: string) => {
    throw new UserError(400, `Body is not a Stripe event: ${what}.`);
  };
  if (!isRecord(value)) return fail("not a JSON object");
  if (value.object !== "event") fail('"object" is not "event"');
  if (typeof value.id !== "string" || !/^evt_[A-Za-z0-9_]+$/.test(value.id)) fail('"id" is not an evt_ id');
  if (typeof value.type !== "string" || value.type === "") fail('"type" is missing');
  if (typeof value.created !== "number" || !Number.isInteger(value.created)) fail('"created" is not a number');
  if (typeof value.livemode !== "boolean") fail('"livemode" is not a boolean');
  if (!isRecord(value.data) || !isRecord(value.data.object)) fail('"data.object" is not an object');

  const data = (value.data as { object: Record<string, unknown> }).object;
  // The objects whose ids the state machine looks up, for the event types it handles.
  const expected = handledEvent(value.type as string)?.object ?? null;
  if (expected && (data.object !== expected || typeof data.id !== "string" || data.id === "")) {
    fail(`"data.object" is not a ${expected}`);
  }
}

/**
 * Verifies a delivery and returns its event. The signature is checked with
 * the SDK's `constructEvent` against each configured secret in turn (several
 * during a rotation), over the raw body exactly as received
 * (https://docs.stripe.com/webhooks#verify-events). Throws a UserError
 * with status 400 and a message that names what was wrong.
 */
export function verifyWebhook(
  rawBody: string,
  signatureHeader: string | null,
  { secrets = config.stripe.webhookSecrets, now = Date.now() }: { secrets?: readonly string[]; now?: number } = {},
): Stripe.Event {
  if (!signatureHeader || signatureHeader.trim() === "") {
    throw new UserError(400, "Missing Stripe-Signature header.");
  }
  const timestamp = signatureTimestamp(signatureHeader);
  if (!timestamp.ok) throw new UserError(400, timestamp.message);
  if (timestamp.seconds - Math.floor(now / 1000) > FUTURE_TOLERANCE_SECONDS) {
    throw new UserError(400, "Stripe-Signature timestamp is in the future.");
  }
  if (rawBody === "") throw new UserError(400, "Empty body.");

  let event: unknown;
  let verified = false;
  for (const secret of secrets) {
    try {
      event = stripe.webhooks.constructEvent(
        rawBody,
        signatureHeader,
        secret,
        SIGNATURE_TOLERANCE_SECONDS,
        undefined,
        now,
      );
      verified = true;
      break;
    } catch (error: unknown) {
      if (error instanceof SyntaxError) throw new UserError(400, "Body is not JSON.");
      if (!(error instanceof stripe.errors.StripeSignatureVerificationError)) {
        // The SDK refuses some bodies after verifying them (a v2 thin event).
        throw new UserError(400, "Body is not a Stripe event.");
      }
    }
  }
  if (!verified) {
    const stale = Math.floor(now / 1000) - timestamp.seconds > SIGNATURE_TOLERANCE_SECONDS;
    throw new UserError(
      400,
      stale ? "Stripe-Signature timestamp is too old." : "No signature matches this endpoint's webhook secret.",
    );
  }

  assertEvent(event);
  return event;
}
