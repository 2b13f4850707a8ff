import { invalid } from "./errors";
import type { Params } from "./params";

/**
 * Objects kept in creation order with O(1) lookup, and Stripe's list
 * pagination over them: newest first, `limit` 1..100 (default 10),
 * `starting_after` / `ending_before` cursors, `has_more`.
 */

export class Collection<T extends { id: string }> {
  private items: T[] = [];
  private index = new Map<string, number>();

  add(item: T) {
    this.index.set(item.id, this.items.length);
    this.items.push(item);
  }
  get(id: string): T | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.items[i];
  }
  position(id: string): number | undefined {
    return this.index.get(id);
  }
  /** Oldest first. */
  all(): readonly T[] {
    return this.items;
  }
  get size() {
    return this.items.length;
  }
  clear() {
    this.items = [];
    this.index.clear();
  }
}

export type ListObject<U> = { object: "list"; data: U[]; has_more: boolean; url: string };

export function parseLimit(params: Params): number {
  const raw = params.limit;
  if (raw === undefined || raw === "") return 10;
  if (typeof raw !== "string" || !/^-?\d+$/.test(raw))
    throw invalid(`Invalid integer: ${String(raw)}`, "limit", "parameter_invalid_integer");
  const limit = Number(raw);
  if (limit < 1) throw invalid("This value must be greater than or equal to 1.", "limit");
  if (limit > 100) throw invalid("This value must be less than or equal to 100.", "limit");
  return limit;
}

/**
 * One page of `items` (oldest first in storage), newest first on the page.
 * `positionOf` finds a cursor's place; `kind` names it in the error.
 */
export function paginate<T extends { id: string }, U = T>(
  items: readonly T[],
  params: Params,
  options: {
    url: string;
    kind: string;
    positionOf: (id: string) => number | undefined;
    filter?: (item: T) => boolean;
    render?: (item: T) => U;
  },
): ListObject<U> {
  const limit = parseLimit(params);
  const after =
    typeof params.starting_after === "string" && params.starting_after !== "" ? params.starting_after : undefined;
  const before =
    typeof params.ending_before === "string" && params.ending_before !== "" ? params.ending_before : undefined;
  if (after && before) {
    throw invalid("You may only specify one of these parameters: ending_before, starting_after.", "ending_before");
  }
  const filter = options.filter ?? (() => true);
  const render = options.render ?? ((item: T) => item as unknown as U);
  const picked: T[] = [];
  let hasMore = false;
  if (before) {
    const at = options.positionOf(before);
    if (at === undefined) throw invalid(`No such ${options.kind}: '${before}'`, "ending_before", "resource_missing");
    // The `limit` items just newer than the cursor, then newest first.
    for (let i = at + 1; i < items.length; i++) {
      const item = items[i]!;
      if (!filter(item)) continue;
      if (picked.length === limit) {
        hasMore = true;
        break;
      }
      picked.push(item);
    }
    picked.reverse();
  } else {
    let start = items.length - 1;
    if (after) {
      const at = options.positionOf(after);
      if (at === undefined) throw invalid(`No such ${options.kind}: '${after}'`, "starting_after", "resource_missing");
      start = at - 1;
    }
    for (let i = start; i >= 0; i--) {
      const item = items[i]!;
      if (!filter(item)) continue;
      if (picked.length === limit) {
        hasMore = true;
        break;
      }
      picked.push(item);
    }
  }
  return { object: "list", data: picked.map(render), has_more: hasMore, url: options.url };
}

/** `created=123` or `created[gt|gte|lt|lte]=123` as a predicate. */
export function createdFilter(params: Params, param = "created"): ((created: number) => boolean) | undefined {
  const raw = params[param];
  if (raw === undefined || raw === "") return undefined;
  const toInt = (value: unknown, name: string) => {
    if (typeof value !== "string" || !/^\d+$/.test(value))
      throw invalid(`Invalid integer: ${String(value)}`, name, "parameter_invalid_integer");
    return Number(value);
  };
  if (typeof raw === "string") {
    const exact = toInt(raw, param);
    return (c) => c === exact;
  }
  if (Array.isArray(raw)) throw invalid(`Invalid ${param}: must be an integer or a hash`, param);
  const checks: Array<(c: number) => boolean> = [];
  for (const [op, value] of Object.entries(raw)) {
    const n = toInt(value, `${param}[${op}]`);
    if (op === "gt") checks.push((c) => c > n);
    else if (op === "gte") checks.push((c) => c >= n);
    else if (op === "lt") checks.push((c) => c < n);
    else if (op === "lte") checks.push((c) => c <= n);
    else throw invalid(`Received unknown parameter: ${param}[${op}]`, `${param}[${op}]`, "parameter_unknown");
  }
  return (c) => checks.every((check) => check(c));
}
