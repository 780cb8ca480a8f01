/**
 * `pnpm example web`: starts Vite's dev server on the playground (`examples/web`), prints its URL,
 * and serves until Ctrl-C. The page trains a 2-H-2 network on make_moons or make_circles in the
 * browser and draws the decision boundary, the loss curve and the graphs; see examples/README.md.
 * @module
 */
import { fileURLToPath } from "node:url";
import { createServer } from "vite";
import type { ExampleContext, ExampleResult } from "../context.js";

/** The playground's folder (its index.html and vite.config.ts). */
export const WEB_ROOT = fileURLToPath(new URL("../../web/", import.meta.url));

/** Runs the dev server until the CLI's stop flag is set (Ctrl-C). */
export async function run(ctx: ExampleContext): Promise<ExampleResult> {
  const server = await createServer({
    configFile: `${WEB_ROOT}vite.config.ts`,
    logLevel: "warn",
    server: { host: "127.0.0.1" },
  });
  await server.listen();
  const urls = server.resolvedUrls?.local ?? [];
  for (const url of urls) ctx.log(`playground: ${url}`);
  ctx.log("Open it in a browser; Ctrl-C stops the server.");
  ctx.log(
    "A static build (works from any file server): pnpm --filter @gradgraph/examples web:build, then serve examples/web/dist/.",
  );
  while (!ctx.shouldStop()) await new Promise((r) => setTimeout(r, 200));
  await server.close();
  return { hyper: {}, metrics: { urls } };
}
