/**
 * Stripe's idempotency layer for POST requests: the first response for a key
 * (2xx, or a 5xx raised while executing) is saved for 24 hours and replayed
 * for the same key with the same endpoint and parameters; a different
 * endpoint or different parameters answer 400 idempotency_error. Requests that
 * fail validation are not saved, so a corrected retry with the same key runs.
 */

export type SavedResponse = {
  method: string;
  path: string;
  fingerprint: string;
  status: number;
  body: string;
  requestId: string;
  at: number;
};

const TTL_MS = 24 * 3600 * 1000;
const MAX_KEYS = 200_000;

export class IdempotencyStore {
  private saved = new Map<string, SavedResponse>();

  get(key: string): SavedResponse | undefined {
    const entry = this.saved.get(key);
    if (entry && Date.now() - entry.at > TTL_MS) {
      this.saved.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, response: SavedResponse) {
    this.saved.set(key, response);
    if (this.saved.size > MAX_KEYS) {
      // Forget the oldest keys first (a Map iterates in insertion order).
      let drop = this.saved.size - MAX_KEYS + 1000;
      for (const oldest of this.saved.keys()) {
        if (drop-- <= 0) break;
        this.saved.delete(oldest);
      }
    }
  }

  clear() {
    this.saved.clear();
  }

  get size() {
    return this.saved.size;
  }
}
