import path from "node:path";

import { vitePlugin as remix } from "@remix-run/dev";
import { defineConfig, type Plugin, type PluginOption, type UserConfig } from "vite";

import shop, { remixOptions } from "../vite.config";

/**
 * The shop's build with one module swapped, for bench/jobs.ts's HTTP pass:
 * every import of app/lib/jobs/enqueue.server.ts gets bench/lib/enqueue-switch.ts
 * (which imports the real one), so one server.js can run with the enqueue on or
 * off (BENCH_ENQUEUE=off). Everything else is vite.config.ts's, except where
 * the build goes: into BENCH_SWITCH_BUILD_DIR, not build/.
 *   BENCH_SWITCH_BUILD_DIR=.cache/bench/app-enqueue-switch/build npx remix vite:build --config bench/vite.enqueue-switch.config.ts
 */

const real = path.resolve(import.meta.dirname, "../app/lib/jobs/enqueue.server.ts");
const swapped = path.resolve(import.meta.dirname, "lib/enqueue-switch.ts");

function enqueueSwitch(): Plugin {
  return {
    name: "bench:enqueue-switch",
    enforce: "pre",
    async resolveId(source, importer, options) {
      if (!importer || importer === swapped || !source.includes("enqueue.server")) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved?.id === real ? swapped : null;
    },
  };
}

const isRemix = (plugin: PluginOption) =>
  !!plugin && typeof plugin === "object" && "name" in plugin && String(plugin.name).startsWith("remix");

export default defineConfig((env) => {
  const config = (typeof shop === "function" ? shop(env) : shop) as UserConfig;
  const buildDirectory = process.env.BENCH_SWITCH_BUILD_DIR;
  if (!buildDirectory) throw new Error("BENCH_SWITCH_BUILD_DIR is required");
  return {
    ...config,
    plugins: [
      enqueueSwitch(),
      ...(config.plugins ?? []).flat().filter((plugin) => !isRemix(plugin)),
      // vite.config.ts's Remix plugin, with its build elsewhere.
      remix({ ...remixOptions, buildDirectory }),
    ],
  };
});
