// The bare server of bench/connection-burst.ts: node:http with nothing of the
// shop in it. Each POST reads its body and spends BURST_CPU_US of CPU (about what
// one webhook costs the shop's server.js), and the answers of the requests read in
// one turn of the event loop go out together after it (setImmediate), as the
// shop's group commit answers them. Each accepted connection prints
// `accept <client port> <epoch ms>`, for the client to match with its connect.
//   PORT=... BURST_CPU_US=800 node bench/burst-server.mjs
import http from "node:http";

const cpuUs = Number(process.env.BURST_CPU_US ?? 800);
const spin = (us) => {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
};

let answers = [];
let scheduled = false;
function flush() {
  scheduled = false;
  const batch = answers;
  answers = [];
  for (const answer of batch) answer();
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    spin(cpuUs);
    answers.push(() => res.writeHead(200, { "Content-Type": "application/json" }).end('{"received":true}'));
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
});
server.on("connection", (socket) => {
  process.stdout.write(`accept ${socket.remotePort} ${(performance.timeOrigin + performance.now()).toFixed(1)}\n`);
});
server.listen(Number(process.env.PORT), "127.0.0.1", () => process.stdout.write("burst-server listening\n"));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
