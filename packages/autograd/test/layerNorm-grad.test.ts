/**
 * Derivatives of the fused `layerNorm` op in float64: first and second order against finite
 * differences for x, gamma and beta over the last and other axes (and a symbolic batch), the VJP
 * and JVP against autodiff of the same formula written with elementary ops, and a wrong rule being
 * caught by the op-spec check.
 */
import { compile, type Graph, GraphBuilder, ParamStore, Tensor, type Value } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatGradcheckReport, grad, gradcheck, gradgradcheck, jvp } from "../src/index.js";
import { checkOpGradients } from "../src/testing/index.js";

/** A deterministic, irregular float64 tensor of `shape` (no two entries equal). */
function irregular(shape: number[], phase: number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(
    Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + phase) * 2 + 0.3 * Math.cos(0.9 * i * i + phase)),
    { shape },
  );
}

/** The same normalisation as elementary ops (the models layer's former composite). */
function composite(b: GraphBuilder, x: Value, gamma: Value, beta: Value, axis: number, eps: number): Value {
  const xc = b.sub(x, b.mean(x, axis, true));
  const inv = b.div(1, b.sqrt(b.add(b.mean(b.square(xc), axis, true), eps)));
  return b.add(b.mul(b.mul(xc, inv), gamma), beta);
}

type Norm = (b: GraphBuilder, x: Value, gamma: Value, beta: Value) => Value;

/** `f = sum(w * tanh(norm(x, gamma, beta)))`: a non-linear loss, so second derivatives are rich. */
function lossGraph(xShape: (number | string)[], pShape: number[], norm: Norm): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", xShape);
  const w = b.input("w", xShape);
  const gamma = b.param("gamma", pShape);
  const beta = b.param("beta", pShape);
  b.output("f", b.sum(b.mul(b.tanh(norm(b, x, gamma, beta)), w)));
  return b.build();
}

const CASES: [string, number[], number, number][] = [
  ["last axis of [3, 5]", [3, 5], -1, 1e-5],
  ["axis 0 of [4, 3]", [4, 3], 0, 1e-5],
  ["axis 1 of [2, 3, 4]", [2, 3, 4], 1, 0.1],
  ["a one-element axis", [3, 1], -1, 1e-5],
];

describe("layerNorm: gradients against finite differences (float64)", () => {
  it.each(CASES)("%s: first and second order in x, gamma and beta", (_name, shape, axis, epsilon) => {
    const a = axis < 0 ? axis + shape.length : axis;
    const ps = [shape[a]!, ...shape.slice(a + 1).map(() => 1)];
    const graph = lossGraph(shape, ps, (b, x, g, bt) => b.layerNorm(x, g, bt, { axis, epsilon }));
    const feeds = { x: irregular(shape, 0.1), w: irregular(shape, 2.3) };
    const params = new ParamStore([
      ["gamma", irregular(ps, 1.1)],
      ["beta", irregular(ps, 4.2)],
    ]);
    const wrt = ["x", "gamma", "beta"];
    const first = gradcheck(graph, feeds, { params, wrt });
    expect(first.ok, formatGradcheckReport(first)).toBe(true);
    const second = gradgradcheck(graph, feeds, { params, wrt });
    expect(second.ok, formatGradcheckReport(second)).toBe(true);
  });

  it("with a symbolic batch dim", () => {
    const graph = lossGraph(["N", 4], [4], (b, x, g, bt) => b.layerNorm(x, g, bt));
    const feeds = { x: irregular([3, 4], 0.7), w: irregular([3, 4], 1.9) };
    const params = new ParamStore([
      ["gamma", irregular([4], 0.2)],
      ["beta", irregular([4], 3.3)],
    ]);
    const first = gradcheck(graph, feeds, { params, wrt: ["x", "gamma", "beta"] });
    expect(first.ok, formatGradcheckReport(first)).toBe(true);
    const second = gradgradcheck(graph, feeds, { params, wrt: ["x", "gamma"] });
    expect(second.ok, formatGradcheckReport(second)).toBe(true);
  });
});

describe("layerNorm: derivatives equal autodiff of the composite formula", () => {
  it.each(CASES)("%s: gradients and JVP", (_name, shape, axis, epsilon) => {
    const a = axis < 0 ? axis + shape.length : axis;
    const ps = [shape[a]!, ...shape.slice(a + 1).map(() => 1)];
    const feeds = { x: irregular(shape, 0.5), w: irregular(shape, 1.5) };
    const params = new ParamStore([
      ["gamma", irregular(ps, 2.5)],
      ["beta", irregular(ps, 3.5)],
    ]);
    const run = (norm: Norm) => {
      const graph = lossGraph(shape, ps, norm);
      const g = compile(grad(graph, "f", ["x", "gamma", "beta"]), { params }).run(feeds);
      const tangent = compile(jvp(graph, "f", "x"), { params }).run({ ...feeds, "tangent:x": feeds.w });
      return {
        x: Array.from(g["grad:x"]!.data),
        gamma: Array.from(g["grad:gamma"]!.data),
        beta: Array.from(g["grad:beta"]!.data),
        jvp: tangent["jvp:f"]!.data[0]!,
      };
    };
    const op = run((b, x, g, bt) => b.layerNorm(x, g, bt, { axis, epsilon }));
    const ref = run((b, x, g, bt) => composite(b, x, g, bt, a, epsilon));
    for (const k of ["x", "gamma", "beta"] as const) {
      op[k].forEach((v, i) => {
        expect(v, `${k}[${i}]`).toBeCloseTo(ref[k][i]!, 12);
      });
    }
    expect(op.jvp).toBeCloseTo(ref.jvp, 12);
  });
});

describe("layerNorm: the op-spec check catches a wrong rule", () => {
  it("a VJP that drops the variance term (xhat * mean(g gamma xhat)) fails", () => {
    const details = fc.check(
      checkOpGradients("layerNorm", {
        rules: {
          layerNorm: ({ b, g, x, attrs }) => {
            const axis = attrs.axis < 0 ? attrs.axis + x[0]!.rank : attrs.axis;
            const xc = b.sub(x[0]!, b.mean(x[0]!, axis, true));
            const rstd = b.div(1, b.sqrt(b.add(b.mean(b.square(xc), axis, true), attrs.epsilon)));
            const gg = b.mul(g, x[1]!);
            return [b.mul(rstd, b.sub(gg, b.mean(gg, axis, true))), b.mul(g, b.mul(xc, rstd)), g];
          },
        },
      }),
      { seed: 1, numRuns: 100 },
    );
    expect(details.failed).toBe(true);
  });
});
