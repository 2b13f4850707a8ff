import { vitePlugin as remix } from "@remix-run/dev";
import { defineConfig, type Plugin } from "vite";
import tsconfigPaths from "vite-tsconfig-paths";

declare module "@remix-run/node" {
  interface Future {
    v3_singleFetch: false;
  }
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
      if (!config.stripe.emulated || process.env.VITEST) return;

      const { EMULATOR_DEFAULTS } = await import("./app/lib/config.server");
      const { startEmulator } = await import("./stripe-emulator/server");
      const base = new URL(EMULATOR_DEFAULTS.apiBase);
      try {
        const emulator = await startEmulator({
          port: Number(base.port),
          host: base.hostname,
          webhookUrl: `${config.appOrigin}/stripe/webhook`,
          webhookSecret: EMULATOR_DEFAULTS.webhookSecret,
          quiet: true,
        });
        server.httpServer?.once("close", () => void emulator.close());
        console.log(
          `\n  Payments are simulated: no STRIPE_SECRET_KEY, so the Stripe emulator runs at ${emulator.url}` +
            `\n  and delivers webhooks to ${config.appOrigin}/stripe/webhook. Set STRIPE_SECRET_KEY in .env to use Stripe.\n`,
        );
      } catch (error: unknown) {
        const inUse = (error as { code?: string }).code === "EADDRINUSE";
        console.warn(
          inUse
            ? `\n  Port ${base.port} is taken: using the Stripe emulator (or stripe-mock) already running there.\n`
            : `\n  The Stripe emulator did not start: ${error instanceof Error ? error.message : String(error)}\n`,
        );
      }
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

export default defineConfig({
  server: { port: 5173, strictPort: true },
  plugins: [
    devStripe(),
    devJobs(),
    remix({
      future: {
        v3_fetcherPersist: true,
        v3_relativeSplatPath: true,
        v3_throwAbortReason: true,
        v3_lazyRouteDiscovery: true,
      },
    }),
    tsconfigPaths(),
  ],
});
