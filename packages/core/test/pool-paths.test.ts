/**
 * The straight-line 2x2 / stride-2 max-pooling path against a plain loop: maxima, first-maximum
 * ties, NaN propagation, the gradient scatter and the gather.
 */
import { compile, GraphBuilder } from "@gradgraph/core";
import { expect, test } from "vitest";

test.each([[[2, 3, 6, 8]], [[1, 2, 4, 14]], [[3, 1, 2, 6]]])(
  "2x2 stride-2 max pooling of %j: values, ties to the first maximum, NaN, backprop and gather",
  (shape: number[]) => {
    const [N, C, H, W] = shape as [number, number, number, number];
    const [Ho, Wo] = [H / 2, W / 2];
    const pooled = [N, C, Ho, Wo];
    const n = shape.reduce((p, q) => p * q);
    // small integers: many ties; a few NaNs
    const xv = Array.from({ length: n }, (_, i) => (i % 37 === 5 ? Number.NaN : ((i * 7) % 5) - 2));
    const gv = Array.from({ length: n / 4 }, (_, i) => i + 1);
    for (const dtype of ["float32", "float64"] as const) {
      const b = new GraphBuilder({ dtype });
      const x = b.input("x", shape);
      const g = b.input("g", pooled);
      b.output("y", b.maxPool2d(x, 2));
      b.output("dx", b.op("maxPool2dBackprop", [x, g], { kernelSize: [2, 2], strides: [2, 2] }));
      b.output("v", b.op("maxPool2dGather", [x, x], { kernelSize: [2, 2], strides: [2, 2] }));
      const p = compile(b.build()).plan({ x: shape, g: pooled });
      p.inputs.x!.data.set(xv);
      p.inputs.g!.data.set(gv);
      p.run();
      const dx = new Float64Array(n);
      let o = 0;
      for (let plane = 0; plane < N * C; plane++)
        for (let oh = 0; oh < Ho; oh++)
          for (let ow = 0; ow < Wo; ow++, o++) {
            let best = -1;
            for (const [di, dj] of [
              [0, 0],
              [0, 1],
              [1, 0],
              [1, 1],
            ] as const) {
              const i = plane * H * W + (2 * oh + di) * W + 2 * ow + dj;
              const v = xv[i]!;
              if (best < 0 || v > xv[best]! || (Number.isNaN(v) && !Number.isNaN(xv[best]!))) best = i;
            }
            expect(p.outputs.y!.data[o]).toBe(xv[best]);
            expect(p.outputs.v!.data[o]).toBe(xv[best]);
            dx[best] = dx[best]! + gv[o]!;
          }
      expect(Array.from(p.outputs.dx!.data)).toEqual(Array.from(dx));
    }
  },
);
