import path from "node:path";
import { pathToFileURL } from "node:url";

import { summarize } from "./lib/load";

/**
 * The success page's loader called in-process, without HTTP or rendering:
 * imports the built server (the same build/server/index.js that server.js
 * serves, configured by the same environment) and calls the route's loader
 * with a Request carrying the shopper's cookie.
 *   BENCH_APP_DIR=. BENCH_URL=http://x/checkout/success?session_id=cs_... BENCH_COOKIE=... \
 *   DATABASE_PATH=... (and the app's env) node --import tsx bench/success-inprocess.ts 200 2000
 */

type Loader = (args: {
  request: Request;
  params: Record<string, string>;
  context: Record<string, unknown>;
}) => Promise<unknown>;

const [warmup = 200, amount = 2000] = process.argv.slice(2).map(Number);
const appDir = process.env.BENCH_APP_DIR ?? ".";
const url = process.env.BENCH_URL ?? "";
const cookie = process.env.BENCH_COOKIE ?? "";

const build = (await import(pathToFileURL(path.resolve(appDir, "build/server/index.js")).href)) as {
  routes: Record<string, { module: { loader?: Loader } }>;
};
const loader = build.routes["routes/checkout.success"]?.module.loader;
if (!loader) throw new Error("the build has no routes/checkout.success loader");

async function call() {
  const request = new Request(url, { headers: { Cookie: cookie } });
  const response = (await loader!({ request, params: {}, context: {} })) as Response;
  if (response.status !== 200) throw new Error(`the loader answered ${response.status}`);
  return response;
}

async function loop(count: number) {
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await call();
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return summarize(latencies, { 200: count }, Number(process.hrtime.bigint() - started) / 1e6);
}

const first = (await (await call()).json()) as { state?: string };
if (first.state !== "paid") throw new Error(`expected a paid order, the loader said ${JSON.stringify(first)}`);
if (warmup > 0) await loop(warmup);
const measured = await loop(amount);
process.stdout.write(`${JSON.stringify({ warmup: null, measured })}\n`);
process.exit(0);
