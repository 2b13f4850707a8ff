// The production server (`npm start`): the built Remix app behind node:http
// and a small fetch adapter (Request in, Response out). Configuration is
// validated when the build is imported; a bad value stops here with its
// message only. See docs/decisions/160-node-http-server.md.
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createReadableStreamFromReadable, createRequestHandler, writeReadableStreamToWritable } from "@remix-run/node";
import serveStatic from "serve-static";

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

const { config, createRequestGuard, recordHttpRequest, logger } = build.entry.module;
const checkRequest = createRequestGuard(build.routes, build.basename);
const mode = config.production ? "production" : "development";
const handleRemix = createRequestHandler(build, mode);

// A request to a resource route (no component: the webhook, /healthz, /metrics) goes to a
// Remix handler whose build holds only that route and its ancestors. Remix matches routes two
// or three times per request, flattening, ranking and compiling the whole tree each time; the
// guard above has already found the route on the whole tree, so Remix is given just that branch
// and runs the route exactly as before (docs/decisions/192-resource-route-handlers.md).
// Lazy route discovery's manifest request always needs the whole tree.
const resourceHandlers = new Map();
function handlerFor(routeId, pathname) {
  if (routeId === null || pathname.endsWith("/__manifest")) return handleRemix;
  let handler = resourceHandlers.get(routeId);
  if (handler === undefined) {
    const route = build.routes[routeId];
    if (!route || route.module.default || route.module.ErrorBoundary) handler = handleRemix;
    else {
      const branch = {};
      for (let id = routeId; id !== undefined; id = build.routes[id].parentId) branch[id] = build.routes[id];
      handler = createRequestHandler({ ...build, routes: branch }, mode);
    }
    resourceHandlers.set(routeId, handler);
  }
  return handler;
}
const appHost = new URL(config.appOrigin).host;

// Short plain-text answers of the shop's own; no library's default error page.
function answer(req, res, status, message, headers = {}) {
  const body = Buffer.from(message);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Content-Length", body.length);
  res.end(req.method === "HEAD" ? undefined : body);
}

// While draining (SIGTERM), every answer closes its connection.
let draining = false;
const inFlight = new Set();

// Fingerprinted assets are immutable; everything else in public/ briefly cached.
const assets = serveStatic(path.join(here, "build/client/assets"), { immutable: true, maxAge: "1y" });
const publicFiles = serveStatic(path.join(here, "build/client"), { maxAge: "1h" });

async function handle(req, res) {
  // A reference id for logs and error pages; never trusted from the client.
  // 16 hex characters, as before; randomUUID takes them from a batch of random bytes drawn ahead
  // (randomBytes(8) ran the generator once per request: 2.7% of the webhook's CPU profile).
  const id = randomUUID().replace(/-/g, "").slice(0, 16);
  req.headers["x-request-id"] = id;
  // This request's logger: every line carries its id (app/lib/logger.server.ts).
  req.log = logger.child({ requestId: id });
  res.setHeader("X-Request-Id", id);
  res.setHeader("X-Content-Type-Options", "nosniff");
  if (config.production) res.setHeader("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
  if (draining) res.setHeader("Connection", "close");
  inFlight.add(res);
  res.on("close", () => inFlight.delete(res));

  // Method, target, Host syntax, cross-site posts and body limits are decided
  // on the URL and route Remix will use (docs/decisions/090-one-view-of-the-request.md).
  const target = req.url;
  const verdict = checkRequest(req.method, target, { get: (name) => header(req, name) });
  // One count per answer, labelled by route id (never the raw path): app/lib/metrics.server.ts.
  const routeId = verdict.ok ? verdict.routeId : null;
  const started = performance.now();
  res.on("finish", () => {
    recordHttpRequest(routeId, req.method, res.statusCode);
    // Route id, never the path or query (a session id, an email) or any header.
    req.log.info(
      { method: req.method, route: routeId, status: res.statusCode, ms: Math.round(performance.now() - started) },
      "request",
    );
  });
  if (!verdict.ok) {
    req.resume();
    return answer(req, res, verdict.status, verdict.message, verdict.headers);
  }
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > verdict.bodyLimit) {
    req.resume();
    return answer(req, res, 413, `The request is too large (at most ${verdict.bodyLimit} bytes).`);
  }
  if (declared === undefined && req.headers["transfer-encoding"] && verdict.routeId !== "routes/stripe.webhook") {
    // Browsers send forms with a length; the webhook route counts a chunked body itself.
    req.resume();
    return answer(req, res, 411, "A Content-Length is required.");
  }
  try {
    if ((req.method === "GET" || req.method === "HEAD") && (await serveFile(req, res))) return;
    const response = await handlerFor(verdict.routeId, verdict.url.pathname)(remixRequest(req, res, verdict.url), {
      // The socket's peer, for the success page's guessing bound. Behind a proxy
      // this is the proxy: see docs/decisions/021-guessing-bound.md.
      clientAddress: req.socket.remoteAddress,
    });
    await sendRemixResponse(res, response);
  } catch (error) {
    fail(req, res, error);
  }
}

// A request header as Express's req.get read it (Referer and Referrer are one).
function header(req, name) {
  const lower = name.toLowerCase();
  const value =
    req.headers[lower === "referrer" ? "referer" : lower] ?? (lower === "referer" ? req.headers.referrer : undefined);
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}

// build/client through serve-static (what express.static is), /assets mounted
// as Express mounted it; false when no file answered and Remix should.
function serveFile(req, res) {
  const original = req.url;
  const mounted = original === "/assets" || original.startsWith("/assets/") || original.startsWith("/assets?");
  return new Promise((resolve, reject) => {
    const next = (error) => {
      req.url = original;
      if (error) reject(error);
      else resolve(false);
    };
    res.once("finish", () => resolve(true));
    if (mounted) {
      req.originalUrl = original;
      req.url = original.slice("/assets".length) || "/";
      if (req.url.startsWith("?")) req.url = `/${req.url}`;
      assets(req, res, (error) => {
        req.url = original;
        if (error || res.headersSent) return next(error);
        publicFiles(req, res, next);
      });
    } else {
      publicFiles(req, res, next);
    }
  });
}

// The Request Remix sees: APP_ORIGIN plus the request target, and a Host
// that agrees with it. Origin was checked above; Remix's own check (which
// answers 500 on a proxy-rewritten Host or an Origin that is not a URL) is
// given nothing to disagree with.
function remixRequest(req, res, url) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of Array.isArray(value) ? value : [value]) if (one !== undefined) headers.append(name, one);
  }
  headers.set("Host", appHost);
  headers.delete("X-Forwarded-Host");
  headers.delete("Origin");
  let controller = new AbortController();
  res.on("finish", () => {
    controller = null;
  });
  res.on("close", () => controller?.abort());
  const init = { method: req.method, headers, signal: controller.signal };
  if (req.method !== "GET" && req.method !== "HEAD") {
    init.body = createReadableStreamFromReadable(req);
    init.duplex = "half";
  }
  return new Request(url.href, init);
}

async function sendRemixResponse(res, response) {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers.entries()) {
    const had = res.getHeader(name);
    res.setHeader(name, had === undefined ? value : [...(Array.isArray(had) ? had : [String(had)]), value]);
  }
  if (response.body) await writeReadableStreamToWritable(response.body, res);
  else res.end();
}

// The last word on any error a handler throws.
function fail(req, res, error) {
  const status = Number(error?.status ?? error?.statusCode);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  req.resume();
  if (status >= 400 && status < 500) return answer(req, res, status, "The request could not be read.");
  const id = res.getHeader("X-Request-Id");
  req.log.error(
    `error ref=${id} ${req.method}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  answer(req, res, 500, `Something went wrong on our side. Please try again (reference: ${id}).`);
}

const server = http.createServer(
  {
    headersTimeout: config.http.headersTimeoutMs,
    requestTimeout: config.http.requestTimeoutMs,
    // How often Node checks the two timeouts above (its default is 30 s).
    connectionsCheckingInterval: Math.min(1_000, config.http.headersTimeoutMs),
    keepAliveTimeout: 5_000,
  },
  (req, res) => void handle(req, res).catch((error) => fail(req, res, error)),
);

// HOST unset: every interface, which is what the log line then says.
server.listen(config.port, config.host, () => {
  const { address, port } = server.address();
  const everywhere = address === "::" || address === "0.0.0.0";
  const shown = address.includes(":") ? `[${address}]` : address;
  logger.info(
    everywhere
      ? `shop listening on all interfaces (${shown}), port ${port}: http://localhost:${port}`
      : `shop listening on http://${shown}:${port}`,
  );
  build.entry.module.startReconcileSchedule?.();
});
// The job worker, unless WORKER=off (app/lib/jobs/start.server.ts).
const stopJobs = build.entry.module.startJobs?.() ?? (async () => {});

// Requests Node cannot parse get a short answer of the shop's own.
const CLIENT_ERRORS = {
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large", "The request's headers are too large."],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "The request took too long to arrive."],
};
server.on("clientError", (error, socket) => {
  if (error.code === "ECONNRESET" || !socket.writable) return socket.destroy();
  const [status, reason, message] = CLIENT_ERRORS[error.code] ?? [400, "Bad Request", "The request could not be read."];
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
  );
});
// CONNECT is no method of a shop's (Node would otherwise drop the connection).
server.on("connect", (_req, socket) => {
  const message = "This method is not allowed here.";
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${message.length}\r\nConnection: close\r\n\r\n${message}`,
  );
});

// A deploy loses no request: stop accepting connections, answer every request
// already received with `Connection: close`, close connections as they fall
// idle, and exit once none is left (or when the longest request could have
// ended). docs/decisions/094-drain-on-sigterm.md
let drainStarted = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    if (drainStarted) return;
    drainStarted = true;
    draining = true;
    logger.info(`shutdown: ${signal}, draining ${inFlight.size} request(s) in flight`);
    // Running jobs finish or are released before the process ends.
    const jobsStopped = stopJobs().catch(() => {});
    server.close(() => void jobsStopped.then(() => process.exit(0)));
    for (const res of inFlight) {
      if (!res.headersSent) res.setHeader("Connection", "close");
      else res.once("finish", () => setImmediate(() => server.closeIdleConnections()));
    }
    server.closeIdleConnections();
    setTimeout(() => {
      logger.error("shutdown: requests still open after the drain period; exiting");
      process.exit(1);
    }, config.http.requestTimeoutMs + 1_000).unref();
  });
}
