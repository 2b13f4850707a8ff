// `node --import tsx --import ./bench/lib/enqueue-switch-register.mjs ...`: registers
// enqueue-switch-hooks.mjs before the app is imported (bench/jobs.ts's HTTP pass).
import { register } from "node:module";

register("./enqueue-switch-hooks.mjs", import.meta.url);
