import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";

/**
 * Webhook delivery, as Stripe does it: each event POSTed as JSON with a
 * `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` header;
 * anything but a 2xx (or a connection error, or no answer in 10 s) is retried
 * with exponential back-off, re-signed each time. Deliveries never block the
 * API call that caused the event. Switches for tests drop, hold, delay,
 * duplicate and reorder deliveries.
 */

export type DeliveryRecord = { eventId: string; type: string; attempt: number; status: number; at: number };
export type OutgoingEvent = { id: string; type: string; body: string };
export type DeliverySettings = {
  mode: "normal" | "drop" | "hold";
  delayMs: number;
  duplicate: boolean;
  order: "normal" | "reverse";
};
export type Endpoint = { url: string; secret: string };

export const DELIVERY_TIMEOUT_MS = 10_000;
export const USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

const defaultSettings = (): DeliverySettings => ({ mode: "normal", delayMs: 0, duplicate: false, order: "normal" });

export function signatureHeader(body: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const signature = createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex");
  return `t=${timestamp},v1=${signature}`;
}

type Waiter = { count: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout };

export class WebhookDispatcher {
  endpoint: Endpoint | null = null;
  settings: DeliverySettings = defaultSettings();
  readonly log: DeliveryRecord[] = [];
  private held: OutgoingEvent[] = [];
  private succeeded = 0;
  private waiters = new Set<Waiter>();
  private timers = new Set<NodeJS.Timeout>();
  private inflight = new Set<http.ClientRequest>();
  private generation = 0;
  // Idle sockets are dropped well before a typical server's 5 s keep-alive ends.
  private httpAgent = new http.Agent({ keepAlive: true, timeout: 2000, maxSockets: 64 });
  private httpsAgent = new https.Agent({ keepAlive: true, timeout: 2000, maxSockets: 64 });

  constructor(
    private readonly options: {
      retryBaseMs: number;
      maxAttempts: number;
      onDelivered: (eventId: string) => void;
      log: (line: string) => void;
    },
  ) {}

  /** A new event: delivered, held or dropped according to the switches. */
  publish(event: OutgoingEvent) {
    if (!this.endpoint) return;
    if (this.settings.mode === "drop") return;
    if (this.settings.mode === "hold") {
      this.held.push(event);
      return;
    }
    void this.firstAttempt(event);
    if (this.settings.duplicate) void this.firstAttempt(event);
  }

  get heldCount() {
    return this.held.length;
  }

  /** Delivers everything held, one after another, in the configured order. */
  release(): number {
    const events = this.held.splice(0);
    if (this.settings.order === "reverse") events.reverse();
    const duplicate = this.settings.duplicate;
    const generation = this.generation;
    void (async () => {
      for (const event of events) {
        if (generation !== this.generation) return;
        await this.firstAttempt(event);
        if (duplicate) await this.firstAttempt(event);
      }
    })();
    return events.length;
  }

  /** Sends one event again, whatever the switches say (the Dashboard's "Resend"). */
  redeliver(event: OutgoingEvent) {
    void this.firstAttempt(event);
  }

  /** Resolves true once `count` deliveries have answered 2xx, false after the timeout. */
  wait(count: number, timeoutMs: number): Promise<boolean> {
    if (this.succeeded >= count) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        count,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Forgets deliveries, held events, pending retries and switches; keeps the endpoint. */
  reset() {
    this.generation++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const request of this.inflight) request.destroy();
    this.inflight.clear();
    this.held = [];
    this.log.length = 0;
    this.succeeded = 0;
    this.settings = defaultSettings();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.waiters.clear();
  }

  close() {
    this.reset();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private later(fn: () => void, ms: number) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private firstAttempt(event: OutgoingEvent): Promise<void> {
    const generation = this.generation;
    const delay = this.settings.delayMs;
    if (delay > 0) {
      return new Promise((resolve) => this.later(() => void this.attempt(event, 1, generation).then(resolve), delay));
    }
    return this.attempt(event, 1, generation);
  }

  private async attempt(event: OutgoingEvent, attempt: number, generation: number): Promise<void> {
    if (generation !== this.generation) return;
    const endpoint = this.endpoint;
    if (!endpoint) return;
    const status = await this.post(endpoint, event.body);
    if (generation !== this.generation) return;
    this.log.push({ eventId: event.id, type: event.type, attempt, status, at: Date.now() });
    this.options.log(`webhook ${event.id} ${event.type} attempt ${attempt} -> ${status || "connection error"}`);
    if (status >= 200 && status < 300) {
      this.succeeded++;
      this.options.onDelivered(event.id);
      for (const waiter of this.waiters) {
        if (this.succeeded >= waiter.count) {
          clearTimeout(waiter.timer);
          this.waiters.delete(waiter);
          waiter.resolve(true);
        }
      }
      return;
    }
    if (attempt < this.options.maxAttempts) {
      const delay = this.options.retryBaseMs * 2 ** (attempt - 1);
      this.later(() => void this.attempt(event, attempt + 1, generation), delay);
    }
  }

  /** The HTTP status of one POST, or 0 for a connection error or timeout. */
  private post(endpoint: Endpoint, body: string, retryingStaleSocket = false): Promise<number> {
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(endpoint.url);
      } catch {
        resolve(0);
        return;
      }
      const secure = url.protocol === "https:";
      const request = (secure ? https : http).request(url, {
        method: "POST",
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: {
          "Content-Type": "application/json; charset=utf-8",
          "Content-Length": Buffer.byteLength(body),
          "User-Agent": USER_AGENT,
          "Cache-Control": "no-cache",
          Accept: "*/*; q=0.5, application/xml",
          "Stripe-Signature": signatureHeader(body, endpoint.secret),
        },
      });
      let done = false;
      const finish = (status: number) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        this.inflight.delete(request);
        resolve(status);
      };
      const deadline = setTimeout(() => request.destroy(new Error("timeout")), DELIVERY_TIMEOUT_MS);
      request.on("response", (response) => {
        const status = response.statusCode ?? 0;
        response.on("end", () => finish(status));
        response.on("close", () => finish(status));
        response.on("error", () => finish(status));
        response.resume();
      });
      request.on("error", (error: NodeJS.ErrnoException) => {
        if (done) return;
        // A kept-alive socket the receiver had just closed: try once on a new one.
        if (request.reusedSocket && error.code === "ECONNRESET" && !retryingStaleSocket) {
          done = true;
          clearTimeout(deadline);
          this.inflight.delete(request);
          void this.post(endpoint, body, true).then(resolve);
          return;
        }
        finish(0);
      });
      this.inflight.add(request);
      request.end(body);
    });
  }
}
