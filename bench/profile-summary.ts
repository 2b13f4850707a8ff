import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/**
 * Where a server's CPU time went, from a V8 profile (`node --cpu-prof`, or
 * `BENCH_PROFILE=1 npm run bench`): self time by package or area, and the
 * inclusive time of the calls that decide a request's cost (request adaptation,
 * logging, compression, JSON, the transaction, the fsync).
 *   npx tsx bench/profile-summary.ts .cache/bench/profiles/<run>/CPU....cpuprofile [more...]
 *   npx tsx bench/profile-summary.ts .cache/bench/profiles/<run>     (every profile in it)
 *   --focus=createCheckout,action   also the inclusive time of functions with these names
 *   PROFILE_TOP=60                  list that many top functions (25 by default)
 */

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  if (url.startsWith("node:"))
    return url.replace(/^node:internal\/(\w+).*/, "node:$1").replace(/^node:(\w+).*/, "node:$1");
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.includes("/build/server/")) return "app (build/server)";
  return path.basename(url);
}

/** Inclusive buckets: a sample counts once for each bucket any frame of its stack falls in. */
const INCLUSIVE: [string, (fn: string, url: string) => boolean][] = [
  [
    "express (routing, middleware)",
    (_f, u) => /node_modules\/(express|router|body-parser|finalhandler|send|serve-static)\//.test(u),
  ],
  ["Remix request adaptation (@remix-run/express)", (_f, u) => u.includes("@remix-run/express/")],
  ["Remix server runtime", (_f, u) => u.includes("@remix-run/server-runtime/")],
  [
    "undici / web streams (Request, Response, body)",
    (_f, u) => /node:internal\/deps\/undici|node:internal\/webstreams|@remix-run\/web-|undici/.test(u),
  ],
  [
    "signature check (stripe constructEvent)",
    (f, u) => u.includes("/stripe/") && /constructEvent|verifyHeader|computeSignature|computeHMACSignature/.test(f),
  ],
  ["JSON.parse", (f) => f === "parse" || f === "JSON.parse"],
  ["JSON.stringify", (f) => f === "stringify" || f === "JSON.stringify"],
  ["drizzle (query building, mapping)", (_f, u) => u.includes("drizzle-orm/")],
  ["better-sqlite3 (SQLite work, fsync)", (_f, u) => u.includes("better-sqlite3/")],
  [
    "logging (console.*)",
    (f, u) => (u === "node:internal/console/constructor" || u.startsWith("node:internal/console")) && f !== "",
  ],
  [
    "stream writes (sockets and stdout, all)",
    (f, u) =>
      u.includes("node:internal/streams/writable") ||
      (u.includes("node:net") && /writeGeneric|_writeGeneric|_write/.test(f)),
  ],
  // A query's messages and their socket write (pg corks a named statement's into one writev).
  [
    "queries sent to PostgreSQL (pg submit, socket write)",
    (f, u) => /node_modules\/pg\/lib\/query\.js/.test(u) && f === "submit",
  ],
  ["log lines written (sonic-boom)", (_f, u) => u.includes("node_modules/sonic-boom/")],
  ["HTTP responses written", (f, u) => u.includes("node:_http_outgoing") && /^(end|write|_send|_writeRaw)$/.test(f)],
  ["compression (zlib)", (_f, u) => u.startsWith("node:zlib") || u.includes("compression/")],
  ["React render", (_f, u) => u.includes("react-dom/")],
  [
    "cookies, HMAC",
    (f, u) =>
      u.includes("@remix-run/server-runtime/dist/crypto") ||
      u.includes("cookie-signature") ||
      (/sign|unsign|verify/.test(f) && u.includes("cookies")),
  ],
  ["garbage collector", (f) => f === "(garbage collector)"],
];

const focus =
  process.argv
    .find((a) => a.startsWith("--focus="))
    ?.slice("--focus=".length)
    .split(",") ?? [];
for (const name of focus) INCLUSIVE.push([`function ${name}()`, (f) => f === name]);

function summarize(file: string) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idle = [...selfUs.entries()]
    .filter(([id]) => byId.get(id)!.callFrame.functionName === "(idle)")
    .reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;

  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const key = `${functionName || "(anonymous)"} ${url ? `${path.basename(url)}:${lineNumber + 1}` : ""}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + us);
    const hit = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      for (const [name, test] of INCLUSIVE) if (!hit.has(name) && test(frame.functionName, frame.url)) hit.add(name);
    }
    for (const name of hit) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }

  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const top = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  console.log(
    `\n${file}\n  ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%); shares below are of busy time`,
  );
  console.log("  self time by area:");
  for (const [name, us] of top(areas, 16)) console.log(`    ${pct(us)}  ${name}`);
  console.log("  inclusive time (a stack counts once per line):");
  for (const [name, us] of [...inclusive.entries()].sort((a, b) => b[1] - a[1])) console.log(`    ${pct(us)}  ${name}`);
  console.log("  top functions by self time:");
  for (const [name, us] of top(functions, Number(process.env.PROFILE_TOP ?? 25)))
    console.log(`    ${pct(us)}  ${name}`);
}

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
if (args.length === 0) {
  console.error("usage: npx tsx bench/profile-summary.ts <file.cpuprofile | folder>...");
  process.exit(2);
}
for (const arg of args) {
  const files = statSync(arg).isDirectory()
    ? readdirSync(arg)
        .filter((f) => f.endsWith(".cpuprofile"))
        .map((f) => path.join(arg, f))
    : [arg];
  for (const file of files) summarize(file);
}
