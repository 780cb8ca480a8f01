/**
 * Vite configuration of the playground: the page is this folder, the workspace packages are read
 * from their TypeScript sources (the `@gradgraph/source` condition), and `vite build` writes a
 * static site with relative URLs to `dist/` here, which works from any file server.
 * @module
 */
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: { conditions: ["@gradgraph/source", ...defaultClientConditions] },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 4096 },
  server: { port: 5173 },
});
