// The production server (`npm start`): the built Remix app behind Express,
// with server timeouts that cut slow clients off. Configuration is validated
// when the build is imported; a bad value stops here with its message only.
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
  } else if (error && error.code === "ERR_MODULE_NOT_FOUND") {
    console.error("No build found: run `npm run build` first.");
  } else {
    console.error("The server could not start:", error instanceof Error ? error.message : error);
  }
  process.exit(1);
}

const { config } = build.entry.module;

const app = express();
app.disable("x-powered-by");

// Fingerprinted assets are immutable; everything else in public/ briefly cached.
app.use("/assets", express.static(path.join(here, "build/client/assets"), { immutable: true, maxAge: "1y" }));
app.use(express.static(path.join(here, "build/client"), { maxAge: "1h" }));

app.all("*", createRequestHandler({ build, mode: config.production ? "production" : "development" }));

const server = app.listen(config.port, () => {
  const { port } = server.address();
  console.log(`shop listening on http://localhost:${port}`);
});
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 5_000;

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
