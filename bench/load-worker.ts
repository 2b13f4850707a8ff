import http from "node:http";

import autocannon from "autocannon";
import Stripe from "stripe";

import { formToken } from "./lib/cookie";
import { completedEvent } from "./lib/fixtures";
import { type LoadResult, type LoadSpec, type Summary, summarize, WARMED } from "./lib/load";

/**
 * The load generator, run as its own process by bench/lib/load.ts: it reads
 * one LoadSpec from BENCH_LOAD_SPEC, drives autocannon (over loopback), and
 * prints one JSON LoadResult line. Webhook bodies are signed here, right
 * before the run, so that every signature is well inside Stripe's 300 s
 * tolerance. Latencies are taken from autocannon's per-response event (a
 * float in ms) rather than its histogram, which keeps whole milliseconds.
 */

type Request = { method: string; path: string; headers: Record<string, string>; body?: string | Buffer };

function signed(payload: string, secret: string): Request {
  return {
    method: "POST",
    path: "/stripe/webhook",
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      "Stripe-Signature": Stripe.webhooks.generateTestHeaderString({ payload, secret }),
      "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    },
    body: Buffer.from(payload),
  };
}

/** Says the warm-up is over (runLoad's onWarm) and waits for the word to go on. */
function handshake() {
  return new Promise<void>((resolve) => {
    process.stdin.once("data", () => {
      process.stdin.pause();
      resolve();
    });
    process.stdout.write(WARMED);
  });
}

/** Requests handed out one at a time across all connections, in order. */
function sequence(next: () => Request) {
  return [
    {
      setupRequest: (request: Request) => {
        const r = next();
        request.method = r.method;
        request.path = r.path;
        request.headers = r.headers;
        request.body = r.body;
        return request;
      },
    },
  ];
}

function cannon(url: string, connections: number, amount: number, requests: unknown[]): Promise<Summary> {
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let last = started;
    const instance = autocannon(
      { url, connections, amount, requests: requests as autocannon.Request[], timeout: 30 },
      (error: Error | null, result: autocannon.Result) => {
        if (error) return reject(error);
        // Up to the last response: autocannon itself only stops on its next
        // one-second tick, which would round a short run's time up.
        const elapsedMs = Number(last - started) / 1e6;
        resolve(summarize(latencies, status, elapsedMs, { errors: result.errors, timeouts: result.timeouts }));
      },
    );
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      last = process.hrtime.bigint();
      latencies.push(responseTime);
      status[statusCode] = (status[statusCode] ?? 0) + 1;
    });
  });
}

/** One connection, node:http: the time to the response's head (first byte), and to its end. */
async function firstByte(url: string, path: string, headers: Record<string, string>, amount: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ttfb: number[] = [];
  const total: number[] = [];
  const status: Record<string, number> = {};
  const started = process.hrtime.bigint();
  for (let i = 0; i < amount; i++) {
    await new Promise<void>((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const request = http.get(`${url}${path}`, { agent, headers }, (response) => {
        ttfb.push(Number(process.hrtime.bigint() - t0) / 1e6);
        status[response.statusCode ?? 0] = (status[response.statusCode ?? 0] ?? 0) + 1;
        response.resume();
        response.on("end", () => {
          total.push(Number(process.hrtime.bigint() - t0) / 1e6);
          resolve();
        });
      });
      request.on("error", reject);
    });
  }
  agent.destroy();
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { ttfb: summarize(ttfb, status, elapsedMs), total: summarize(total, status, elapsedMs) };
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  switch (spec.kind) {
    case "webhook": {
      // Distinct events for distinct stored checkouts, signed now.
      const make = (from: number, count: number) => {
        const created = Math.floor(Date.now() / 1000);
        const list = Array.from({ length: count }, (_, k) =>
          signed(completedEvent(from + k, { created, salt: spec.salt }), spec.secret),
        );
        let i = 0;
        return sequence(() => {
          const r = list[i++];
          if (!r) throw new Error("the load worker ran out of prepared events");
          return r;
        });
      };
      const warmup =
        spec.warmup > 0 ? await cannon(spec.url, spec.connections, spec.warmup, make(spec.from, spec.warmup)) : null;
      if (spec.handshake) await handshake();
      const measured = await cannon(
        spec.url,
        spec.connections,
        spec.amount,
        make(spec.from + spec.warmup, spec.amount),
      );
      return { warmup, measured };
    }
    case "duplicate": {
      // One event, one signature, the same bytes every time: a static request.
      const request = signed(completedEvent(spec.index, { salt: spec.salt }), spec.secret);
      const measured = await cannon(spec.url, spec.connections, spec.amount, [request]);
      return { warmup: null, measured };
    }
    case "buy": {
      // The Buy form as a browser sends it: a fresh one-time token per submit.
      const form = () => ({
        method: "POST",
        path: spec.path,
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          Cookie: spec.cookie,
          Origin: spec.origin,
          "Sec-Fetch-Site": "same-origin",
        },
        body: `token=${formToken(spec.shopperId)}&quantity=1`,
      });
      const warmup = spec.warmup > 0 ? await cannon(spec.url, spec.connections, spec.warmup, sequence(form)) : null;
      const measured = await cannon(spec.url, spec.connections, spec.amount, sequence(form));
      return { warmup, measured };
    }
    case "get": {
      const request = { method: "GET", path: spec.path, headers: spec.headers };
      const warmup = spec.warmup > 0 ? await cannon(spec.url, spec.connections, spec.warmup, [request]) : null;
      const measured = await cannon(spec.url, spec.connections, spec.amount, [request]);
      return { warmup, measured };
    }
    case "ttfb": {
      if (spec.warmup > 0) await firstByte(spec.url, spec.path, spec.headers, spec.warmup);
      const { ttfb, total } = await firstByte(spec.url, spec.path, spec.headers, spec.amount);
      return { warmup: null, measured: ttfb, total };
    }
  }
}

const spec = JSON.parse(process.env.BENCH_LOAD_SPEC ?? "null") as LoadSpec | null;
if (!spec) {
  console.error("load-worker: BENCH_LOAD_SPEC is required (bench/lib/load.ts starts this)");
  process.exit(2);
}
main(spec).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    console.error(`load-worker: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
