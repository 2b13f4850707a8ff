// Preloaded by the benchmark's memory scenario only:
//   node --expose-gc --import ./bench/gc-on-signal.mjs server.js
// On SIGUSR2, runs a full garbage collection twice (the second after the
// finalizers the first one queued have run: undici releases request bodies
// through a FinalizationRegistry) and prints one line,
// `bench-memory {"rss":...,"heapUsed":...}`, so that what the process keeps
// can be told apart from garbage not yet collected.
process.on("SIGUSR2", () => {
  globalThis.gc?.();
  setTimeout(() => {
    globalThis.gc?.();
    const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.stderr.write(`bench-memory ${JSON.stringify({ rss, heapTotal, heapUsed, external, arrayBuffers })}\n`);
  }, 100);
});
