/**
 * Per-channel broadcasting (`planes:<mid>` access mode: a `[1,C,1,1]` operand on NCHW values)
 * in the JS and WebAssembly elementwise loops, fused or not, and reductions that keep a middle
 * block of axes (a per-channel sum over `[0, 2, 3]`), against plain index arithmetic.
 */
import { compile, GraphBuilder, Rng } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { accessModeOf } from "../src/ops/elementwise.js";

const rng = new Rng(5);

function fill(n: number): Float64Array {
  return new Float64Array(n).map(() => Math.fround(rng.uniform(-2, 2)));
}

describe("planes broadcasting", () => {
  test("a [1,C,1,1] operand on [N,C,H,W] is read per plane", () => {
    expect(accessModeOf([1, 3, 1, 1], [2, 3, 4, 5])).toBe("planes:3");
    expect(accessModeOf([3, 1, 1], [2, 3, 4, 5])).toBe("planes:3");
    expect(accessModeOf([1, 3, 4, 1], [2, 3, 4, 5])).toBe("planes:12");
    expect(accessModeOf([1, 3, 1, 5], [2, 3, 4, 5])).toBe("map");
  });
  for (const dtype of ["float32", "float64"] as const)
    for (const shape of [
      [2, 3, 4, 5],
      [3, 5, 3, 3],
      [1, 2, 1, 7],
    ])
      test(`${dtype} ${shape}: (x + b) * c - relu(x) * b, fused and not`, () => {
        const [N, C, H, W] = shape as [number, number, number, number];
        for (const fuse of [true, false]) {
          const b = new GraphBuilder({ dtype });
          const x = b.input("x", shape);
          const bias = b.input("b", [1, C, 1, 1]);
          const c = b.input("c", [C, 1, 1]);
          b.output("y", b.sub(b.mul(b.add(x, bias), c), b.mul(b.relu(x), bias)));
          const p = compile(b.build(), { fuse }).plan({ x: shape, b: [1, C, 1, 1], c: [C, 1, 1] });
          const xv = fill(N * C * H * W);
          const bv = fill(C);
          const cv = fill(C);
          p.inputs.x!.data.set(xv);
          p.inputs.b!.data.set(bv);
          p.inputs.c!.data.set(cv);
          p.run();
          const y = p.outputs.y!.data;
          const r = dtype === "float32" ? Math.fround : (v: number) => v;
          for (let i = 0; i < y.length; i++) {
            const ch = Math.floor(i / (H * W)) % C;
            const want = r(r(r(xv[i]! + bv[ch]!) * cv[ch]!) - r(Math.max(xv[i]!, 0) * bv[ch]!));
            expect(Math.abs(y[i]! - want)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(want)));
          }
        }
      });
});

describe("reductions keeping a middle block", () => {
  for (const [shape, axes] of [
    [
      [4, 3, 5, 6],
      [0, 2, 3],
    ],
    [
      [4, 3, 5],
      [0, 2],
    ],
    [
      [2, 3, 4, 5],
      [0, 3],
    ],
    [
      [2, 3, 4, 5],
      [2, 3],
    ],
  ] as [number[], number[]][])
    for (const op of ["sum", "mean"] as const)
      test(`${op} of ${shape} over ${axes}`, () => {
        const b = new GraphBuilder({ dtype: "float64" });
        const x = b.input("x", shape);
        b.output("y", b[op](x, axes, true));
        const p = compile(b.build()).plan({ x: shape });
        const xv = fill(p.inputs.x!.size);
        p.inputs.x!.data.set(xv);
        p.run();
        const y = p.outputs.y!.data;
        const want = new Float64Array(y.length);
        const keepStrides: number[] = [];
        let acc = 1;
        for (let d = shape.length - 1; d >= 0; d--) {
          keepStrides[d] = axes.includes(d) ? 0 : acc;
          if (!axes.includes(d)) acc *= shape[d]!;
        }
        const count = axes.reduce((q, a) => q * shape[a]!, 1);
        for (let i = 0; i < xv.length; i++) {
          let rem = i;
          let o = 0;
          for (let d = shape.length - 1; d >= 0; d--) {
            o += (rem % shape[d]!) * keepStrides[d]!;
            rem = Math.floor(rem / shape[d]!);
          }
          want[o] = want[o]! + xv[i]! / (op === "mean" ? count : 1);
        }
        for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(want[i]!, 12);
      });
});
