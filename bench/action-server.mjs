// Decomposition of the webhook's cost: the app's own webhook action (the
// built routes/stripe.webhook module: bounded body read, signature check,
// state machine, log lines, JSON answer) behind a bare node:http server,
// without server.js's adapter or Remix's server runtime. Configured by the
// same environment as server.js.
//   BENCH_APP_DIR=.cache/bench/app PORT=... DATABASE_PATH=... (app env) node bench/action-server.mjs
// With BENCH_ACTION_VIA=remix the same bare adapter hands the Request to
// Remix's createRequestHandler instead of the action: the difference between
// the two is Remix's handler, and server.js beside this one is server.js's
// own adapter (the request guard, the request id, the streamed body).
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { createRequestHandler } from "@remix-run/node";

const appDir = process.env.BENCH_APP_DIR ?? ".";
const build = await import(pathToFileURL(path.resolve(appDir, "build/server/index.js")).href);
const routeAction = build.routes["routes/stripe.webhook"]?.module.action;
if (!routeAction) {
  console.error("action-server: the build has no routes/stripe.webhook action");
  process.exit(1);
}
const viaRemix = process.env.BENCH_ACTION_VIA === "remix";
// As server.js hands a resource route's requests to Remix (docs/decisions/192-resource-route-handlers.md):
// a build holding only the route's branch.
const webhookBranch = { root: build.routes.root, "routes/stripe.webhook": build.routes["routes/stripe.webhook"] };
const handleRemix = viaRemix ? createRequestHandler({ ...build, routes: webhookBranch }, "production") : null;
const action = viaRemix ? ({ request }) => handleRemix(request, { clientAddress: "127.0.0.1" }) : routeAction;
const port = Number(process.env.PORT ?? 3002);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", async () => {
    try {
      const headers = new Headers();
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
      const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
        method: req.method,
        headers,
        body: Buffer.concat(chunks),
      });
      const response = await action({ request, params: {}, context: {} });
      const body = Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, Object.fromEntries(response.headers)).end(body);
    } catch (error) {
      if (error instanceof Response) res.writeHead(error.status).end();
      else res.writeHead(500).end(String(error));
    }
  });
});
server.keepAliveTimeout = 5_000;
server.listen(port, "127.0.0.1", () =>
  process.stdout.write(`action-server listening on http://127.0.0.1:${port}${viaRemix ? " (via Remix)" : ""}\n`),
);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
