/**
 * conv2d, conv2dTranspose and conv2dBackpropFilter: shape rules and their errors, "same"/"valid"
 * padding (TensorFlow's rule), the transposed convolution's output size, the three passes being
 * exact adjoints of each other in float64, and the float32 kernels (WebAssembly im2col + GEMM,
 * the stride-1 grid paths, and the JS fallback) against the float64 reference within float32
 * rounding, on random attribute combinations.
 */
import {
  compile,
  type Dim,
  type Graph,
  GraphBuilder,
  type PaddingSpec,
  Rng,
  resolvePadding,
  ShapeError,
  setConvGridPaths,
  setWasmEnabled,
  Tensor,
  threadCount,
  wasmBackend,
} from "@gradgraph/core";
import { disableThreads, enableThreads } from "@gradgraph/core/node";
import fc from "fast-check";
import { afterEach, describe, expect, test } from "vitest";
import {
  absReference,
  type ConvCase,
  convCaseArb,
  convFeeds,
  convLen,
  convPassesGraph,
  f32Mismatch,
  termsPerElement,
} from "./helpers/conv-cases.js";
import { referenceRun } from "./helpers/reference.js";

const FC = { seed: 20240607, numRuns: 40 };

function builder(): GraphBuilder {
  return new GraphBuilder({ dtype: "float64" });
}

/** Shape of `b.conv2d` on inputs of the given shapes (no graph is run). */
function convShape(xs: Dim[], ws: number[], opts: Parameters<GraphBuilder["conv2d"]>[2] = {}): Dim[] {
  const b = builder();
  return [...b.conv2d(b.input("x", xs), b.input("w", ws), opts).shape];
}

describe("conv2d shape rule", () => {
  test("output size floor((H + top + bottom - d(k-1) - 1) / s) + 1 per axis, symbolic batch kept", () => {
    for (const [xs, ws, opts] of [
      [[2, 3, 7, 5], [4, 3, 3, 2], { strides: [2, 1], padding: [1, 0, 2, 1], dilations: [1, 2] }],
      [["N", 4, 6, 9], [6, 2, 1, 1], { groups: 2, strides: 3 }],
      [[1, 6, 5, 5], [12, 1, 3, 3], { groups: 6, padding: 1, dilations: 2 }],
      [[1, 1, 1, 8], [1, 1, 1, 3], { padding: [0, 0, 2, 0] }],
    ] as [
      Dim[],
      number[],
      {
        strides?: number | [number, number];
        padding?: PaddingSpec;
        dilations?: number | [number, number];
        groups?: number;
      },
    ][]) {
      const s = typeof opts.strides === "number" ? [opts.strides, opts.strides] : (opts.strides ?? [1, 1]);
      const d =
        typeof opts.dilations === "number" ? [opts.dilations, opts.dilations] : (opts.dilations ?? [1, 1]);
      const p = opts.padding;
      const pad = typeof p === "number" ? [p, p, p, p] : Array.isArray(p) ? p : [0, 0, 0, 0];
      expect(convShape(xs, ws, opts)).toEqual([
        xs[0],
        ws[0],
        convLen(xs[2] as number, ws[2]!, s[0]!, d[0]!, pad[0]!, pad[1]!),
        convLen(xs[3] as number, ws[3]!, s[1]!, d[1]!, pad[2]!, pad[3]!),
      ]);
    }
  });

  test("padding as one number, [h, w] or [top, bottom, left, right] becomes explicit sides", () => {
    const b = builder();
    const x = b.input("x", [1, 1, 6, 6]);
    const w = b.input("w", [1, 1, 3, 3]);
    const attrsOf = (padding: PaddingSpec) => b.conv2d(x, w, { padding }).node.attrs as { padding: number[] };
    expect(attrsOf(2).padding).toEqual([2, 2, 2, 2]);
    expect(attrsOf([1, 2]).padding).toEqual([1, 1, 2, 2]);
    expect(attrsOf([0, 1, 2, 0]).padding).toEqual([0, 1, 2, 0]);
    expect(attrsOf("valid").padding).toEqual([0, 0, 0, 0]);
  });

  test("bad ranks name the op, the operand and its shape", () => {
    const b = builder();
    const x3 = b.input("x3", [1, 5, 5]);
    const x = b.input("x", [1, 1, 5, 5]);
    const w = b.input("w", [1, 1, 3, 3]);
    expect(() => b.op("conv2d", [x3, w], {})).toThrow(
      /conv2d at node #\d+: input must be rank 4 \[N, C, H, W\], got \[1,5,5\]/,
    );
    expect(() => b.op("conv2d", [x, b.input("w3", [1, 3, 3])], {})).toThrow(
      /conv2d of \[1,1,5,5\] and \[1,3,3\] .*weights must be a concrete rank-4 \[outChannels, inChannels\/groups, kh, kw\], got \[1,3,3\]/,
    );
    expect(() => b.op("conv2d", [b.input("xh", [1, 1, "H", 5]), w], {})).toThrow(
      /conv2d at node #\d+: input \[1,1,H,5\] needs concrete height and width/,
    );
    // the builder method checks ranks before it resolves the padding
    expect(() => b.conv2d(x3, w)).toThrow(ShapeError);
    expect(() => b.conv2d(x3, w)).toThrow(/\[N, C, H, W\], got \[1,5,5\]/);
    expect(() => b.conv2d(x, b.input("w3b", [1, 3, 3]))).toThrow(
      /rank-4 \[O, C\/groups, kh, kw\], got \[1,3,3\]/,
    );
  });

  test("channel and group mismatches name the shapes and the groups", () => {
    expect(() => convShape([1, 3, 5, 5], [4, 2, 3, 3])).toThrow(
      /conv2d of \[1,3,5,5\] and \[4,2,3,3\] \(strides \[1, 1\], padding \[0, 0, 0, 0\], dilations \[1, 1\], groups 1\): weights expect 2 channels per group but the input has 3 \/ 1 = 3/,
    );
    expect(() => convShape([1, 3, 5, 5], [4, 1, 3, 3], { groups: 2 })).toThrow(
      /groups 2\): 3 input channels are not divisible by groups 2/,
    );
    expect(() => convShape([1, 4, 5, 5], [3, 2, 3, 3], { groups: 2 })).toThrow(
      /3 output channels are not divisible by groups 2/,
    );
    expect(() => convShape([1, 4, 5, 5], [4, 1, 3, 3], { groups: 2 })).toThrow(
      /weights expect 1 channels per group but the input has 4 \/ 2 = 2/,
    );
    const b = builder();
    expect(() => b.conv2d(b.input("x", [1, 2, 5, 5]), b.input("w", [2, 2, 3, 3], "float32"))).toThrow(
      /conv2d at node #\d+: mixed dtypes float64 and float32/,
    );
  });

  test("a kernel that does not fit the padded image is named with both sizes", () => {
    expect(() => convShape([1, 1, 2, 5], [1, 1, 3, 3])).toThrow(
      /conv2d of \[1,1,2,5\] and \[1,1,3,3\] .*: the 3x3 kernel does not fit the padded 2x5 image \(output 0x3\)/,
    );
    expect(() => convShape([1, 1, 4, 4], [1, 1, 3, 3], { dilations: 2 })).toThrow(
      /dilations \[2, 2\].*the 3x3 kernel does not fit the padded 4x4 image/,
    );
    // padding makes it fit
    expect(convShape([1, 1, 2, 5], [1, 1, 3, 3], { padding: [1, 0, 0, 0] })).toEqual([1, 1, 1, 3]);
  });

  test("bad attributes name the attribute and the value", () => {
    const b = builder();
    const x = b.input("x", [1, 1, 5, 5]);
    const w = b.input("w", [1, 1, 3, 3]);
    for (const padding of [-1, [1, 2, 3], [0.5, 0], "full"]) {
      const err = (() => {
        try {
          b.op("conv2d", [x, w], { padding } as never);
        } catch (e) {
          return (e as Error).message;
        }
        return "no error";
      })();
      expect(err).toMatch(
        /^conv2d at node #\d+: attribute 'padding' must be a non-negative integer, \[h, w\] or \[top, bottom, left, right\]/,
      );
      expect(err, err).toContain(`got ${JSON.stringify(padding)} (inputs: #0 input 'x' [1,1,5,5] float64`);
    }
    expect(() => b.conv2d(x, w, { padding: "full" as never })).toThrow(/attribute 'padding'/);
    expect(() => b.conv2d(x, w, { strides: 0 })).toThrow(
      /conv2d at node #\d+: attribute 'strides' must be a positive integer or \[h, w\] of them, got \[0,0\]/,
    );
    expect(() => b.conv2d(x, w, { dilations: [1, 1.5] })).toThrow(
      /conv2d at node #\d+: attribute 'dilations'.*got \[1,1.5\]/,
    );
    expect(() => b.conv2d(x, w, { groups: 0 })).toThrow(
      /conv2d at node #\d+: attribute 'groups' must be a positive integer, got 0/,
    );
  });
});

describe('"same" and "valid" padding (TensorFlow\'s rule)', () => {
  /** TensorFlow's GetWindowedOutputSize for SAME: out = ceil(in / s), the odd pixel of padding after. */
  function tfSame(size: number, k: number, s: number, d: number): [number, number, number] {
    const out = Math.ceil(size / s);
    const needed = Math.max(0, (out - 1) * s + (k - 1) * d + 1 - size);
    return [out, Math.floor(needed / 2), needed - Math.floor(needed / 2)];
  }

  test("known TensorFlow paddings: odd sizes, stride 2, the extra pixel after", () => {
    const pad = (size: number, k: number, s: number) =>
      resolvePadding("t", "same", [size, size], [k, k], [s, s], [1, 1]);
    expect(pad(5, 3, 2)).toEqual([1, 1, 1, 1]); // out 3: (3-1)·2 + 3 - 5 = 2
    expect(pad(6, 3, 2)).toEqual([0, 1, 0, 1]); // out 3: 4 + 3 - 6 = 1, after
    expect(pad(4, 2, 1)).toEqual([0, 1, 0, 1]);
    expect(pad(7, 4, 1)).toEqual([1, 2, 1, 2]);
    expect(pad(7, 1, 2)).toEqual([0, 0, 0, 0]);
    expect(pad(2, 3, 3)).toEqual([0, 1, 0, 1]); // out 1: 0 + 3 - 2 = 1
  });

  test("every size 1-12, kernel 1-5, stride 1-3, dilation 1-2: ceil(in / s) outputs, pads as TensorFlow", () => {
    for (let size = 1; size <= 12; size++)
      for (let k = 1; k <= 5; k++)
        for (let s = 1; s <= 3; s++)
          for (let d = 1; d <= 2; d++) {
            const [out, before, after] = tfSame(size, k, s, d);
            const w = 2 + (size % 3); // a non-square image: width differs
            const [outW, left, right] = tfSame(w, k, s, d);
            const b = builder();
            const y = b.conv2d(b.input("x", [1, 1, size, w]), b.input("w", [1, 1, k, k]), {
              padding: "same",
              strides: s,
              dilations: d,
            });
            const where = `size ${size}x${w} k ${k} s ${s} d ${d}`;
            expect((y.node.attrs as { padding: number[] }).padding, where).toEqual([
              before,
              after,
              left,
              right,
            ]);
            expect(y.shape, where).toEqual([1, 1, out, outW]);
            // valid: no padding, floor((in - span) / s) + 1 when the window fits
            const span = d * (k - 1) + 1;
            if (size >= span && w >= span) {
              const v = b.conv2d(
                b.input(`v${size}${k}${s}${d}`, [1, 1, size, w]),
                b.input(`w${size}${k}${s}${d}`, [1, 1, k, k]),
                {
                  padding: "valid",
                  strides: s,
                  dilations: d,
                },
              );
              expect(v.shape, where).toEqual([
                1,
                1,
                Math.floor((size - span) / s) + 1,
                Math.floor((w - span) / s) + 1,
              ]);
            }
          }
  });

  test('"same" with a symbolic size: stride 1 pads by the kernel, stride 2 is an error', () => {
    expect(resolvePadding("conv2d", "same", ["H", "W"], [3, 4], [1, 1], [1, 2])).toEqual([1, 1, 3, 3]);
    expect(() => resolvePadding("conv2d", "same", ["H", 5], [3, 3], [2, 1], [1, 1])).toThrow(
      /conv2d: "same" padding with stride 2 needs a concrete size, got 'H'/,
    );
  });

  test('a "same" convolution equals zero padding then a "valid" one (float64)', () => {
    const rng = new Rng(7);
    for (const [xs, ws, s, d] of [
      [[2, 2, 6, 5], [3, 2, 3, 2], 2, 1],
      [[1, 3, 7, 7], [3, 1, 3, 3], 1, 2],
      [[1, 1, 5, 8], [2, 1, 4, 1], 3, 1],
    ] as [number[], number[], number, number][]) {
      const groups = xs[1]! / ws[1]!;
      const b = builder();
      const x = b.input("x", xs);
      const w = b.input("w", ws);
      const same = b.conv2d(x, w, { padding: "same", strides: s, dilations: d, groups });
      const [t, bo, l, r] = (same.node.attrs as { padding: number[] }).padding as number[];
      const padded = b.conv2d(b.pad(x, [0, 0, t!, l!], [0, 0, bo!, r!]), w, {
        strides: s,
        dilations: d,
        groups,
      });
      b.output("same", same);
      b.output("padded", padded);
      const feeds = { x: Tensor.zeros(xs, "float64"), w: Tensor.zeros(ws, "float64") };
      rng.fillUniform(feeds.x.data, -1, 1);
      rng.fillUniform(feeds.w.data, -1, 1);
      const out = compile(b.build()).run(feeds);
      expect(out.same!.shape).toEqual(out.padded!.shape);
      const diff = Array.from(out.same!.data).reduce(
        (m, v, i) => Math.max(m, Math.abs(v - out.padded!.data[i]!)),
        0,
      );
      expect(diff).toBeLessThanOrEqual(1e-13);
    }
  });
});

describe("conv2dTranspose", () => {
  test("output size (Hi-1)·s - top - bottom + d·(kh-1) + 1 + outputPadding; 'same' gives Hi·s", () => {
    for (let hi = 1; hi <= 4; hi++)
      for (let k = 1; k <= 3; k++)
        for (let s = 1; s <= 3; s++)
          for (let d = 1; d <= 2; d++)
            for (const [pt, pb] of [
              [0, 0],
              [1, 0],
              [0, 2],
            ] as const)
              for (let op = 0; op < s; op++) {
                const H = (hi - 1) * s - pt - pb + d * (k - 1) + 1 + op;
                if (H < 1) continue;
                const b = builder();
                const y = b.conv2dTranspose(b.input("y", [2, 3, hi, hi + 1]), b.input("w", [3, 2, k, k]), {
                  strides: s,
                  dilations: d,
                  padding: [pt, pb, 0, 0],
                  outputPadding: [op, 0],
                });
                const W = hi * s + d * (k - 1) + 1; // width hi + 1, no padding
                expect(y.shape, `hi ${hi} k ${k} s ${s} d ${d} pad ${pt},${pb} op ${op}`).toEqual([
                  2,
                  2,
                  H,
                  W,
                ]);
              }
    const b = builder();
    const w = b.input("w", [4, 1, 3, 3]);
    expect(b.conv2dTranspose(b.input("y", [1, 4, 3, 5]), w, { strides: 2, padding: "same" }).shape).toEqual([
      1, 1, 6, 10,
    ]);
    expect(
      b.conv2dTranspose(b.input("z", [1, 4, 3, 5]), w, { strides: 2, outputSize: [8, 11] }).shape,
    ).toEqual([1, 1, 8, 11]);
  });

  test("an output size the convolution does not map back to its input is an error naming both", () => {
    const b = builder();
    const y = b.input("y", [1, 2, 3, 3]);
    const w = b.input("w", [2, 1, 3, 3]);
    expect(() => b.conv2dTranspose(y, w, { strides: 2, outputPadding: 2 })).toThrow(
      /conv2dTranspose of \[1,2,3,3\] and \[2,1,3,3\] .*outputSize \[9, 9\] convolves to 4x4, not the input's 3x3/,
    );
    expect(() => b.conv2dTranspose(b.input("y2", [1, 3, 3, 3]), w)).toThrow(
      /conv2dTranspose of \[1,3,3,3\] and \[2,1,3,3\].*the input has 3 channels but the weights' first axis is 2/,
    );
  });

  test("the gradient ops' size attributes are required, and a missing one is named", () => {
    const b = builder();
    const y = b.input("y", [1, 2, 3, 3]);
    const w = b.input("w", [2, 1, 3, 3]);
    const x = b.input("x", [1, 1, 5, 5]);
    expect(() => b.op("conv2dTranspose", [y, w], {})).toThrow(
      /conv2dTranspose at node #\d+: attribute 'outputSize' is required/,
    );
    expect(() => b.op("conv2dBackpropFilter", [x, y], {})).toThrow(
      /conv2dBackpropFilter at node #\d+: attribute 'kernelSize' is required/,
    );
    expect(() => b.op("conv2dTranspose", [y, w], { outputSize: [5, 0] })).toThrow(
      /attribute 'outputSize' must be a positive integer or \[h, w\] of them, got \[5,0\]/,
    );
  });

  test("conv2dBackpropFilter checks batch and kernel size against the gradient", () => {
    const b = builder();
    const x = b.input("x", [2, 2, 5, 5]);
    const attrs = { strides: [1, 1], padding: [0, 0, 0, 0], dilations: [1, 1], groups: 1 };
    expect(() =>
      b.op("conv2dBackpropFilter", [x, b.input("dy", [3, 4, 3, 3])], { ...attrs, kernelSize: [3, 3] }),
    ).toThrow(/conv2dBackpropFilter of \[2,2,5,5\] and \[3,4,3,3\].*batch sizes 2 and 3 differ/);
    expect(() =>
      b.op("conv2dBackpropFilter", [x, b.input("dy2", [2, 4, 3, 3])], { ...attrs, kernelSize: [2, 3] }),
    ).toThrow(/a 2x3 kernel gives 4x3 outputs, the gradient is 3x3/);
    expect(
      b.op("conv2dBackpropFilter", [x, b.input("dy3", [2, 4, 3, 3])], { ...attrs, kernelSize: [3, 3] }).shape,
    ).toEqual([4, 2, 3, 3]);
  });

  test("is conv2d's exact adjoint in float64: <conv(x, w), dy> = <x, convT(dy, w)> = <w, filter(x, dy)>", () => {
    fc.assert(
      fc.property(convCaseArb(), fc.nat(), (c, seed) => {
        const feeds = convFeeds(c, seed);
        const out = compile(convPassesGraph(c, "float64")).run(feeds);
        const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
          let v = 0;
          let abs = 0;
          for (let i = 0; i < a.length; i++) {
            v += a[i]! * b[i]!;
            abs += Math.abs(a[i]! * b[i]!);
          }
          return { v, abs };
        };
        const a = dot(out.y!.data, feeds.dy!.data);
        const b = dot(feeds.x!.data, out.dx!.data);
        const f = dot(feeds.w!.data, out.dw!.data);
        const scale = Math.max(a.abs, b.abs, f.abs, 1e-300);
        expect(Math.abs(a.v - b.v) / scale, JSON.stringify(c)).toBeLessThanOrEqual(1e-13);
        expect(Math.abs(a.v - f.v) / scale, JSON.stringify(c)).toBeLessThanOrEqual(1e-13);
      }),
      FC,
    );
  });
});

/** Runs the three passes of `c` in float32 and checks them against the float64 reference. */
/**
 * Runs the three passes of `c` in float32 (once per `setup`, each compiling a new plan) and
 * checks them against the float64 reference.
 */
function checkF32(c: ConvCase, seed: number, setups: readonly (() => void)[] = [() => {}]): void {
  const feeds = convFeeds(c, seed);
  const g64 = convPassesGraph(c, "float64");
  const ref = referenceRun(g64, feeds);
  const abs = absReference(g64, feeds);
  const g32 = convPassesGraph(c, "float32");
  const f32 = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.astype("float32")]));
  const terms = termsPerElement(c);
  for (const setup of setups) {
    setup();
    const exe = compile(g32);
    const out = exe.run(f32);
    for (const k of ["y", "dx", "dw"] as const) {
      expect(out[k]!.dtype).toBe("float32");
      expect(f32Mismatch(out[k]!, ref[k]!, abs[k]!, terms[k]), `${k} of ${JSON.stringify(c)}`).toBeNull();
    }
    exe.dispose();
  }
}

describe("float32 kernels against the float64 reference (within float32 rounding)", () => {
  afterEach(() => {
    setWasmEnabled(true);
    setConvGridPaths(true);
  });

  test.runIf(wasmBackend() !== null)("WebAssembly paths (grid paths for stride 1, im2col otherwise)", () => {
    fc.assert(
      fc.property(convCaseArb(), fc.nat(), (c, s) => checkF32(c, s)),
      FC,
    );
  });

  test.runIf(wasmBackend() !== null)("WebAssembly im2col paths only (grid paths off)", () => {
    setConvGridPaths(false);
    fc.assert(
      fc.property(convCaseArb(), fc.nat(), (c, s) => checkF32(c, s)),
      { ...FC, numRuns: 25 },
    );
  });

  test.runIf(wasmBackend() !== null)("larger problems: chunks of images, many channels, groups", () => {
    for (const c of [
      {
        x: [6, 8, 12, 11],
        w: [12, 4, 3, 3],
        attrs: { strides: [1, 1], padding: [1, 1, 1, 1], dilations: [1, 1], groups: 2 },
      },
      {
        x: [3, 16, 9, 9],
        w: [16, 1, 5, 5],
        attrs: { strides: [2, 2], padding: [2, 2, 2, 2], dilations: [1, 1], groups: 16 },
      },
      {
        x: [40, 3, 10, 10],
        w: [8, 3, 3, 3],
        attrs: { strides: [1, 1], padding: [0, 0, 0, 0], dilations: [1, 1], groups: 1 },
      },
      {
        x: [2, 6, 8, 13],
        w: [4, 6, 2, 3],
        attrs: { strides: [1, 2], padding: [0, 1, 2, 0], dilations: [2, 1], groups: 1 },
      },
    ] as Omit<ConvCase, "y">[]) {
      const { strides: s, padding: p, dilations: d } = c.attrs;
      const y: ConvCase["y"] = [
        c.x[0],
        c.w[0],
        convLen(c.x[2], c.w[2], s[0], d[0], p[0], p[1]),
        convLen(c.x[3], c.w[3], s[1], d[1], p[2], p[3]),
      ];
      checkF32({ ...c, y }, 3, [() => setConvGridPaths(true), () => setConvGridPaths(false)]);
    }
  });

  test.runIf(wasmBackend() !== null)("worker threads change no bit of the float32 results", async () => {
    const cases: ConvCase[] = [
      {
        x: [6, 8, 12, 11],
        w: [12, 4, 3, 3],
        y: [6, 12, 12, 11],
        attrs: { strides: [1, 1], padding: [1, 1, 1, 1], dilations: [1, 1], groups: 2 },
      },
      {
        x: [4, 6, 13, 9],
        w: [16, 6, 3, 2],
        y: [4, 16, 6, 8],
        attrs: { strides: [2, 1], padding: [0, 0, 0, 0], dilations: [1, 1], groups: 1 },
      },
    ];
    const runAll = () =>
      cases.map((c) => {
        const exe = compile(convPassesGraph(c, "float32"));
        const feeds = convFeeds(c, 5);
        const out = exe.run(
          Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.astype("float32")])),
        );
        const r = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data)]));
        exe.dispose();
        return r;
      });
    const single = runAll();
    try {
      expect(enableThreads(2, { minWork: 1 })).toBe(2);
      for (let i = 0; i < 500 && threadCount() < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(threadCount()).toBe(2);
      expect(runAll()).toEqual(single);
    } finally {
      disableThreads();
    }
  });

  test("the JS fallback (WebAssembly off, plans compiled afterwards)", () => {
    setWasmEnabled(false);
    expect(wasmBackend()).toBeNull();
    fc.assert(
      fc.property(convCaseArb(), fc.nat(), (c, s) => checkF32(c, s)),
      { ...FC, numRuns: 25 },
    );
  });

  test("a plan with a symbolic batch runs every batch size through the same kernels", () => {
    const c: ConvCase = {
      x: [1, 4, 6, 5],
      w: [6, 2, 3, 2],
      y: [1, 6, 3, 5],
      attrs: { strides: [2, 1], padding: [1, 1, 0, 1], dilations: [1, 1], groups: 2 },
    };
    const exe = compile(convPassesGraph(c, "float32", "N"));
    for (const n of [1, 3, 2]) {
      const cn: ConvCase = { ...c, x: [n, c.x[1], c.x[2], c.x[3]], y: [n, c.y[1], c.y[2], c.y[3]] };
      const feeds = convFeeds(cn, n);
      const g64 = convPassesGraph(cn, "float64");
      const ref = referenceRun(g64, feeds);
      const abs = absReference(g64, feeds);
      const out = exe.run(
        Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.astype("float32")])),
      );
      const terms = termsPerElement(cn);
      for (const k of ["y", "dx", "dw"] as const)
        expect(f32Mismatch(out[k]!, ref[k]!, abs[k]!, terms[k]), `${k} batch ${n}`).toBeNull();
    }
    exe.dispose();
  });
});

describe("float64 kernels against the reference", () => {
  test("random attribute combinations (exact up to float64 rounding)", () => {
    fc.assert(
      fc.property(convCaseArb(), fc.nat(), (c, seed) => {
        const feeds = convFeeds(c, seed);
        const g: Graph = convPassesGraph(c, "float64");
        const ref = referenceRun(g, feeds);
        const abs = absReference(g, feeds);
        const out = compile(g).run(feeds);
        for (const k of ["y", "dx", "dw"] as const) {
          const r = ref[k]!;
          expect(out[k]!.shape).toEqual(r.shape);
          out[k]!.data.forEach((v, i) => {
            expect(Math.abs(v - r.data[i]!), `${k}[${i}]`).toBeLessThanOrEqual(1e-14 * abs[k]!.data[i]!);
          });
        }
      }),
      { ...FC, numRuns: 25 },
    );
  });
});
