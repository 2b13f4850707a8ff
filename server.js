// The production server (`npm start`): the built Remix app behind Express.
// Configuration is validated when the build is imported; a bad value stops
// here with its message only. See docs/decisions/001-custom-express-server.md.
import { randomBytes } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createRequestHandler } from "@remix-run/express";
import express from "express";

const here = path.dirname(fileURLToPath(import.meta.url));

let build;
try {
  build = await import(path.join(here, "build/server/index.js"));
} catch (error) {
  if (error && error.name === "ConfigError") {
    console.error(error.message);
  } else if (error && error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("build/server")) {
    console.error("No build found: run `npm run build` first.");
  } else {
    console.error("The server could not start:", error instanceof Error ? error.message : error);
  }
  process.exit(1);
}

const { config, bodyLimitFor, isSameOrigin, CROSS_SITE_MESSAGE } = build.entry.module;

const app = express();
app.disable("x-powered-by");
app.set("etag", false);

app.use((req, res, next) => {
  // A reference id for logs and error pages; never trusted from the client.
  const id = randomBytes(8).toString("hex");
  req.headers["x-request-id"] = id;
  res.setHeader("X-Request-Id", id);
  res.setHeader("X-Content-Type-Options", "nosniff");
  if (config.production) res.setHeader("Strict-Transport-Security", "max-age=63072000; includeSubDomains");

  // Another site's form posts are refused here, before Remix's own origin
  // check (which would answer 500). Stripe's webhook calls come from no site.
  if (req.method !== "GET" && req.method !== "HEAD" && req.path !== "/stripe/webhook") {
    const headers = { get: (name) => req.get(name) ?? null };
    if (!isSameOrigin(headers, `${req.protocol}://${req.get("host")}`)) {
      res.status(403).type("text/plain").send(CROSS_SITE_MESSAGE);
      req.resume();
      return;
    }
  }

  // Bodies are bounded before anything reads them.
  const limit = bodyLimitFor(req.path);
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    res.status(413).type("text/plain").send(`The request is too large (at most ${limit} bytes).`);
    req.resume();
    return;
  }
  if (declared === undefined && req.headers["transfer-encoding"] && req.path !== "/stripe/webhook") {
    // Browsers send forms with a length; the webhook route counts a chunked body itself.
    res.status(411).type("text/plain").send("A Content-Length is required.");
    req.resume();
    return;
  }
  next();
});

// Fingerprinted assets are immutable; everything else in public/ briefly cached.
app.use("/assets", express.static(path.join(here, "build/client/assets"), { immutable: true, maxAge: "1y" }));
app.use(express.static(path.join(here, "build/client"), { maxAge: "1h" }));

app.all(
  "*",
  createRequestHandler({
    build,
    mode: config.production ? "production" : "development",
    // The socket's peer, for the success page's guessing bound. Behind a proxy
    // this is the proxy: see docs/decisions/021-guessing-bound.md.
    getLoadContext: (req) => ({ clientAddress: req.socket.remoteAddress }),
  }),
);

const server = http.createServer(
  {
    headersTimeout: config.http.headersTimeoutMs,
    requestTimeout: config.http.requestTimeoutMs,
    // How often Node checks the two timeouts above (its default is 30 s).
    connectionsCheckingInterval: Math.min(1_000, config.http.headersTimeoutMs),
    keepAliveTimeout: 5_000,
  },
  app,
);

server.listen(config.port, () => {
  const { port } = server.address();
  console.log(`shop listening on http://localhost:${port}`);
  build.entry.module.startReconcileSchedule?.();
});
// The job worker, unless WORKER=off (app/lib/jobs/start.server.ts).
const stopJobs = build.entry.module.startJobs?.() ?? (async () => {});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    // Running jobs finish or are released before the process ends.
    const jobsStopped = stopJobs().catch(() => {});
    server.close(() => void jobsStopped.then(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
