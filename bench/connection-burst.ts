import http from "node:http";
import path from "node:path";

import { freePort, root, spawnNode } from "../tests/support/processes";
import { median } from "./lib/load";

/**
 * Where the duplicate storm's p99 comes from (docs/benchmarks.md): a burst of
 * new connections against a bare node:http server (bench/burst-server.mjs, no
 * shop code), as the storm's load generator opens them. For each round: a new
 * client with CONNECTIONS keep-alive connections sends REQUESTS posts of a
 * webhook's size; then the same again over the connections it already has.
 * Printed per round: the latency of both, and how long the server took to
 * accept() each connection after the client's connect() had completed
 * (matched by the client's port).
 *   node --import tsx bench/connection-burst.ts
 *   BURST_ROUNDS=5 BURST_CONNECTIONS=64 BURST_REQUESTS=2000 BURST_CPU_US=800
 */

const rounds = Number(process.env.BURST_ROUNDS ?? 5);
const connections = Number(process.env.BURST_CONNECTIONS ?? 64);
const requests = Number(process.env.BURST_REQUESTS ?? 2_000);
const body = "x".repeat(2_500);

type Stats = { p50: number; p99: number; max: number; seconds: number };

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** `requests` posts over `agent`, `connections` at a time; the connect time of each new socket, by its port. */
async function load(port: number, agent: http.Agent, connectedAt: Map<number, number>): Promise<Stats> {
  const latencies: number[] = [];
  const started = performance.now();
  let next = 0;
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const start = performance.now();
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          path: "/stripe/webhook",
          method: "POST",
          agent,
          headers: { "Content-Length": body.length },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) reject(new Error(`the server answered ${res.statusCode}`));
            latencies.push(performance.now() - start);
            resolve();
          });
        },
      );
      req.on("socket", (socket) => {
        // A new socket (a reused one has connected already).
        if (socket.connecting) {
          socket.once("connect", () => connectedAt.set(socket.localPort!, performance.timeOrigin + performance.now()));
        }
      });
      req.on("error", reject);
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next++ < requests) await post();
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1)!,
    seconds: (performance.now() - started) / 1000,
  };
}

const port = await freePort();
const server = spawnNode("bench/burst-server.mjs", [path.join(root, "bench/burst-server.mjs")], {
  env: { PORT: String(port), BURST_CPU_US: process.env.BURST_CPU_US ?? "800" },
});
try {
  await server.nextLine(/^burst-server listening/);
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const coldP99: number[] = [];
  const warmP99: number[] = [];
  console.log(
    `${rounds} rounds: ${requests} posts over ${connections} new connections, then ${requests} over the same connections`,
  );
  for (let r = 0; r < rounds; r++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    const connectedAt = new Map<number, number>();
    const from = server.output.length;
    const cold = await load(port, agent, connectedAt);
    const warm = await load(port, agent, connectedAt);
    agent.destroy();
    const delays: number[] = [];
    for (const line of server.output.slice(from)) {
      const match = /^accept (\d+) ([\d.]+)$/.exec(line);
      if (!match) continue;
      const connected = connectedAt.get(Number(match[1]));
      if (connected !== undefined) delays.push(Number(match[2]) - connected);
    }
    delays.sort((a, b) => a - b);
    coldP99.push(cold.p99);
    warmP99.push(warm.p99);
    console.log(
      `round ${r + 1}: new connections p50 ${ms(cold.p50)} p99 ${ms(cold.p99)} max ${ms(cold.max)}; ` +
        `the same connections p50 ${ms(warm.p50)} p99 ${ms(warm.p99)} max ${ms(warm.max)}; ` +
        `accept() after connect: median ${ms(median(delays))}, max ${ms(delays.at(-1) ?? Number.NaN)}, ` +
        `${delays.filter((d) => d > 50).length} of ${delays.length} over 50 ms`,
    );
  }
  console.log(`median p99: new connections ${ms(median(coldP99))}, the same connections ${ms(median(warmP99))}`);
} finally {
  await server.stop();
}
