import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@gradgraph/source"] },
  ssr: { resolve: { conditions: ["@gradgraph/source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
