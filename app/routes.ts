import { flatRoutes } from "@remix-run/fs-routes";
import type { RouteConfig } from "@remix-run/route-config";

// The routes are the files in app/routes/, named as before (Remix's flat routes).
export default flatRoutes() satisfies RouteConfig;
