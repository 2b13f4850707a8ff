// Preloaded with `node --import ./bench/silence-logs.mjs server.js` by the
// benchmark's decomposition only: console.info and console.log print nothing,
// to measure what the per-event log lines cost. Warnings and errors still print.
console.info = () => {};
console.log = () => {};
