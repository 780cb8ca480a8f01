/** transpose copies runs of trailing axes it leaves in place; every permutation against an index loop. */
import { compile, GraphBuilder, Rng, Tensor } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

function naive(x: Tensor, perm: readonly number[]): number[] {
  const s = x.shape;
  const rank = s.length;
  const strides = s.map((_, d) => s.slice(d + 1).reduce((p, v) => p * v, 1));
  const outShape = perm.map((p) => s[p]!);
  const n = x.size;
  const out: number[] = [];
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = 0; d < rank; d++) off += idx[d]! * strides[perm[d]!]!;
    out.push(x.data[off]!);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

describe("transpose", () => {
  test("every permutation of shapes up to rank 5 (runs of in-place trailing axes included)", () => {
    const arb = fc
      .array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 })
      .chain((shape) =>
        fc.tuple(fc.constant(shape), fc.shuffledSubarray([...shape.keys()], { minLength: shape.length })),
      );
    fc.assert(
      fc.property(arb, fc.constantFrom("float32" as const, "float64" as const), ([shape, perm], dtype) => {
        const x = Tensor.zeros(shape, dtype);
        new Rng(shape.length).fillUniform(x.data, -1, 1);
        const b = new GraphBuilder({ dtype });
        b.output("y", b.transpose(b.input("x", shape), perm));
        const y = compile(b.build()).run({ x }).y!;
        expect(y.shape).toEqual(perm.map((p) => shape[p]!));
        expect(Array.from(y.data)).toEqual(naive(x, perm));
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  test("attention's head split and merge (runs of 16, copied as strided blocks in float32) and the patchify", () => {
    for (const [shape, perm] of [
      [
        [5, 16, 4, 16],
        [0, 2, 1, 3],
      ],
      [
        [5, 4, 16, 16],
        [0, 2, 1, 3],
      ],
      [
        [3, 4, 7, 4, 7],
        [0, 1, 3, 2, 4],
      ],
      [
        [2, 3, 9, 10],
        [1, 0, 2, 3],
      ],
    ] as const) {
      for (const dtype of ["float32", "float64"] as const) {
        const x = Tensor.zeros([...shape], dtype);
        new Rng(7).fillUniform(x.data, -1, 1);
        const b = new GraphBuilder({ dtype });
        b.output("y", b.transpose(b.input("x", [...shape]), [...perm]));
        expect(Array.from(compile(b.build()).run({ x }).y!.data)).toEqual(naive(x, perm));
      }
    }
  });
});
