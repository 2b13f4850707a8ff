// The child of tests/integration/log-lines-per-turn.test.ts: production's logger,
// with every write(2) to stdout (fd 1, where its JSON goes) counted on stderr as
// `writes=<n>` at the moment it happens. argv[2] says what to do.
import fs from "node:fs";

let writes = 0;
const writeSync = fs.writeSync;
fs.writeSync = function countedWriteSync(this: unknown, fd: number, ...rest: unknown[]) {
  if (fd === 1) writes++;
  return (writeSync as (...args: unknown[]) => number).call(this, fd, ...rest);
} as typeof fs.writeSync;
const count = (label: string) => process.stderr.write(`${label} writes=${writes}\n`);

const { logger } = await import("../../app/lib/logger.server");

switch (process.argv[2]) {
  case "turns":
    // Three lines in one turn of the event loop, then one in the next.
    logger.info("line one");
    logger.info("line two");
    logger.info("line three");
    count("after three lines");
    setTimeout(() => {
      count("a turn later");
      logger.info("line four");
      setTimeout(() => count("at the end"), 20);
    }, 20);
    break;
  case "error":
    logger.info("before the error");
    logger.error("the error");
    count("right after the error line");
    break;
  case "exit":
    logger.info("the last line before process.exit");
    process.exit(0);
    break;
  case "crash":
    logger.info("the last line before an uncaught exception");
    throw new Error("crashed on purpose");
}
