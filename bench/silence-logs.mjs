// Preloaded with `node --import ./bench/silence-logs.mjs server.js` by the
// benchmark's decomposition only, to measure what the per-event log lines cost:
// nothing is written to stdout. In production the logger (pino) writes each JSON
// line with fs.writeSync on fd 1 (app/lib/logger.server.ts), past console; in
// development it prints through console.info. Both are silenced here; the
// writes on fd 1 answer that every byte was written, as the system call would.
// Warnings and errors through console still print, and process.stdout (the
// bench's own "listening" lines) is a stream that does not use fs.writeSync.
import fs from "node:fs";

console.info = () => {};
console.log = () => {};

const writeSync = fs.writeSync;
fs.writeSync = function silencedWriteSync(fd, data, ...rest) {
  if (fd !== 1) return writeSync.call(this, fd, data, ...rest);
  return typeof data === "string"
    ? Buffer.byteLength(data, typeof rest[0] === "string" ? rest[0] : "utf8")
    : data.byteLength;
};
