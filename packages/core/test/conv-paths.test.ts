/**
 * The float32 convolution kernels' two WebAssembly strategies (stride-1 grid paths with
 * `memory.copy` im2col, and the general im2col/col2im paths) against the float64 reference
 * loops, for the three passes, on shapes that hit every path choice: chunks of several images,
 * groups, dilation, asymmetric padding, padding wider than the kernel (no grid for the input
 * gradient), few input channels (input gradient through col2im), strides.
 */
import { compile, GraphBuilder, Rng, setConvGridPaths, wasmBackend } from "@gradgraph/core";
import { afterAll, describe, expect, test } from "vitest";

interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  o: {
    strides?: [number, number];
    padding?: [number, number, number, number];
    dilations?: [number, number];
    groups?: number;
  };
}

const CASES: Case[] = [
  { x: [3, 2, 7, 6], w: [4, 2, 3, 3], o: {} },
  { x: [2, 8, 9, 8], w: [6, 4, 3, 2], o: { padding: [1, 2, 0, 1], dilations: [2, 1], groups: 2 } },
  { x: [2, 8, 6, 7], w: [8, 1, 3, 3], o: { padding: [1, 1, 1, 1], groups: 8 } },
  { x: [2, 4, 5, 5], w: [3, 4, 2, 2], o: { padding: [4, 3, 3, 4] } },
  { x: [2, 5, 9, 7], w: [4, 5, 3, 3], o: { strides: [2, 1], padding: [1, 0, 2, 1] } },
  { x: [5, 1, 12, 12], w: [6, 1, 5, 5], o: { padding: [2, 2, 2, 2] } },
  { x: [40, 6, 14, 14], w: [16, 6, 5, 5], o: {} },
  { x: [3, 3, 6, 6], w: [5, 3, 1, 1], o: { strides: [2, 2] } },
];

function run(
  c: Case,
  dtype: "float32" | "float64",
  xv: Float64Array,
  wv: Float64Array,
  dyv: Float64Array | null,
) {
  const b = new GraphBuilder({ dtype });
  const x = b.input("x", c.x);
  const w = b.input("w", c.w);
  const y = b.conv2d(x, w, c.o);
  b.output("y", y);
  const dy = b.input("dy", y.shape);
  const attrs = y.node.attrs as object;
  b.output("dx", b.op("conv2dTranspose", [dy, w], { ...attrs, outputSize: [c.x[2], c.x[3]] }));
  b.output("dw", b.op("conv2dBackpropFilter", [x, dy], { ...attrs, kernelSize: [c.w[2], c.w[3]] }));
  const g = b.build();
  const p = compile(g).plan({ x: c.x, w: c.w, dy: y.shape as number[] });
  const dyData = dyv ?? new Float64Array(p.inputs.dy!.size).map((_, i) => Math.sin(i * 0.37));
  p.inputs.x!.data.set(xv);
  p.inputs.w!.data.set(wv);
  p.inputs.dy!.data.set(dyData);
  p.run();
  const out = {
    y: Float64Array.from(p.outputs.y!.data),
    dx: Float64Array.from(p.outputs.dx!.data),
    dw: Float64Array.from(p.outputs.dw!.data),
    dy: dyData,
  };
  p.dispose();
  return out;
}

function close(a: Float64Array, b: Float64Array, scale: number) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(2e-6 * scale);
}

describe.runIf(wasmBackend() !== null)("float32 convolution paths", () => {
  afterAll(() => setConvGridPaths(true));
  const rng = new Rng(12);
  for (const c of CASES) {
    test(`x ${c.x} w ${c.w} ${JSON.stringify(c.o)}`, () => {
      const xv = new Float64Array(c.x.reduce((p, q) => p * q)).map(() => Math.fround(rng.uniform(-1, 1)));
      const wv = new Float64Array(c.w.reduce((p, q) => p * q)).map(() => Math.fround(rng.uniform(-1, 1)));
      const ref = run(c, "float64", xv, wv, null);
      const dy32 = ref.dy.map(Math.fround);
      const ref32 = run(c, "float64", xv, wv, dy32);
      const taps = c.w[1] * c.w[2] * c.w[3];
      for (const grid of [true, false]) {
        setConvGridPaths(grid);
        const got = run(c, "float32", xv, wv, dy32);
        close(got.y, ref32.y, taps);
        close(got.dx, ref32.dx, taps * c.w[0]);
        close(got.dw, ref32.dw, c.x[0] * c.x[2] * c.x[3]);
      }
    });
  }
});
