import { createServer } from "node:net";

import { vitePlugin as remix } from "@remix-run/dev";
import { defineConfig, type Plugin } from "vite";
import tsconfigPaths from "vite-tsconfig-paths";

declare module "@remix-run/node" {
  interface Future {
    v3_singleFetch: true;
  }
}

/** Whether the dev server's port can be bound (checked before the emulator starts). */
function portFree(port: number, host: string | boolean | undefined) {
  const address = typeof host === "string" ? host : host === true ? "0.0.0.0" : "localhost";
  return new Promise<boolean>((resolve) => {
    const probe = createServer()
      .once("error", () => resolve(false))
      .listen(port, address, () => probe.close(() => resolve(true)));
  });
}

/**
 * `remix vite:dev` checks the configuration before serving anything and, when
 * no Stripe key is configured, starts the bundled Stripe emulator with its
 * webhooks pointed at this dev server: clone, `npm ci && npm run dev`, buy.
 */
function devStripe(): Plugin {
  return {
    name: "shop:dev-stripe",
    apply: "serve",
    async configureServer(server) {
      // The Remix plugin also creates a child Vite server (configFile: false)
      // to read route modules, in `vite:build` too: that one serves nobody.
      if (!server.config.configFile) return;
      let config: typeof import("./app/lib/config.server").config;
      try {
        ({ config } = await import("./app/lib/config.server"));
      } catch (error: unknown) {
        console.error(error instanceof Error && error.name === "ConfigError" ? error.message : error);
        process.exit(1);
      }
      if (process.env.VITEST) return;
      // db/catalog.json is checked before anything starts: its mistakes named, not a 500 on every page.
      try {
        const { readCatalog } = await import("./app/lib/catalog-file.server");
        readCatalog();
      } catch (error: unknown) {
        console.error(`\n  ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      }
      if (!config.stripe.emulated) return;

      const { EMULATOR_DEFAULTS } = await import("./app/lib/config.server");
      const { startEmulator } = await import("./stripe-emulator/server");
      const webhookUrl = `${config.appOrigin}/stripe/webhook`;

      // A second `npm run dev` fails on the dev server's own port: one line, not Vite's stack.
      const devPort = server.config.server.port ?? 5173;
      const portTaken = () => {
        console.error(
          `\n  Port ${devPort} is taken: is another \`npm run dev\` running? Stop it, or run \`npm run dev -- --port <n>\` (and set APP_ORIGIN).\n`,
        );
        process.exit(1);
      };
      if (!(await portFree(devPort, server.config.server.host))) portTaken();
      server.httpServer?.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EADDRINUSE") portTaken();
      });

      // The default emulator port may be held by another dev server's emulator, whose webhooks go
      // to that dev server: this one then starts its own on a free port and points the app at it
      // (docs/decisions/070-dev-emulator-own-port.md). Never run without webhooks.
      const base = new URL(EMULATOR_DEFAULTS.apiBase);
      const explicitBase = process.env.STRIPE_API_BASE;
      const options = {
        host: base.hostname,
        webhookUrl,
        webhookSecret: EMULATOR_DEFAULTS.webhookSecret,
        quiet: true,
      };
      let emulator: Awaited<ReturnType<typeof startEmulator>>;
      let note = "";
      try {
        try {
          emulator = await startEmulator({ ...options, port: Number(base.port) });
        } catch (error: unknown) {
          if ((error as { code?: string }).code !== "EADDRINUSE") throw error;
          emulator = await startEmulator({ ...options, port: 0 });
          note = `\n  (port ${base.port} is taken, by another dev server's emulator perhaps: this one has its own)`;
        }
      } catch (error: unknown) {
        console.error(
          `\n  The Stripe emulator did not start: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
      }
      if (explicitBase && explicitBase.replace(/\/$/, "") !== emulator.url) {
        console.warn(
          `\n  STRIPE_API_BASE=${explicitBase} is ignored without STRIPE_SECRET_KEY: the app uses the emulator below.`,
        );
      }
      // Read by the app's configuration when the dev server first loads it.
      process.env.STRIPE_API_BASE = emulator.url;
      server.httpServer?.once("close", () => void emulator.close());
      console.log(
        `\n  Payments are simulated: no STRIPE_SECRET_KEY, so the Stripe emulator runs at ${emulator.url}${note}` +
          `\n  and delivers webhooks to ${webhookUrl}. Set STRIPE_SECRET_KEY in .env to use Stripe.\n`,
      );
    },
  };
}

/** `npm run dev` runs the job worker too, unless WORKER=off (app/lib/jobs/start.server.ts). */
function devJobs(): Plugin {
  return {
    name: "shop:dev-jobs",
    apply: "serve",
    configureServer(server) {
      if (!server.config.configFile || process.env.VITEST) return;
      server.httpServer?.once("listening", async () => {
        const { startJobs } = await server.ssrLoadModule("/app/lib/jobs/start.server.ts");
        const stop = (startJobs as () => () => Promise<void>)();
        server.httpServer?.once("close", () => void stop());
      });
    },
  };
}

/** The Remix plugin's options, also used by bench/vite.enqueue-switch.config.ts's build. */
export const remixOptions = {
  // Every Remix v3 flag on: no warnings, and a later move to React Router 7 is mostly renames.
  future: {
    v3_fetcherPersist: true,
    v3_relativeSplatPath: true,
    v3_throwAbortReason: true,
    v3_lazyRouteDiscovery: true,
    v3_singleFetch: true,
    v3_routeConfig: true,
    // Vite's dependency scan starts at the client entry and every route, so that it finds every package
    // before the first page: without it, Remix's dev CSS walk resolves the routes' server imports in the
    // client graph after the first render, Vite re-optimizes and reloads the page under the shopper
    // (docs/decisions/191-dev-deps-scanned-from-routes.md).
    unstable_optimizeDeps: true,
  },
} satisfies Parameters<typeof remix>[0];

export default defineConfig(({ isSsrBuild }) => ({
  server: { port: 5173, strictPort: true },
  build: {
    // The server bundle runs on Node 20+, which has top-level await (app/lib/db.server.ts opens the database with it).
    ...(isSsrBuild ? { target: "node20" } : {}),
    rollupOptions: {
      // Resource routes (healthz, stripe.webhook) have no browser code: their client chunk is empty by design.
      onwarn(warning, warn) {
        if (warning.code === "EMPTY_BUNDLE") return;
        warn(warning);
      },
    },
  },
  plugins: [devStripe(), devJobs(), remix(remixOptions), tsconfigPaths()],
}));
