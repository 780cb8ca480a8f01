import { PerformanceObserver } from "node:perf_hooks";
import { ParamStore, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import {
  adam,
  flattenParams,
  type LineFunction,
  MinimizeError,
  minimize,
  momentum,
  type Objective,
  type Optimizer,
  OptimizerError,
  sgd,
  unflattenParams,
  wolfeLineSearch,
} from "../src/optim/index.js";

// ---------------------------------------------------------------- mini-batch optimizers

/** f(w) = 0.5 * sum_i a_i (w_i - c_i)^2 over two params; minimum at c. */
const A = [1, 3, 0.5, 2];
const C = [3, -1, 0.5, 2];
function quadGrads(params: ParamStore, grads: Record<string, Tensor>): number {
  const w = params.get("w").data;
  const b = params.get("b").data;
  const gw = grads.w!.data;
  const gb = grads.b!.data;
  let f = 0;
  for (let i = 0; i < 3; i++) {
    gw[i] = A[i]! * (w[i]! - C[i]!);
    f += 0.5 * A[i]! * (w[i]! - C[i]!) ** 2;
  }
  gb[0] = A[3]! * (b[0]! - C[3]!);
  f += 0.5 * A[3]! * (b[0]! - C[3]!) ** 2;
  return f;
}

function runQuadratic(opt: Optimizer, steps: number, dtype: "float32" | "float64" = "float64") {
  const params = new ParamStore([
    ["w", Tensor.zeros([3], dtype)],
    ["b", Tensor.zeros([1], dtype)],
  ]);
  const w = params.get("w");
  const b = params.get("b");
  const wData = w.data;
  const grads = { w: Tensor.zeros([3], dtype), b: Tensor.zeros([1], dtype) };
  for (let s = 0; s < steps; s++) {
    quadGrads(params, grads);
    opt.step(params, grads);
  }
  // updated in place: same tensor and buffer objects
  expect(params.get("w")).toBe(w);
  expect(params.get("b")).toBe(b);
  expect(params.get("w").data).toBe(wData);
  return [...w.data, ...b.data];
}

describe("mini-batch optimizers", () => {
  it("SGD converges to the minimum of a quadratic, in place", () => {
    const x = runQuadratic(sgd({ lr: 0.3 }), 200);
    x.forEach((v, i) => {
      expect(v).toBeCloseTo(C[i]!, 10);
    });
  });

  it("SGD applies exactly p -= lr * (g + wd * p)", () => {
    const p = new ParamStore([["w", Tensor.from([1, -2])]]);
    const opt = sgd({ lr: 0.5, weightDecay: 0.1 });
    opt.step(p, { w: Tensor.from([0.2, 0.4]) });
    expect(p.get("w").toArray()).toEqual([1 - 0.5 * (0.2 + 0.1), -2 - 0.5 * (0.4 - 0.2)]);
  });

  it("momentum and Nesterov converge on a quadratic", () => {
    for (const nesterov of [false, true]) {
      const x = runQuadratic(momentum({ lr: 0.05, momentum: 0.9, nesterov }), 500);
      x.forEach((v, i) => {
        expect(v).toBeCloseTo(C[i]!, 8);
      });
    }
  });

  it("momentum's first two steps follow v = mu v + g, p -= lr v", () => {
    const p = new ParamStore([["w", Tensor.from([1])]]);
    const opt = momentum({ lr: 0.1, momentum: 0.5 });
    opt.step(p, { w: Tensor.from([2]) }); // v = 2, p = 1 - 0.2 = 0.8
    expect(p.get("w").data[0]).toBeCloseTo(0.8, 15);
    opt.step(p, { w: Tensor.from([1]) }); // v = 0.5*2 + 1 = 2, p = 0.8 - 0.2 = 0.6
    expect(p.get("w").data[0]).toBeCloseTo(0.6, 15);
    opt.reset();
    opt.step(p, { w: Tensor.from([1]) }); // fresh velocity: v = 1, p = 0.5
    expect(p.get("w").data[0]).toBeCloseTo(0.5, 15);
  });

  it("Adam converges on a quadratic (float32 params too)", () => {
    const x = runQuadratic(adam({ lr: 0.05 }), 3000);
    x.forEach((v, i) => {
      expect(v).toBeCloseTo(C[i]!, 4);
    });
    const y = runQuadratic(adam({ lr: 0.05 }), 3000, "float32");
    y.forEach((v, i) => {
      expect(v).toBeCloseTo(C[i]!, 3);
    });
  });

  it("Adam's first steps equal hand-computed values", () => {
    const p = new ParamStore([["w", Tensor.from([1, -1])]]);
    const opt = adam({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    // step 1, g = [0.5, -2]: m = 0.1 g, v = 0.001 g^2; mhat = g, vhat = g^2
    // p -= 0.1 * g / (|g| + 1e-8)
    opt.step(p, { w: Tensor.from([0.5, -2]) });
    const w1 = [1 - (0.1 * 0.5) / (0.5 + 1e-8), -1 - (0.1 * -2) / (2 + 1e-8)];
    expect(p.get("w").data[0]).toBeCloseTo(w1[0]!, 14);
    expect(p.get("w").data[1]).toBeCloseTo(w1[1]!, 14);
    // step 2, g = [1, 1]
    const m = [0.9 * 0.05 + 0.1 * 1, 0.9 * -0.2 + 0.1 * 1];
    const v = [0.999 * 0.00025 + 0.001 * 1, 0.999 * 0.004 + 0.001 * 1];
    const c1 = 1 - 0.9 ** 2;
    const c2 = 1 - 0.999 ** 2;
    opt.step(p, { w: Tensor.from([1, 1]) });
    for (let i = 0; i < 2; i++) {
      const expected = w1[i]! - (0.1 * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
      expect(p.get("w").data[i]).toBeCloseTo(expected, 14);
    }
  });

  it("AdamW decouples weight decay", () => {
    const p = new ParamStore([["w", Tensor.from([2])]]);
    adam({ lr: 0.1, weightDecay: 0.5, decoupledWeightDecay: true }).step(p, { w: Tensor.from([4]) });
    // p = 2 * (1 - 0.05) - 0.1 * 4 / (4 + 1e-8)
    expect(p.get("w").data[0]).toBeCloseTo(2 * 0.95 - (0.1 * 4) / (4 + 1e-8), 14);
  });

  it("skips params without a gradient and keeps per-param step counts", () => {
    const p = new ParamStore([
      ["a", Tensor.from([1])],
      ["b", Tensor.from([1])],
    ]);
    const opt = adam({ lr: 0.1 });
    opt.step(p, { a: Tensor.from([1]) });
    expect(p.get("b").data[0]).toBe(1);
    opt.step(p, { b: Tensor.from([1]) });
    // b's first step: a full lr-sized step as for a
    expect(p.get("b").data[0]).toBeCloseTo(p.get("a").data[0]!, 12);
  });

  it("allocates state once: buffers are reused after the first step", () => {
    const opt = adam({ lr: 0.01 });
    const p = new ParamStore([["w", Tensor.zeros([4], "float64")]]);
    const g = { w: Tensor.full([4], 1, "float64") };
    opt.step(p, g);
    const state = (opt as unknown as { state: Map<string, Float64Array[]> }).state.get("w")!;
    const bufs = [...state];
    for (let i = 0; i < 5; i++) opt.step(p, g);
    const after = (opt as unknown as { state: Map<string, Float64Array[]> }).state.get("w")!;
    expect(after[0]).toBe(bufs[0]);
    expect(after[1]).toBe(bufs[1]);
  });

  it("allocates nothing per step: no garbage collection during 2M steps", async () => {
    let gcs = 0;
    const obs = new PerformanceObserver((list) => {
      gcs += list.getEntries().length;
    });
    obs.observe({ entryTypes: ["gc"] });
    const settle = () => new Promise((r) => setTimeout(r, 20));
    try {
      for (const make of [
        () => sgd({ lr: 1e-3 }),
        () => momentum({ lr: 1e-3, nesterov: true }),
        () => adam(),
      ]) {
        const opt = make();
        const p = new ParamStore([
          ["W", Tensor.zeros([2, 3], "float32")],
          ["b", Tensor.zeros([3], "float64")],
        ]);
        const g = { W: Tensor.full([2, 3], 0.1, "float32"), b: Tensor.full([3], 0.1, "float64") };
        for (let i = 0; i < 10_000; i++) opt.step(p, g); // first steps allocate state; let the JIT settle
        await settle();
        gcs = 0;
        for (let i = 0; i < 2_000_000; i++) opt.step(p, g);
        await settle();
        // 16 bytes per step would be 32 MB of garbage: several scavenges
        expect(gcs, opt.name).toBeLessThanOrEqual(1);
      }
    } finally {
      obs.disconnect();
    }
  });

  it("validates hyperparameters and gradients with clear errors", () => {
    expect(() => sgd({ lr: 0 })).toThrow(/sgd: lr must be a finite number > 0, got 0/);
    expect(() => sgd({ lr: Number.NaN })).toThrow(OptimizerError);
    expect(() => momentum({ lr: 0.1, momentum: 1 })).toThrow(/momentum must be in \[0, 1\), got 1/);
    expect(() => adam({ beta1: -0.1 })).toThrow(/adam: beta1 must be in \[0, 1\)/);
    expect(() => adam({ beta2: 1 })).toThrow(/beta2/);
    expect(() => adam({ eps: 0 })).toThrow(/eps must be a finite number > 0/);
    expect(() => sgd({ lr: 0.1, weightDecay: -1 })).toThrow(/weightDecay/);
    const opt = sgd({ lr: 0.1 });
    expect(() => {
      opt.lr = -1;
    }).toThrow(/lr must be/);
    opt.lr = 0.2;
    expect(opt.lr).toBe(0.2);
    const p = new ParamStore([["w", Tensor.zeros([2, 2])]]);
    expect(() => opt.step(p, { v: Tensor.zeros([2, 2]) })).toThrow(
      /gradient 'v' has no matching param \(params: w\)/,
    );
    expect(() => opt.step(p, { w: Tensor.zeros([3]) })).toThrow(
      /gradient 'w' has shape \[3\] but the param has \[2,2\]/,
    );
  });
});

// ---------------------------------------------------------------- full-batch minimisation

const rosen: Objective = (x, g) => {
  let f = 0;
  g.fill(0);
  for (let i = 0; i < x.length - 1; i++) {
    const a = x[i + 1]! - x[i]! * x[i]!;
    const b = 1 - x[i]!;
    f += 100 * a * a + b * b;
    g[i] = g[i]! - 400 * x[i]! * a - 2 * b;
    g[i + 1] = g[i + 1]! + 200 * a;
  }
  return f;
};

function rosenStart(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
}

const maxErr = (x: ArrayLike<number>, target: (i: number) => number): number => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - target(i)));
  return m;
};

describe("minimize", () => {
  for (const method of ["lbfgs", "cg"] as const) {
    for (const n of [2, 10]) {
      it(`${method} minimises the ${n}-D Rosenbrock function from the standard start`, () => {
        const x0 = rosenStart(n);
        const r = minimize(rosen, x0, { method, gtol: 1e-9 });
        expect(r.converged).toBe(true);
        expect(r.iterations).toBeLessThan(200);
        expect(maxErr(r.x, () => 1)).toBeLessThan(1e-6);
        expect(r.f).toBeLessThan(1e-12);
        expect(x0).toEqual(rosenStart(n)); // not modified
        expect(r.history.length).toBe(r.iterations + 1);
        expect(r.history[0]).toBeCloseTo(rosen(x0, new Float64Array(n)), 12);
        // monotone decrease (up to rounding)
        for (let i = 1; i < r.history.length; i++)
          expect(r.history[i]!).toBeLessThanOrEqual(r.history[i - 1]! + 1e-12);
      });
    }
  }

  it("solves a 50-D convex quadratic to high accuracy (both methods)", () => {
    const n = 50;
    const rng = new Rng(7);
    const B = Array.from({ length: n }, () => Array.from({ length: n }, () => rng.normal()));
    const H = Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => {
        let s = 0;
        for (let k = 0; k < n; k++) s += B[k]![i]! * B[k]![j]!;
        return s / n + (i === j ? 0.1 : 0);
      }),
    );
    const xs = Array.from({ length: n }, () => rng.normal());
    const b = H.map((row) => row.reduce((s, h, j) => s + h * xs[j]!, 0)); // so that H xs = b
    const fun: Objective = (x, g) => {
      let f = 0;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += H[i]![j]! * x[j]!;
        g[i] = s - b[i]!;
        f += 0.5 * x[i]! * s - b[i]! * x[i]!;
      }
      return f;
    };
    for (const method of ["lbfgs", "cg"] as const) {
      const r = minimize(fun, new Float64Array(n), { method, gtol: 1e-10, ftol: 0 });
      expect(r.converged, r.message).toBe(true);
      expect(maxErr(r.x, (i) => xs[i]!)).toBeLessThan(1e-7);
    }
  });

  it("L-BFGS finds the optimum of an L2-regularised logistic regression", () => {
    // synthetic data: 2 features + bias, labels from a noisy linear rule
    const rng = new Rng(3);
    const m = 200;
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < m; i++) {
      const a = rng.normal();
      const c = rng.normal();
      X.push([1, a, c]);
      y.push(1.5 * a - 2 * c + 0.5 + 0.8 * rng.normal() > 0 ? 1 : 0);
    }
    const lambda = 0.1;
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const fun: Objective = (w, g) => {
      g.fill(0);
      let f = 0;
      for (let i = 0; i < m; i++) {
        const z = X[i]![0]! * w[0]! + X[i]![1]! * w[1]! + X[i]![2]! * w[2]!;
        // log(1 + e^z) - y z, stably
        f += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y[i]! * z;
        const r = sig(z) - y[i]!;
        for (let j = 0; j < 3; j++) g[j] = g[j]! + r * X[i]![j]!;
      }
      f /= m;
      for (let j = 0; j < 3; j++) g[j] = g[j]! / m;
      for (let j = 1; j < 3; j++) {
        f += (lambda / (2 * m)) * w[j]! ** 2;
        g[j] = g[j]! + (lambda / m) * w[j]!;
      }
      return f;
    };
    const r = minimize(fun, new Float64Array(3), { gtol: 1e-10 });
    expect(r.converged, r.message).toBe(true);
    // reference: Newton's method with the exact Hessian
    const w = [0, 0, 0];
    for (let it = 0; it < 30; it++) {
      const g = [0, 0, 0];
      const Hs = [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ];
      for (let i = 0; i < m; i++) {
        const p = sig(X[i]![0]! * w[0]! + X[i]![1]! * w[1]! + X[i]![2]! * w[2]!);
        for (let j = 0; j < 3; j++) {
          g[j] = g[j]! + ((p - y[i]!) * X[i]![j]!) / m;
          for (let k = 0; k < 3; k++) Hs[j]![k] = Hs[j]![k]! + (p * (1 - p) * X[i]![j]! * X[i]![k]!) / m;
        }
      }
      for (let j = 1; j < 3; j++) {
        g[j] = g[j]! + (lambda / m) * w[j]!;
        Hs[j]![j] = Hs[j]![j]! + lambda / m;
      }
      // solve Hs d = g (3x3, Cramer's rule)
      const det = (M: number[][]) =>
        M[0]![0]! * (M[1]![1]! * M[2]![2]! - M[1]![2]! * M[2]![1]!) -
        M[0]![1]! * (M[1]![0]! * M[2]![2]! - M[1]![2]! * M[2]![0]!) +
        M[0]![2]! * (M[1]![0]! * M[2]![1]! - M[1]![1]! * M[2]![0]!);
      const D = det(Hs);
      for (let j = 0; j < 3; j++) {
        const Mj = Hs.map((row, r2) => row.map((v, c) => (c === j ? g[r2]! : v)));
        w[j] = w[j]! - det(Mj) / D;
      }
    }
    expect(maxErr(r.x, (i) => w[i]!)).toBeLessThan(1e-7);
    expect(r.x[1]).toBeGreaterThan(0);
    expect(r.x[2]).toBeLessThan(0);
  });

  it("returns at once, converged, when the gradient is zero at the start", () => {
    let calls = 0;
    const r = minimize(
      (_x, g) => {
        calls++;
        g.fill(0);
        return 5;
      },
      new Float64Array([1, 2]),
    );
    expect(r).toMatchObject({ converged: true, iterations: 0, evaluations: 1, f: 5, history: [5] });
    expect(r.message).toMatch(/gradient is zero at the start point/);
    expect(calls).toBe(1);
  });

  it("throws a MinimizeError naming iteration 0 when the objective is NaN at the start", () => {
    const nan: Objective = (_x, g) => {
      g.fill(0);
      return Number.NaN;
    };
    expect(() => minimize(nan, new Float64Array(2))).toThrow(MinimizeError);
    expect(() => minimize(nan, new Float64Array(2))).toThrow(
      /returned f = NaN at the start point \(iteration 0\)/,
    );
    const badGrad: Objective = (_x, g) => {
      g[0] = Number.POSITIVE_INFINITY;
      return 1;
    };
    expect(() => minimize(badGrad, new Float64Array(1), { method: "cg" })).toThrow(/non-finite gradient/);
  });

  it("throws a MinimizeError naming the iteration when the objective turns NaN everywhere", () => {
    // Rosenbrock for the first 10 evaluations, NaN from then on
    let calls = 0;
    const fun: Objective = (x, g) => {
      const f = rosen(x, g);
      return ++calls > 10 ? Number.NaN : f;
    };
    try {
      minimize(fun, rosenStart(2));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MinimizeError);
      const err = e as MinimizeError;
      expect(err.message).toMatch(/kept returning NaN or Inf during the line search of iteration \d+/);
      expect(err.iteration).toBeGreaterThanOrEqual(1);
      expect(err.message).toContain(`iteration ${err.iteration}`);
    }
  });

  it("shrinks the step when a trial point gives Inf (barrier functions)", () => {
    // f = -log(x) - log(1 - x): Inf outside (0, 1), minimum at 0.5
    const fun: Objective = (x, g) => {
      const v = x[0]!;
      if (v <= 0 || v >= 1) {
        g[0] = Number.NaN;
        return Number.POSITIVE_INFINITY;
      }
      g[0] = -1 / v + 1 / (1 - v);
      return -Math.log(v) - Math.log(1 - v);
    };
    for (const method of ["lbfgs", "cg"] as const) {
      const r = minimize(fun, new Float64Array([0.999]), { method, gtol: 1e-10 });
      expect(r.converged, r.message).toBe(true);
      expect(r.x[0]).toBeCloseTo(0.5, 9);
    }
  });

  it("resets to steepest descent when the direction is not a descent direction", () => {
    // A tiny-memory L-BFGS on a function whose curvature flips sign keeps going; check with a
    // non-convex 1-D function where quasi-Newton directions may point uphill.
    const fun: Objective = (x, g) => {
      const v = x[0]!;
      g[0] = 4 * v ** 3 - 6 * v + 1;
      return v ** 4 - 3 * v ** 2 + v;
    };
    for (const method of ["lbfgs", "cg"] as const) {
      const r = minimize(fun, new Float64Array([0.3]), { method, gtol: 1e-10, memory: 1 });
      expect(r.converged, r.message).toBe(true);
      expect(Math.abs(4 * r.x[0]! ** 3 - 6 * r.x[0]! + 1)).toBeLessThan(1e-10);
    }
  });

  it("onIteration sees each iteration and stops the run when it returns false", () => {
    const seen: number[] = [];
    const r = minimize(rosen, rosenStart(2), {
      onIteration: (info) => {
        seen.push(info.iteration);
        expect(info.gradNorm).toBeGreaterThanOrEqual(0);
        expect(info.step).toBeGreaterThan(0);
        expect(info.evaluations).toBeGreaterThan(info.iteration);
        return info.iteration < 5;
      },
    });
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(r.iterations).toBe(5);
    expect(r.converged).toBe(false);
    expect(r.message).toBe("stopped by onIteration");
    expect(r.history).toHaveLength(6);
  });

  it("stops at maxIter and maxEvaluations without claiming convergence", () => {
    const r = minimize(rosen, rosenStart(2), { method: "cg", maxIter: 3 });
    expect(r).toMatchObject({ iterations: 3, converged: false });
    expect(r.message).toMatch(/maxIter \(3\)/);
    const r2 = minimize(rosen, rosenStart(2), { maxEvaluations: 5 });
    expect(r2.converged).toBe(false);
    expect(r2.message).toMatch(/maxEvaluations \(5\)/);
  });

  it("validates its options", () => {
    const f: Objective = (x, g) => {
      g[0] = 2 * x[0]!;
      return x[0]! ** 2;
    };
    const x0 = new Float64Array([1]);
    expect(() => minimize(f, x0, { maxIter: 0 })).toThrow(/maxIter must be an integer >= 1/);
    expect(() => minimize(f, x0, { memory: 1.5 })).toThrow(/memory/);
    expect(() => minimize(f, x0, { gtol: -1 })).toThrow(/gtol/);
    expect(() => minimize(f, x0, { c1: 0.5, c2: 0.4 })).toThrow(/0 < c1 < c2 < 1/);
    expect(() => minimize(f, x0, { method: "newton" as "cg" })).toThrow(/unknown method "newton"/);
  });
});

// ---------------------------------------------------------------- line search

/** phi(alpha) for f along a line from x with direction d, counting evaluations. */
function lineOf(f: (t: number) => number, df: (t: number) => number): LineFunction {
  return (a) => ({ f: f(a), slope: df(a) });
}

describe("wolfeLineSearch", () => {
  const cases: [string, (t: number) => number, (t: number) => number, number][] = [
    // Moré–Thuente test functions and a few others, each with phi'(0) < 0
    ["quadratic", (t) => (t - 3) ** 2, (t) => 2 * (t - 3), 1],
    ["tiny first step", (t) => (t - 3) ** 2, (t) => 2 * (t - 3), 1e-6],
    ["huge first step", (t) => (t - 3) ** 2, (t) => 2 * (t - 3), 1e4],
    ["MT1: -t/(t^2+2)", (t) => -t / (t * t + 2), (t) => (t * t - 2) / (t * t + 2) ** 2, 1e-3],
    [
      "MT2: (t+0.004)^5 - 2(t+0.004)^4",
      (t) => (t + 0.004) ** 5 - 2 * (t + 0.004) ** 4,
      (t) => 5 * (t + 0.004) ** 4 - 8 * (t + 0.004) ** 3,
      0.1,
    ],
    [
      "quartic with wiggles",
      (t) => (t - 1) ** 4 + 0.01 * Math.sin(20 * t) - 0.2 * t,
      (t) => 4 * (t - 1) ** 3 + 0.2 * Math.cos(20 * t) - 0.2,
      2,
    ],
  ];
  for (const [name, f, df, a0] of cases) {
    for (const c2 of [0.9, 0.1]) {
      it(`accepts a step satisfying the strong Wolfe conditions: ${name}, c2 = ${c2}`, () => {
        const c1 = 1e-4;
        const f0 = f(0);
        const s0 = df(0);
        expect(s0).toBeLessThan(0);
        const r = wolfeLineSearch(lineOf(f, df), f0, s0, a0, { c1, c2, fNoise: 0 });
        expect(r.status, r.message).toBe("ok");
        expect(r.alpha).toBeGreaterThan(0);
        expect(r.f).toBe(f(r.alpha));
        expect(r.slope).toBe(df(r.alpha));
        expect(r.f).toBeLessThanOrEqual(f0 + c1 * r.alpha * s0); // sufficient decrease
        expect(Math.abs(r.slope)).toBeLessThanOrEqual(c2 * Math.abs(s0)); // strong curvature
        expect(r.lastAlpha).toBe(r.alpha);
      });
    }
  }

  for (const method of ["lbfgs", "cg"] as const) {
    it(`${method}: every step accepted inside minimize satisfies the strong Wolfe conditions`, () => {
      // log every evaluation; at each onIteration the accepted point is the last one evaluated
      const log: { x: Float64Array; f: number; g: Float64Array }[] = [];
      const fun: Objective = (x, g) => {
        const f = rosen(x, g);
        log.push({ x: x.slice(), f, g: g.slice() });
        return f;
      };
      const c1 = 1e-4;
      const c2 = method === "cg" ? 0.1 : 0.9;
      let prev = 0; // index in log of the current point
      let checked = 0;
      const r = minimize(fun, rosenStart(10), {
        method,
        fNoise: 0,
        gtol: 1e-5,
        onIteration: (info) => {
          const a = log[prev]!;
          const b = log[log.length - 1]!;
          expect(b.f).toBe(info.f);
          // direction d = (x_b - x_a) / step
          let s0 = 0;
          let s1 = 0;
          for (let i = 0; i < a.x.length; i++) {
            const d = (b.x[i]! - a.x[i]!) / info.step;
            s0 += a.g[i]! * d;
            s1 += b.g[i]! * d;
          }
          expect(s0).toBeLessThan(0);
          expect(b.f).toBeLessThanOrEqual(a.f + c1 * info.step * s0 + 1e-12 * Math.abs(a.f));
          expect(Math.abs(s1)).toBeLessThanOrEqual(c2 * Math.abs(s0) * (1 + 1e-9));
          prev = log.length - 1;
          checked++;
          return undefined;
        },
      });
      expect(r.converged, r.message).toBe(true);
      expect(checked).toBe(r.iterations);
      expect(checked).toBeGreaterThan(20);
    });
  }

  it("rejects a non-descent direction and bad constants", () => {
    const phi = lineOf(
      (t) => t * t,
      (t) => 2 * t,
    );
    expect(() => wolfeLineSearch(phi, 0, 1, 1)).toThrow(/descent direction/);
    expect(() => wolfeLineSearch(phi, 0, -1, 1, { c1: 0.5, c2: 0.1 })).toThrow(/0 < c1 < c2 < 1/);
    expect(() => wolfeLineSearch(phi, 0, -1, 0)).toThrow(/first step/);
  });

  it("reports failure when the function is unbounded-looking within the budget", () => {
    const r = wolfeLineSearch(
      lineOf(
        (t) => -t,
        () => -1,
      ),
      0,
      -1,
      1,
      { maxEvaluations: 5 },
    );
    expect(r.status).toBe("failed");
    expect(r.alpha).toBeGreaterThan(0); // best decreasing point is returned
    expect(r.evaluations).toBe(5);
  });

  it("reports nonfinite when phi is NaN for every step", () => {
    const r = wolfeLineSearch(() => ({ f: Number.NaN, slope: Number.NaN }), 1, -1, 1, { maxNonFinite: 5 });
    expect(r.status).toBe("nonfinite");
    expect(r.alpha).toBe(0);
  });
});

// ---------------------------------------------------------------- flatten / unflatten

describe("flattenParams / unflattenParams", () => {
  it("round-trips in insertion order and copies back in place", () => {
    const p = new ParamStore([
      [
        "W",
        Tensor.from(
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          { dtype: "float32" },
        ),
      ],
      ["b", Tensor.from([7, 8])],
    ]);
    const W = p.get("W");
    const x = flattenParams(p);
    expect([...x]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...flattenParams(p, ["b", "W"])]).toEqual([7, 8, 1, 2, 3, 4, 5, 6]);
    x.forEach((v, i) => {
      x[i] = v * 10;
    });
    unflattenParams(x, p);
    expect(p.get("W")).toBe(W);
    expect(W.toArray()).toEqual([10, 20, 30, 40, 50, 60]);
    expect(p.get("b").toArray()).toEqual([70, 80]);
    // plain records (e.g. gradients) and an output buffer
    const out = new Float64Array(2);
    expect(flattenParams({ g: Tensor.from([1, 2]) }, ["g"], out)).toBe(out);
    expect(() => unflattenParams(new Float64Array(3), p)).toThrow(/vector has 3 elements, the params need 8/);
    expect(() => flattenParams(p, ["nope"])).toThrow(/no param named 'nope'/);
  });

  it("lets minimize drive a ParamStore", () => {
    const p = new ParamStore([
      ["a", Tensor.from([0, 0])],
      ["b", Tensor.from([0])],
    ]);
    const target = [1, -2, 3];
    const names = ["a", "b"];
    const r = minimize(
      (x, g) => {
        unflattenParams(x, p, names);
        const v = flattenParams(p, names);
        let f = 0;
        for (let i = 0; i < 3; i++) {
          g[i] = 2 * (v[i]! - target[i]!);
          f += (v[i]! - target[i]!) ** 2;
        }
        return f;
      },
      flattenParams(p, names),
      { gtol: 1e-12 },
    );
    unflattenParams(r.x, p, names);
    expect(p.get("a").data[0]).toBeCloseTo(1, 10);
    expect(p.get("a").data[1]).toBeCloseTo(-2, 10);
    expect(p.get("b").data[0]).toBeCloseTo(3, 10);
  });
});
