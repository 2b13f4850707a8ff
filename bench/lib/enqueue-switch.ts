import * as real from "../../app/lib/jobs/enqueue.server";

/**
 * Stands in for app/lib/jobs/enqueue.server.ts in bench/jobs.ts's child
 * (enqueue-switch-hooks.mjs): the real enqueue, unless the benchmark has
 * switched it off to measure the state machine without it. Off, an enqueue
 * writes nothing and says it added the job. A server process started with
 * BENCH_ENQUEUE=off (bench/jobs.ts's HTTP pass) starts with it off.
 */

export const enqueueSwitch = { on: process.env.BENCH_ENQUEUE !== "off" };

export const enqueueSqlite: typeof real.enqueueSqlite = (...args) =>
  enqueueSwitch.on ? real.enqueueSqlite(...args) : true;

export const enqueuePg: typeof real.enqueuePg = async (...args) => (enqueueSwitch.on ? real.enqueuePg(...args) : true);

export const pgEnqueueFolded: typeof real.pgEnqueueFolded = (...args) =>
  enqueueSwitch.on ? real.pgEnqueueFolded(...args) : null;
