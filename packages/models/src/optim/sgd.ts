/**
 * Mini-batch optimizers: plain SGD, heavy-ball / Nesterov momentum, and Adam (optionally AdamW).
 * Each updates parameter buffers in place and keeps its state in float64 buffers made on the first
 * step of each parameter, so later steps allocate nothing.
 * @module
 */
import { type FloatArray, type ParamStore, shapeToString, type Tensor, wasmBackend } from "@gradgraph/core";
import { type Optimizer, OptimizerError } from "./types.js";

/** Options of {@link sgd}. */
export interface SgdOptions {
  /** Learning rate (finite, > 0). */
  lr: number;
  /** L2 penalty coefficient added to the gradient as `weightDecay * param` (default 0). */
  weightDecay?: number;
}

/** Options of {@link momentum}. */
export interface MomentumOptions extends SgdOptions {
  /** Momentum coefficient in [0, 1) (default 0.9). */
  momentum?: number;
  /** Use Nesterov's accelerated gradient (default false). */
  nesterov?: boolean;
}

/** Options of {@link adam}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay of the first-moment estimate, in [0, 1) (default 0.9). */
  beta1?: number;
  /** Decay of the second-moment estimate, in [0, 1) (default 0.999). */
  beta2?: number;
  /** Added to the denominator for stability (default 1e-8, must be > 0). */
  eps?: number;
  /** Weight decay coefficient (default 0). */
  weightDecay?: number;
  /**
   * When true, weight decay is decoupled from the gradient (AdamW: `param -= lr * weightDecay * param`
   * besides the Adam step); when false (default) it is an L2 term added to the gradient, as in
   * PyTorch's `Adam`.
   */
  decoupledWeightDecay?: boolean;
}

function check(cond: boolean, opt: string, what: string, value: unknown): void {
  if (!cond) throw new OptimizerError(`${opt}: ${what}, got ${String(value)}`);
}

function checkLr(opt: string, lr: unknown): number {
  check(typeof lr === "number" && Number.isFinite(lr) && lr > 0, opt, "lr must be a finite number > 0", lr);
  return lr as number;
}

function checkUnit(opt: string, key: string, v: unknown): number {
  check(typeof v === "number" && v >= 0 && v < 1, opt, `${key} must be in [0, 1)`, v);
  return v as number;
}

function checkDecay(opt: string, v: unknown): number {
  check(
    typeof v === "number" && Number.isFinite(v) && v >= 0,
    opt,
    "weightDecay must be a finite number >= 0",
    v,
  );
  return v as number;
}

/** Shared plumbing: learning-rate validation, iteration over grads, shape checks, lazy state. */
abstract class BaseOptimizer implements Optimizer {
  abstract readonly name: string;
  private _lr: number;
  /** Per-param state buffers, by param name. */
  protected readonly state = new Map<string, Float64Array[]>();
  /** Number of buffers of state kept per param. */
  protected abstract readonly slots: number;

  constructor(lr: number, opt: string) {
    this._lr = checkLr(opt, lr);
  }

  get lr(): number {
    return this._lr;
  }
  set lr(v: number) {
    this._lr = checkLr(this.name, v);
  }

  step(params: ParamStore, grads: Readonly<Record<string, Tensor>>): void {
    for (const name in grads) {
      if (!Object.hasOwn(grads, name)) continue;
      const g = grads[name]!;
      if (!params.has(name)) {
        throw new OptimizerError(
          `${this.name}: gradient '${name}' has no matching param (params: ${params.names().join(", ") || "none"})`,
        );
      }
      const p = params.get(name);
      if (p.size !== g.size) {
        throw new OptimizerError(
          `${this.name}: gradient '${name}' has shape ${shapeToString(g.shape)} but the param has ${shapeToString(p.shape)}`,
        );
      }
      let st = this.state.get(name);
      if (st === undefined) {
        st = [];
        for (let i = 0; i < this.slots; i++) st.push(new Float64Array(p.size));
        this.state.set(name, st);
      } else if (st.length > 0 && st[0]!.length !== p.size) {
        throw new OptimizerError(
          `${this.name}: param '${name}' changed size from ${st[0]!.length} to ${p.size} elements; call reset()`,
        );
      }
      this.update(name, p.data, g.data, st);
    }
  }

  reset(): void {
    this.state.clear();
  }

  protected abstract update(name: string, p: FloatArray, g: FloatArray, state: Float64Array[]): void;
}

class Sgd extends BaseOptimizer {
  readonly name = "sgd";
  protected readonly slots = 0;
  private readonly wd: number;
  constructor(o: SgdOptions) {
    super(o.lr, "sgd");
    this.wd = checkDecay("sgd", o.weightDecay ?? 0);
  }
  protected update(_name: string, p: FloatArray, g: FloatArray): void {
    const lr = this.lr;
    const wd = this.wd;
    const be = this.arena;
    if (
      wd === 0 &&
      be &&
      p instanceof Float32Array &&
      g instanceof Float32Array &&
      be.owns(p) &&
      be.owns(g)
    ) {
      // float32 buffers in the kernel arena (the default for ParamStore and plans): WebAssembly SIMD
      be.kernels.axpy_f32(p.byteOffset, g.byteOffset, p.length, -lr);
      return;
    }
    for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * (g[i]! + wd * p[i]!);
  }
  private readonly arena = wasmBackend();
}

class Momentum extends BaseOptimizer {
  readonly name: string;
  protected readonly slots = 1;
  private readonly mu: number;
  private readonly nesterov: boolean;
  private readonly wd: number;
  constructor(o: MomentumOptions) {
    const name = o.nesterov ? "nesterov" : "momentum";
    super(o.lr, name);
    this.name = name;
    this.mu = checkUnit(name, "momentum", o.momentum ?? 0.9);
    this.nesterov = o.nesterov ?? false;
    this.wd = checkDecay(name, o.weightDecay ?? 0);
  }
  protected update(_name: string, p: FloatArray, g: FloatArray, [v]: Float64Array[]): void {
    const lr = this.lr;
    const mu = this.mu;
    const wd = this.wd;
    const vel = v!;
    if (this.nesterov) {
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + wd * p[i]!;
        const vi = mu * vel[i]! + gi;
        vel[i] = vi;
        p[i] = p[i]! - lr * (gi + mu * vi);
      }
    } else {
      for (let i = 0; i < p.length; i++) {
        const vi = mu * vel[i]! + g[i]! + wd * p[i]!;
        vel[i] = vi;
        p[i] = p[i]! - lr * vi;
      }
    }
  }
}

class Adam extends BaseOptimizer {
  readonly name = "adam";
  protected readonly slots = 2;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;
  private readonly decoupled: boolean;
  /** Step count per param (params without a grad in a step keep their own count). */
  private readonly steps = new Map<string, number>();
  constructor(o: AdamOptions) {
    super(o.lr ?? 1e-3, "adam");
    this.b1 = checkUnit("adam", "beta1", o.beta1 ?? 0.9);
    this.b2 = checkUnit("adam", "beta2", o.beta2 ?? 0.999);
    const eps = o.eps ?? 1e-8;
    check(
      typeof eps === "number" && Number.isFinite(eps) && eps > 0,
      "adam",
      "eps must be a finite number > 0",
      eps,
    );
    this.eps = eps;
    this.wd = checkDecay("adam", o.weightDecay ?? 0);
    this.decoupled = o.decoupledWeightDecay ?? false;
  }
  override reset(): void {
    super.reset();
    this.steps.clear();
  }
  protected update(name: string, p: FloatArray, g: FloatArray, [m, v]: Float64Array[]): void {
    const t = (this.steps.get(name) ?? 0) + 1;
    this.steps.set(name, t);
    const { b1, b2, eps, lr } = this;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const l2 = this.decoupled ? 0 : this.wd;
    const shrink = this.decoupled ? 1 - lr * this.wd : 1;
    const mm = m!;
    const vv = v!;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! + l2 * p[i]!;
      const mi = b1 * mm[i]! + (1 - b1) * gi;
      const vi = b2 * vv[i]! + (1 - b2) * gi * gi;
      mm[i] = mi;
      vv[i] = vi;
      p[i] = p[i]! * shrink - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
  }
}

/**
 * Plain stochastic gradient descent: `p -= lr * (g + weightDecay * p)`.
 * @example
 * const opt = sgd({ lr: 0.1 });
 * opt.step(params, grads);
 */
export function sgd(options: SgdOptions): Optimizer {
  return new Sgd(options);
}

/**
 * SGD with momentum, in PyTorch's convention: `v = momentum * v + g; p -= lr * v`, or with
 * `nesterov: true`, `p -= lr * (g + momentum * v)`. The velocity starts at zero.
 */
export function momentum(options: MomentumOptions): Optimizer {
  return new Momentum(options);
}

/**
 * Adam (Kingma & Ba) with bias correction:
 * `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`,
 * where `t` counts the steps that param received a gradient. See {@link AdamOptions} for weight decay.
 */
export function adam(options: AdamOptions = {}): Optimizer {
  return new Adam(options);
}
