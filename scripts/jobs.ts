// `npm run jobs`: what the job queue holds (app/lib/jobs/), a dead job's
// error, and requeuing dead jobs. Reads the configured database.
import { parseArgs } from "node:util";

import type { JobRecord, JobState } from "~/lib/jobs/types";

const USAGE = `Usage: npm run jobs -- [options]

With no option: how many jobs are in each state, the dead ones with their last error, and
the ones waiting or running.

Options:
  --state <state>     list the jobs in one state: pending, running, done or dead
  --show <id>         everything about one job, with its last error
  --retry <id|all>    make one dead job (or every dead job) pending again, attempts from zero
  --limit <n>         how many jobs a list shows (default 20)
  -h, --help          show this text

Exit codes: 0 done; 1 no such job, or it is not dead; 2 bad arguments or configuration.`;

const STATES: readonly JobState[] = ["pending", "running", "done", "dead"];

function exit(code: number, message: string): never {
  (code === 0 ? process.stdout : process.stderr).write(`${message}\n`);
  process.exit(code);
}

let values;
try {
  ({ values } = parseArgs({
    strict: true,
    options: {
      state: { type: "string" },
      show: { type: "string" },
      retry: { type: "string" },
      limit: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (error: unknown) {
  exit(2, `${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
}
if (values.help) exit(0, USAGE);

const idOf = (text: string, option: string) => {
  if (!/^\d+$/.test(text))
    exit(2, `--${option} takes a job id (a number)${option === "retry" ? " or all" : ""}, not "${text}"`);
  return Number(text);
};
const limit = values.limit === undefined ? 20 : idOf(values.limit, "limit");
if (values.state !== undefined && !STATES.includes(values.state as JobState)) {
  exit(2, `--state must be one of ${STATES.join(", ")}, not "${values.state}"`);
}

let start: typeof import("~/lib/jobs/start.server");
try {
  start = await import("~/lib/jobs/start.server");
} catch (error: unknown) {
  if (error instanceof Error && error.name === "ConfigError") exit(2, error.message);
  throw error;
}
const { store } = start.configuredJobDatabase();

const when = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const line = (job: JobRecord) => {
  const extra =
    job.state === "pending" && job.attempts > 0
      ? `, retry at ${when(job.runAfter)}`
      : job.state === "pending"
        ? `, due ${when(job.runAfter)}`
        : job.state === "running"
          ? `, lease until ${when(job.leaseExpiresAt ?? 0)}`
          : `, ${job.state} ${when(job.updatedAt)}`;
  return `  #${job.id}  ${job.kind}  ${job.key}  (${job.attempts} attempt${job.attempts === 1 ? "" : "s"}${extra})`;
};
const print = (lines: string[]) => process.stdout.write(`${lines.join("\n")}\n`);

if (values.retry !== undefined) {
  const target = values.retry === "all" ? "all" : idOf(values.retry, "retry");
  const n = await store.requeueDead(target, Date.now());
  if (target === "all") exit(0, n === 0 ? "No dead jobs to retry." : `Requeued ${n} dead job${n === 1 ? "" : "s"}.`);
  if (n === 1) exit(0, `Requeued job #${target}: it runs again as soon as a worker is free.`);
  const job = await store.get(target);
  exit(1, job ? `Job #${target} is ${job.state}, not dead: nothing to retry.` : `No job #${target}.`);
}

if (values.show !== undefined) {
  const id = idOf(values.show, "show");
  const job = await store.get(id);
  if (!job) exit(1, `No job #${id}.`);
  print([
    `Job #${job.id}: ${job.state}`,
    `  kind:       ${job.kind}`,
    `  key:        ${job.key}`,
    `  attempts:   ${job.attempts}`,
    `  run after:  ${when(job.runAfter)}`,
    `  created:    ${when(job.createdAt)}`,
    `  updated:    ${when(job.updatedAt)}`,
    ...(job.leaseOwner ? [`  lease:      ${job.leaseOwner} until ${when(job.leaseExpiresAt ?? 0)}`] : []),
    `  payload:    ${job.payload}`,
    `  last error: ${job.lastError ?? "none"}`,
    ...(job.state === "dead" ? ["", `Retry it with: npm run jobs -- --retry ${job.id}`] : []),
  ]);
  process.exit(0);
}

if (values.state !== undefined) {
  const state = values.state as JobState;
  const jobs = await store.list({ state, limit });
  print(jobs.length === 0 ? [`No ${state} jobs.`] : [`${state} jobs (newest first):`, ...jobs.map(line)]);
  process.exit(0);
}

const counts = await store.counts();
const out = [`Jobs: ${STATES.map((state) => `${counts[state]} ${state}`).join(", ")}`];
if (counts.dead > 0) {
  out.push("", `Dead (given up; retry with --retry ID or --retry all):`);
  for (const job of await store.list({ state: "dead", limit })) {
    out.push(line(job), `      last error: ${job.lastError ?? "none"}`);
  }
}
for (const state of ["running", "pending"] as const) {
  if (counts[state] === 0) continue;
  out.push("", `${state[0]?.toUpperCase()}${state.slice(1)}:`, ...(await store.list({ state, limit })).map(line));
}
if (counts.dead === 0) out.push("", "Nothing has failed for good.");
print(out);
