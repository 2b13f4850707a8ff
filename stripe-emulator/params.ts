/**
 * Stripe's request encoding: application/x-www-form-urlencoded with bracket
 * nesting (`a[b][0][c]=1`, `expand[]=x`). Values stay strings, as on the wire.
 */

export type ParamValue = string | Params | ParamValue[];
export type Params = { [key: string]: ParamValue };

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

/** `a[b][]` -> ["a", "b", ""]. */
function keyPath(key: string): string[] {
  const open = key.indexOf("[");
  if (open <= 0) return [key];
  const parts = [key.slice(0, open)];
  const re = /\[([^\]]*)\]/g;
  re.lastIndex = open;
  let match: RegExpExecArray | null;
  let end = open;
  while ((match = re.exec(key)) !== null && match.index === end) {
    parts.push(match[1]!);
    end = re.lastIndex;
  }
  if (end !== key.length) parts.push(key.slice(end));
  return parts;
}

function newParams(): Params {
  return Object.create(null) as Params;
}

function assign(root: Params, path: string[], value: string) {
  let container: Params | ParamValue[] = root;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const last = i === path.length - 1;
    if (Array.isArray(container)) {
      if (last) {
        container.push(value);
        return;
      }
      // `a[][b]=1`: a new element per occurrence.
      const next: ParamValue = path[i + 1] === "" ? [] : newParams();
      container.push(next);
      container = next as Params | ParamValue[];
      continue;
    }
    if (last) {
      container[segment] = value;
      return;
    }
    const wantArray = path[i + 1] === "";
    let next: ParamValue | undefined = container[segment];
    if (next === undefined || typeof next === "string" || Array.isArray(next) !== wantArray) {
      next = wantArray ? [] : newParams();
      container[segment] = next;
    }
    container = next as Params | ParamValue[];
  }
}

export function parseForm(body: string): Params {
  const root = newParams();
  if (!body) return root;
  for (const pair of body.split("&")) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? "" : pair.slice(eq + 1);
    const key = decode(rawKey);
    if (!key) continue;
    assign(root, keyPath(key), decode(rawValue));
  }
  return root;
}

/** JSON bodies (allowed for convenience) become the same string-valued shape. */
export function normalizeJson(value: unknown): ParamValue {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(normalizeJson);
  if (typeof value === "object") {
    const out = newParams();
    for (const [k, v] of Object.entries(value)) out[k] = normalizeJson(v);
    return out;
  }
  return String(value);
}

export function isHash(value: ParamValue | undefined): value is Params {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Stripe's arrays arrive as `x[0]=..&x[1]=..` (an object keyed by indices) or
 * `x[]=..`; both become an array, ordered by index. Undefined stays undefined.
 */
export function asArray(value: ParamValue | undefined): ParamValue[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return value === "" ? [] : [value];
  const keys = Object.keys(value);
  if (!keys.every((k) => /^\d+$/.test(k))) return undefined;
  return keys.sort((a, b) => Number(a) - Number(b)).map((k) => value[k]!);
}

/** The list of `expand` paths of a request. */
export function expandList(params: Params): string[] {
  const list = asArray(params.expand);
  if (!list) return [];
  return list.filter((v): v is string => typeof v === "string" && v !== "");
}

/** A plain, JSON-friendly copy (null-prototype objects become ordinary ones). */
export function toPlain(value: ParamValue): unknown {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(toPlain);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
}

/** Same parameters, whatever order their keys came in. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
}
