import { castGraph, compile, type Feeds, ParamStore, Tensor, wasmBackend } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { grad } from "../src/index.js";
import { fcParameters, randomGraphArb } from "../src/testing/index.js";

function toDtype(feeds: Feeds, dtype: "float32" | "float64"): Record<string, Tensor | number> {
  const out: Record<string, Tensor | number> = {};
  for (const [k, v] of Object.entries(feeds)) {
    out[k] = v instanceof Tensor ? v.astype(dtype) : typeof v === "number" ? v : Tensor.from(v, { dtype });
  }
  return out;
}

describe("the fast float32 path (SIMD kernels, fusion, arena) against the float64 reference", () => {
  it.skipIf(!wasmBackend())("random graphs: loss and gradients agree within float32 tolerance", () => {
    fc.assert(
      fc.property(randomGraphArb({ maxNodes: 10 }), (c) => {
        const g64 = castGraph(grad(c.graph, "loss", c.wrt), "float64");
        const g32 = castGraph(g64, "float32");
        const p64 = new ParamStore(
          c.params.entries().map(([k, t]) => [k, t.astype("float64")] as [string, Tensor]),
        );
        // ParamStore.init puts float32 params in the WebAssembly arena, as in training
        const p32 = ParamStore.init(g32, 0);
        for (const [k, t] of c.params.entries()) p32.get(k).data.set(t.data);
        const ref = compile(g64, { params: p64, fuse: false }).run(toDtype(c.feeds, "float64"));
        const fast = compile(g32, { params: p32 }).run(toDtype(c.feeds, "float32"));
        for (const name of Object.keys(ref)) {
          const r = ref[name]!.data;
          const f = fast[name]!.data;
          let scale = 1;
          for (const v of r) scale = Math.max(scale, Math.abs(v));
          for (let i = 0; i < r.length; i++) {
            if (!Number.isFinite(r[i]!)) continue;
            expect(
              Math.abs(f[i]! - r[i]!),
              `${name}[${i}]: float32 ${f[i]} vs float64 ${r[i]}`,
            ).toBeLessThanOrEqual(2e-3 * scale);
          }
        }
      }),
      fcParameters({ numRuns: 60 }),
    );
  });
});
