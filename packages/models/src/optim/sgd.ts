/**
 * Mini-batch optimizers: plain SGD, heavy-ball / Nesterov momentum, and Adam (optionally AdamW).
 * Each updates parameter buffers in place and keeps its state in float64 buffers made on the first
 * step of each parameter, so later steps allocate nothing. All take a learning-rate schedule,
 * weight decay (L2 or decoupled) and gradient clipping (by value, by global norm), and save and
 * restore their state ({@link Optimizer.getState}).
 * @module
 */
import { type FloatArray, type ParamStore, shapeToString, type Tensor, wasmBackend } from "@gradgraph/core";
import type { LearningRateSchedule } from "./schedules.js";
import { type Optimizer, OptimizerError, type OptimizerState, type ParamOptimizerState } from "./types.js";

/**
 * Options every mini-batch optimizer takes: the learning rate or its schedule, weight decay and
 * gradient clipping.
 */
export interface CommonOptimizerOptions {
  /**
   * Learning rate: a finite number > 0, or a {@link LearningRateSchedule} (e.g. {@link cosineDecay})
   * called with the optimizer's {@link Optimizer.iterations} before every step.
   */
  lr?: number | LearningRateSchedule;
  /**
   * Weight decay coefficient (default 0, finite, >= 0). By default an L2 term added to the
   * gradient (`g + weightDecay·p`, after clipping); with {@link CommonOptimizerOptions.decoupledWeightDecay}
   * a separate shrink `p -= lr·weightDecay·p` (AdamW; Loshchilov & Hutter).
   */
  weightDecay?: number;
  /**
   * When true, weight decay is decoupled from the gradient: every step multiplies the param by
   * `1 - lr·weightDecay` besides the gradient update, so it never enters momentum or Adam's
   * moments (AdamW for {@link adam}, "SGDW" for {@link sgd} and {@link momentum}). When false
   * (default) it is the L2 term of {@link CommonOptimizerOptions.weightDecay}, as in PyTorch's `SGD`
   * and `Adam`.
   */
  decoupledWeightDecay?: boolean;
  /**
   * Clip every gradient element to `[-clipValue, clipValue]` before the update (finite, > 0;
   * default: no clipping). Applied before `clipNorm`.
   */
  clipValue?: number;
  /**
   * Clip by global norm: when the L2 norm of all the step's gradients taken together exceeds
   * `clipNorm` (finite, > 0), scale every gradient by `clipNorm / norm` (TensorFlow's
   * `clip_by_global_norm`). The norm is summed in float64 over the gradients in sorted name order,
   * element by element, so it is the same bits on every run. Default: no clipping.
   */
  clipNorm?: number;
}

/** Options of {@link sgd}. */
export interface SgdOptions extends CommonOptimizerOptions {
  /** Learning rate or schedule (required; see {@link CommonOptimizerOptions.lr}). */
  lr: number | LearningRateSchedule;
}

/** Options of {@link momentum}. */
export interface MomentumOptions extends SgdOptions {
  /** Momentum coefficient in [0, 1) (default 0.9). */
  momentum?: number;
  /** Use Nesterov's accelerated gradient (default false). */
  nesterov?: boolean;
}

/** Options of {@link adam}. */
export interface AdamOptions extends CommonOptimizerOptions {
  /** Decay of the first-moment estimate, in [0, 1) (default 0.9). */
  beta1?: number;
  /** Decay of the second-moment estimate, in [0, 1) (default 0.999). */
  beta2?: number;
  /** Added to the denominator for stability (default 1e-8, must be > 0). */
  eps?: number;
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

function checkClip(opt: string, key: string, v: unknown): number {
  if (v === undefined) return 0;
  check(typeof v === "number" && Number.isFinite(v) && v > 0, opt, `${key} must be a finite number > 0`, v);
  return v as number;
}

/**
 * Shared plumbing: learning rate and schedule, iteration over grads, shape checks, clipping, lazy
 * state, step counts, and state save/restore.
 */
abstract class BaseOptimizer implements Optimizer {
  abstract readonly name: string;
  private _lr: number;
  private schedule: LearningRateSchedule | null;
  private _iterations = 0;
  /** Per-param state buffers, by param name. */
  protected readonly state = new Map<string, Float64Array[]>();
  /** Steps in which each param received a gradient. */
  protected readonly paramSteps = new Map<string, number>();
  /** Number of buffers of state kept per param. */
  protected abstract readonly slots: number;
  /** Names of the state buffers (length `slots`). */
  protected abstract readonly slotNames: readonly string[];
  /** Weight decay coefficient. */
  protected readonly wd: number;
  /** Whether weight decay is decoupled. */
  protected readonly decoupled: boolean;
  private readonly clipValue: number;
  private readonly clipNorm: number;
  /** Clipped copies of the gradients, by param name (made on first use). */
  private readonly clipped = new Map<string, Float64Array>();
  /** The last grads object seen and its names in sorted order (grads objects of plans are reused). */
  private lastGrads: object | null = null;
  private lastNames: string[] = [];

  constructor(o: CommonOptimizerOptions, defaultLr: number | undefined, opt: string) {
    const lr = o.lr ?? defaultLr;
    if (typeof lr === "function") {
      this.schedule = lr;
      this._lr = this.scheduled(opt, 0);
    } else {
      this.schedule = null;
      this._lr = checkLr(opt, lr);
    }
    this.wd = checkDecay(opt, o.weightDecay ?? 0);
    this.decoupled = o.decoupledWeightDecay ?? false;
    this.clipValue = checkClip(opt, "clipValue", o.clipValue);
    this.clipNorm = checkClip(opt, "clipNorm", o.clipNorm);
  }

  private scheduled(opt: string, step: number): number {
    const v = this.schedule!(step);
    check(
      typeof v === "number" && Number.isFinite(v) && v >= 0,
      opt,
      `the learning-rate schedule must return a finite number >= 0 (at step ${step})`,
      v,
    );
    return v;
  }

  get lr(): number {
    return this._lr;
  }
  set lr(v: number) {
    this._lr = checkLr(this.name, v);
    this.schedule = null;
  }

  get iterations(): number {
    return this._iterations;
  }

  step(params: ParamStore, grads: Readonly<Record<string, Tensor>>): void {
    if (grads !== this.lastGrads || !this.sameNames(grads)) {
      this.lastNames = Object.keys(grads).sort();
      this.lastGrads = grads;
    }
    const names = this.lastNames;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
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
    }
    if (this.schedule !== null) this._lr = this.scheduled(this.name, this._iterations);
    const clip = this.clipValue > 0 || this.clipNorm > 0;
    const scale = clip ? this.clipGradients(names, grads) : 1;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const p = params.get(name);
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
      let g: FloatArray = grads[name]!.data;
      if (clip) {
        const c = this.clipped.get(name)!;
        if (scale !== 1) for (let i = 0; i < c.length; i++) c[i] = c[i]! * scale;
        g = c;
      }
      const t = (this.paramSteps.get(name) ?? 0) + 1;
      this.paramSteps.set(name, t);
      this.update(p.data, g, st, t);
    }
    this._iterations++;
  }

  /** True when `grads` has exactly the cached names (it may have been edited since); allocates nothing. */
  private sameNames(grads: Readonly<Record<string, Tensor>>): boolean {
    let count = 0;
    for (const k in grads) if (Object.hasOwn(grads, k)) count++;
    if (count !== this.lastNames.length) return false;
    for (let i = 0; i < this.lastNames.length; i++)
      if (!Object.hasOwn(grads, this.lastNames[i]!)) return false;
    return true;
  }

  /**
   * Writes the value-clipped gradients into the `clipped` buffers and returns the global-norm
   * scale (1 when not clipping by norm or under the limit).
   */
  private clipGradients(names: readonly string[], grads: Readonly<Record<string, Tensor>>): number {
    const cv = this.clipValue;
    let sumSq = 0;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const g = grads[name]!.data;
      let c = this.clipped.get(name);
      if (c === undefined || c.length !== g.length) {
        c = new Float64Array(g.length);
        this.clipped.set(name, c);
      }
      for (let i = 0; i < g.length; i++) {
        let v = g[i]!;
        if (cv > 0) v = Math.min(Math.max(v, -cv), cv);
        c[i] = v;
        sumSq += v * v;
      }
    }
    if (this.clipNorm === 0) return 1;
    const norm = Math.sqrt(sumSq);
    return norm > this.clipNorm ? this.clipNorm / norm : 1;
  }

  reset(): void {
    this.state.clear();
    this.paramSteps.clear();
    this._iterations = 0;
    if (this.schedule !== null) this._lr = this.scheduled(this.name, 0);
  }

  getState(): OptimizerState {
    const params: Record<string, ParamOptimizerState> = {};
    for (const [name, t] of this.paramSteps) {
      params[name] = { steps: t, buffers: (this.state.get(name) ?? []).map((b) => b.slice()) };
    }
    return {
      name: this.name,
      iterations: this._iterations,
      lr: this._lr,
      slots: [...this.slotNames],
      params,
    };
  }

  setState(state: OptimizerState): void {
    const where = `${this.name}.setState`;
    if (state === null || typeof state !== "object")
      throw new OptimizerError(`${where}: expected an optimizer state object, got ${String(state)}`);
    if (state.name !== this.name) {
      throw new OptimizerError(
        `${where}: the state was saved by a '${String(state.name)}' optimizer, not '${this.name}'`,
      );
    }
    const slots = state.slots;
    if (
      !Array.isArray(slots) ||
      slots.length !== this.slotNames.length ||
      slots.some((s, i) => s !== this.slotNames[i])
    ) {
      throw new OptimizerError(
        `${where}: state slots ${JSON.stringify(slots)} differ from this optimizer's ${JSON.stringify(this.slotNames)}`,
      );
    }
    check(
      Number.isSafeInteger(state.iterations) && state.iterations >= 0,
      where,
      "iterations must be an integer >= 0",
      state.iterations,
    );
    check(
      typeof state.lr === "number" && Number.isFinite(state.lr) && state.lr >= 0,
      where,
      "lr must be a finite number >= 0",
      state.lr,
    );
    if (this.schedule === null) checkLr(where, state.lr);
    const buffers = new Map<string, Float64Array[]>();
    const steps = new Map<string, number>();
    for (const [name, ps] of Object.entries(state.params ?? {})) {
      check(
        Number.isSafeInteger(ps?.steps) && ps.steps >= 1,
        where,
        `param '${name}': steps must be an integer >= 1`,
        ps?.steps,
      );
      const bs = ps.buffers;
      if (!Array.isArray(bs) || bs.length !== this.slots || bs.some((b) => !(b instanceof Float64Array))) {
        throw new OptimizerError(
          `${where}: param '${name}' must have ${this.slots} Float64Array buffer(s) (${this.slotNames.join(", ") || "none"})`,
        );
      }
      if (bs.some((b) => b.length !== bs[0]!.length)) {
        throw new OptimizerError(`${where}: param '${name}' has buffers of different lengths`);
      }
      buffers.set(
        name,
        bs.map((b) => b.slice()),
      );
      steps.set(name, ps.steps);
    }
    this.state.clear();
    this.paramSteps.clear();
    for (const [n, b] of buffers) if (b.length > 0) this.state.set(n, b);
    for (const [n, t] of steps) this.paramSteps.set(n, t);
    this._iterations = state.iterations;
    this._lr = state.lr;
  }

  /**
   * Updates one param in place from its (possibly clipped) gradient `g`; `t` counts the steps in
   * which this param received a gradient, this one included.
   */
  protected abstract update(p: FloatArray, g: FloatArray, state: Float64Array[], t: number): void;
}

class Sgd extends BaseOptimizer {
  readonly name = "sgd";
  protected readonly slots = 0;
  protected readonly slotNames: readonly string[] = [];
  constructor(o: SgdOptions) {
    super(o, undefined, "sgd");
  }
  protected update(p: FloatArray, g: FloatArray): void {
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
    if (this.decoupled) {
      const shrink = 1 - lr * wd;
      for (let i = 0; i < p.length; i++) p[i] = p[i]! * shrink - lr * g[i]!;
    } else {
      for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * (g[i]! + wd * p[i]!);
    }
  }
  private readonly arena = wasmBackend();
}

class Momentum extends BaseOptimizer {
  readonly name: string;
  protected readonly slots = 1;
  protected readonly slotNames: readonly string[] = ["velocity"];
  private readonly mu: number;
  private readonly nesterov: boolean;
  constructor(o: MomentumOptions) {
    const name = o.nesterov ? "nesterov" : "momentum";
    super(o, undefined, name);
    this.name = name;
    this.mu = checkUnit(name, "momentum", o.momentum ?? 0.9);
    this.nesterov = o.nesterov ?? false;
  }
  protected update(p: FloatArray, g: FloatArray, [v]: Float64Array[]): void {
    const lr = this.lr;
    const mu = this.mu;
    const l2 = this.decoupled ? 0 : this.wd;
    const shrink = this.decoupled ? 1 - lr * this.wd : 1;
    const vel = v!;
    if (this.nesterov) {
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + l2 * p[i]!;
        const vi = mu * vel[i]! + gi;
        vel[i] = vi;
        p[i] = p[i]! * shrink - lr * (gi + mu * vi);
      }
    } else {
      for (let i = 0; i < p.length; i++) {
        const vi = mu * vel[i]! + g[i]! + l2 * p[i]!;
        vel[i] = vi;
        p[i] = p[i]! * shrink - lr * vi;
      }
    }
  }
}

class Adam extends BaseOptimizer {
  readonly name = "adam";
  protected readonly slots = 2;
  protected readonly slotNames: readonly string[] = ["m", "v"];
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  constructor(o: AdamOptions) {
    super(o, 1e-3, "adam");
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
  }
  protected update(p: FloatArray, g: FloatArray, [m, v]: Float64Array[], t: number): void {
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
 * Plain stochastic gradient descent: `p -= lr * (g + weightDecay * p)` (L2 weight decay), or with
 * `decoupledWeightDecay`, `p = p * (1 - lr * weightDecay) - lr * g`. Takes a schedule as `lr` and
 * clips gradients by value and global norm (see {@link CommonOptimizerOptions}).
 * @example
 * const opt = sgd({ lr: 0.1 });
 * opt.step(params, grads);
 */
export function sgd(options: SgdOptions): Optimizer {
  return new Sgd(options);
}

/**
 * SGD with momentum, in PyTorch's convention: `v = momentum * v + g; p -= lr * v`, or with
 * `nesterov: true`, `p -= lr * (g + momentum * v)`. The velocity starts at zero. Weight decay is
 * an L2 term in `g` (entering the velocity) or, with `decoupledWeightDecay`, a shrink
 * `p *= 1 - lr * weightDecay` outside it (see {@link CommonOptimizerOptions}).
 */
export function momentum(options: MomentumOptions): Optimizer {
  return new Momentum(options);
}

/**
 * Adam (Kingma & Ba) with bias correction:
 * `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`,
 * where `t` counts the steps that param received a gradient. Weight decay is an L2 term in `g` (as
 * PyTorch's `Adam`) or, with `decoupledWeightDecay`, AdamW's `p *= 1 - lr * weightDecay` (see
 * {@link CommonOptimizerOptions}).
 */
export function adam(options: AdamOptions = {}): Optimizer {
  return new Adam(options);
}
