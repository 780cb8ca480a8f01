/**
 * Learning-rate schedules, gradient clipping, decoupled weight decay and optimizer state
 * (getState/setState) of the mini-batch optimizers.
 */
import { ParamStore, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import {
  adam,
  constantLr,
  cosineDecay,
  exponentialDecay,
  momentum,
  type Optimizer,
  OptimizerError,
  sgd,
  stepDecay,
} from "../src/optim/index.js";

describe("schedules", () => {
  it("stepDecay multiplies by gamma every stepSize steps", () => {
    const s = stepDecay({ lr: 0.1, stepSize: 3, gamma: 0.5 });
    expect([0, 1, 2, 3, 5, 6, 9].map(s)).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
  });

  it("exponentialDecay: continuous and staircase", () => {
    const c = exponentialDecay({ lr: 1, decayRate: 0.5, decaySteps: 2 });
    expect(c(0)).toBe(1);
    expect(c(1)).toBe(0.5 ** 0.5);
    expect(c(4)).toBe(0.25);
    const st = exponentialDecay({ lr: 1, decayRate: 0.5, decaySteps: 2, staircase: true });
    expect([0, 1, 2, 3, 4].map(st)).toEqual([1, 1, 0.5, 0.5, 0.25]);
  });

  it("cosineDecay: linear warm-up to lr, then half a cosine down to minLr, then minLr", () => {
    const s = cosineDecay({ lr: 2, totalSteps: 14, warmupSteps: 4, minLr: 0.5 });
    expect([0, 1, 2, 3].map(s)).toEqual([0.5, 1, 1.5, 2]);
    expect(s(4)).toBe(2);
    expect(s(9)).toBeCloseTo(1.25, 14);
    expect(s(14)).toBe(0.5);
    expect(s(100)).toBe(0.5);
    for (let t = 4; t < 14; t++) expect(s(t + 1)).toBeLessThan(s(t));
    // minLr 0: exactly lr * 0.5 * (1 + cos((pi * t) / T)), as the lenet preset computed it
    const z = cosineDecay({ lr: 0.002, totalSteps: 777 });
    for (const t of [0, 1, 100, 776]) expect(z(t)).toBe(0.002 * 0.5 * (1 + Math.cos((Math.PI * t) / 777)));
    expect(z(777)).toBe(0);
  });

  it("constantLr with warm-up", () => {
    expect([0, 1, 2, 3, 50].map(constantLr(0.3, { warmupSteps: 3 }))).toEqual([
      0.3 / 3,
      0.6 / 3,
      0.3,
      0.3,
      0.3,
    ]);
    expect(constantLr(0.3)(0)).toBe(0.3);
  });

  it("invalid arguments are OptimizerErrors naming the option", () => {
    expect(() => stepDecay({ lr: 0.1, stepSize: 0 })).toThrow(
      /stepDecay: stepSize must be an integer >= 1, got 0/,
    );
    expect(() => cosineDecay({ lr: 1, totalSteps: 5, warmupSteps: 5 })).toThrow(OptimizerError);
    expect(() => cosineDecay({ lr: 1, totalSteps: 5, minLr: 1 })).toThrow(/minLr/);
    expect(() => exponentialDecay({ lr: 1, decayRate: 1.5 })).toThrow(/decayRate must be in \(0, 1\]/);
    expect(() => constantLr(Number.NaN)).toThrow(/constantLr: lr/);
    const bad = sgd({ lr: (s) => (s < 1 ? 0.1 : Number.NaN) });
    const p = new ParamStore([["w", Tensor.from([1])]]);
    bad.step(p, { w: Tensor.from([1]) });
    expect(() => bad.step(p, { w: Tensor.from([1]) })).toThrow(
      /schedule must return a finite number >= 0 \(at step 1\)/,
    );
  });
});

/** A small problem: two params, gradients of a fixed random quadratic, `steps` updates. */
function train(opt: Optimizer, steps: number, params?: ParamStore): ParamStore {
  const ps =
    params ??
    new ParamStore([
      ["a", Tensor.from([0.5, -1, 2, 0.25], { dtype: "float32" })],
      ["b", Tensor.from([1, -3])],
    ]);
  const grads = { b: Tensor.zeros([2], "float64"), a: Tensor.zeros([4], "float32") };
  for (let s = 0; s < steps; s++) {
    const rng = new Rng(1000 + opt.iterations);
    for (const [name, t] of ps.entries()) {
      const g = grads[name as "a" | "b"].data;
      for (let i = 0; i < g.length; i++) g[i] = 3 * t.data[i]! + rng.uniform() - 0.5;
    }
    opt.step(ps, grads);
  }
  return ps;
}

const bits = (ps: ParamStore) => ps.entries().map(([n, t]) => [n, Array.from(t.data)]);

describe("optimizers with schedules", () => {
  it("a schedule gives the same bits as setting lr by hand before every step", () => {
    const sched = cosineDecay({ lr: 0.05, totalSteps: 20, warmupSteps: 3 });
    const makers = [
      (lr: number | typeof sched) => sgd({ lr, clipNorm: 1 }),
      (lr: number | typeof sched) => momentum({ lr, nesterov: true }),
      (lr: number | typeof sched) => adam({ lr, weightDecay: 0.1, decoupledWeightDecay: true }),
    ];
    for (const make of makers) {
      const a = make(sched);
      expect(a.lr).toBe(sched(0));
      const pa = train(a, 20);
      expect(a.iterations).toBe(20);
      expect(a.lr).toBe(sched(19));
      const b = make(1);
      const byHand: Optimizer = {
        name: b.name,
        get iterations() {
          return b.iterations;
        },
        lr: 1,
        reset: () => b.reset(),
        getState: () => b.getState(),
        setState: (s) => b.setState(s),
        step(p, g) {
          b.lr = sched(b.iterations);
          b.step(p, g);
        },
      };
      expect(bits(train(byHand, 20))).toEqual(bits(pa));
      expect(bits(train(make(0.05), 20))).not.toEqual(bits(pa));
    }
  });

  it("setting lr replaces the schedule; reset rewinds it", () => {
    const o = sgd({ lr: stepDecay({ lr: 1, stepSize: 1, gamma: 0.5 }) });
    train(o, 3);
    expect(o.lr).toBe(0.25);
    o.reset();
    expect(o.iterations).toBe(0);
    expect(o.lr).toBe(1);
    o.lr = 0.7;
    train(o, 2);
    expect(o.lr).toBe(0.7);
  });
});

describe("gradient clipping", () => {
  it("clipNorm scales all gradients by clipNorm / global norm when above it", () => {
    const p = new ParamStore([
      ["u", Tensor.from([0, 0])],
      ["v", Tensor.from([0])],
    ]);
    const o = sgd({ lr: 1, clipNorm: 1.3 });
    const grads = { v: Tensor.from([12]), u: Tensor.from([3, 4]) };
    o.step(p, grads);
    expect(p.get("u").toArray()).toEqual([-3 * 0.1, -4 * 0.1]);
    expect(p.get("v").toArray()).toEqual([-12 * 0.1]);
    // the gradients themselves are left alone
    expect(grads.u.toArray()).toEqual([3, 4]);
    // under the limit: unchanged
    const q = new ParamStore([["u", Tensor.from([0, 0])]]);
    sgd({ lr: 1, clipNorm: 10 }).step(q, { u: Tensor.from([3, 4]) });
    expect(q.get("u").toArray()).toEqual([-3, -4]);
  });

  it("a grads object edited between steps is read afresh (names cached per object)", () => {
    const p = new ParamStore([
      ["u", Tensor.from([0])],
      ["v", Tensor.from([0])],
    ]);
    const o = sgd({ lr: 1, clipNorm: 100 });
    const grads: Record<string, Tensor> = { u: Tensor.from([1]) };
    o.step(p, grads);
    grads.v = Tensor.from([2]);
    o.step(p, grads);
    delete grads.u;
    grads.w = Tensor.from([1]);
    expect(() => o.step(p, grads)).toThrow(/gradient 'w' has no matching param/);
    expect([p.get("u").data[0], p.get("v").data[0]]).toEqual([-2, -2]);
  });

  it("clipValue clamps each element, before the global norm", () => {
    const p = new ParamStore([["u", Tensor.from([0, 0, 0])]]);
    sgd({ lr: 1, clipValue: 2 }).step(p, { u: Tensor.from([5, -0.5, -7]) });
    expect(p.get("u").toArray()).toEqual([-2, 0.5, 2]);
    const q = new ParamStore([["u", Tensor.from([0, 0])]]);
    // clipped to [2, 2], norm 2·sqrt(2), scaled to norm 1
    sgd({ lr: 1, clipValue: 2, clipNorm: 1 }).step(q, { u: Tensor.from([9, 3]) });
    const s = 1 / Math.sqrt(8);
    expect(q.get("u").toArray()).toEqual([-2 * s, -2 * s]);
  });

  it("is deterministic and works for every optimizer; invalid limits throw", () => {
    for (const make of [
      () => sgd({ lr: 0.1, clipNorm: 0.5 }),
      () => momentum({ lr: 0.1, clipNorm: 0.5, clipValue: 0.2 }),
      () => adam({ lr: 0.1, clipNorm: 0.5 }),
    ]) {
      const a = bits(train(make(), 10));
      expect(bits(train(make(), 10))).toEqual(a);
      expect(a).not.toEqual(bits(train(make().name === "sgd" ? sgd({ lr: 0.1 }) : make(), 0)));
    }
    expect(() => sgd({ lr: 1, clipNorm: 0 })).toThrow(/sgd: clipNorm must be a finite number > 0, got 0/);
    expect(() => adam({ clipValue: -1 })).toThrow(/adam: clipValue/);
  });
});

describe("weight decay", () => {
  it("sgd decoupled: p = p (1 - lr wd) - lr g", () => {
    const p = new ParamStore([["w", Tensor.from([1, -2])]]);
    sgd({ lr: 0.5, weightDecay: 0.1, decoupledWeightDecay: true }).step(p, { w: Tensor.from([0.2, 0.4]) });
    expect(p.get("w").toArray()).toEqual([1 * (1 - 0.05) - 0.5 * 0.2, -2 * (1 - 0.05) - 0.5 * 0.4]);
  });

  it("momentum decoupled: the decay stays out of the velocity", () => {
    const p = new ParamStore([["w", Tensor.from([1])]]);
    const o = momentum({ lr: 0.5, momentum: 0.9, weightDecay: 0.1, decoupledWeightDecay: true });
    o.step(p, { w: Tensor.from([0.2]) });
    const p1 = 1 * 0.95 - 0.5 * 0.2;
    expect(p.get("w").toArray()).toEqual([p1]);
    o.step(p, { w: Tensor.from([0.2]) });
    expect(p.get("w").toArray()).toEqual([p1 * 0.95 - 0.5 * (0.9 * 0.2 + 0.2)]);
    expect(o.getState().params.w!.buffers[0]).toEqual(new Float64Array([0.9 * 0.2 + 0.2]));
  });
});

describe("optimizer state", () => {
  const makers: [string, () => Optimizer][] = [
    ["sgd", () => sgd({ lr: stepDecay({ lr: 0.05, stepSize: 4 }), weightDecay: 0.01 })],
    [
      "momentum",
      () => momentum({ lr: cosineDecay({ lr: 0.05, totalSteps: 30, warmupSteps: 5 }), clipNorm: 2 }),
    ],
    ["nesterov", () => momentum({ lr: 0.02, nesterov: true, weightDecay: 0.1, decoupledWeightDecay: true })],
    [
      "adam",
      () => adam({ lr: exponentialDecay({ lr: 0.01, decayRate: 0.9 }), weightDecay: 0.01, clipValue: 1 }),
    ],
  ];
  for (const [name, make] of makers) {
    it(`${name}: N steps = N/2 steps, getState, a fresh optimizer's setState, N/2 steps (same bits)`, () => {
      const whole = train(make(), 20);
      const first = make();
      const half = train(first, 10);
      const state = first.getState();
      expect(state.iterations).toBe(10);
      const second = make();
      second.setState(state);
      expect(second.iterations).toBe(10);
      expect(second.lr).toBe(first.lr);
      const resumed = train(second, 10, half.clone());
      expect(bits(resumed)).toEqual(bits(whole));
      // the state is a copy: stepping the first optimizer on leaves it alone
      const copy = JSON.stringify(state, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v));
      train(first, 3, half);
      expect(JSON.stringify(state, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v))).toBe(copy);
    });
  }

  it("setState refuses another optimizer's state or malformed buffers", () => {
    const a = adam();
    train(a, 2);
    expect(() => sgd({ lr: 1 }).setState(a.getState())).toThrow(/saved by a 'adam' optimizer, not 'sgd'/);
    const s = a.getState();
    expect(() =>
      adam().setState({ ...s, params: { a: { steps: 2, buffers: [new Float64Array(4)] } } }),
    ).toThrow(/param 'a' must have 2 Float64Array buffer\(s\) \(m, v\)/);
    expect(() => adam().setState({ ...s, iterations: -1 })).toThrow(/iterations must be an integer >= 0/);
  });
});
