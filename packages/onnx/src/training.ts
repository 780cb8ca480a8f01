/**
 * Training steps as ONNX models. Gradients are ordinary graph nodes in gradgraph, so the graph
 * `grad` returns (the loss and a `grad:<param>` output per trained param) exports like any other;
 * {@link trainingStepGraph} adds an optimizer update on top, so one ONNX Runtime call runs a whole
 * training step: forward, backward and update. The optimizer's state (learning rate, step count,
 * Adam's moments) lives in params of the step graph; the model takes them, and the trained
 * params, as graph inputs, and returns their next values as `next:<name>` outputs.
 * @module
 */
import { grad } from "@gradgraph/autograd";
import { type Graph, GraphBuilder, type ParamStore, Tensor, type Value } from "@gradgraph/core";
import { OnnxError } from "./errors.js";
import { type ExportOnnxOptions, exportOnnx } from "./export/export.js";

/** Plain SGD: `p ← p − lr·(g + weightDecay·p)`, as the models package's `sgd`. */
export interface OnnxSgd {
  /** Selects SGD. */
  readonly kind: "sgd";
  /** Learning rate: the initial value of the `optimizer:lr` param (feed another value per step for a schedule). */
  readonly lr: number;
  /** L2 weight decay added to the gradient (default 0). */
  readonly weightDecay?: number;
}

/**
 * Adam with bias correction, as the models package's `adam`:
 * `m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²; p ← p − lr·(m/(1−b1^t)) / (sqrt(v/(1−b2^t)) + eps)`
 * with `t = optimizer:step + 1`.
 */
export interface OnnxAdam {
  /** Selects Adam. */
  readonly kind: "adam";
  /** Learning rate (the initial value of `optimizer:lr`). */
  readonly lr: number;
  /** First-moment decay (default 0.9). */
  readonly beta1?: number;
  /** Second-moment decay (default 0.999). */
  readonly beta2?: number;
  /** Added to the root of the second moment (default 1e-8). */
  readonly eps?: number;
  /** L2 weight decay added to the gradient (default 0). */
  readonly weightDecay?: number;
}

/** The optimizers a training-step graph can carry. */
export type OnnxOptimizer = OnnxSgd | OnnxAdam;

/** Options of {@link trainingStepGraph} and {@link exportTrainingStep}. */
export interface TrainingStepOptions {
  /** Name of the graph output holding the scalar loss. */
  readonly loss: string;
  /** The params to train (default: every param of the graph). */
  readonly wrt?: readonly string[];
  /** The update to add; without one the step computes the loss and gradients only. */
  readonly optimizer?: OnnxOptimizer;
}

/** Names of the optimizer's params and outputs in a training-step graph. */
export const TRAINING_STEP_NAMES = Object.freeze({
  /** The learning-rate param (a scalar). */
  lr: "optimizer:lr",
  /** The param counting the steps taken so far (a scalar; Adam only). */
  step: "optimizer:step",
  /** The output holding the next value of param or state `name`. */
  next: (name: string): string => `next:${name}`,
  /** Adam's first moment of param `name`. */
  adamM: (name: string): string => `adam.m:${name}`,
  /** Adam's second moment of param `name`. */
  adamV: (name: string): string => `adam.v:${name}`,
});

/** A training-step graph and the initial values of the params it adds. */
export interface TrainingStep {
  /**
   * The step graph: the forward graph's outputs, `grad:<param>` for every trained param and,
   * with an optimizer, `next:<param>` (the updated param) and `next:<state>` for every optimizer
   * state param.
   */
  readonly graph: Graph;
  /** The trained params, in order. */
  readonly wrt: readonly string[];
  /**
   * The optimizer's state params (learning rate, step count, moments), each with its initial
   * value; feed them back from the `next:` outputs after every step.
   */
  readonly state: ReadonlyMap<string, Tensor>;
  /**
   * The params and state params that have a `next:<name>` output, in order: what a training loop
   * feeds back after each step (every name except the learning rate).
   */
  readonly carried: readonly string[];
}

/**
 * Builds one training step as a gradgraph graph: `grad(graph, loss, wrt)` plus, when
 * `options.optimizer` is given, the optimizer's update of every trained param (see
 * {@link OnnxSgd}, {@link OnnxAdam}). Feed a graph whose training-mode inputs are fixed (e.g.
 * `specializeInputs(model.graph, { "mode:training": 1 })`).
 * @throws OnnxError when the loss is missing or not a scalar, or a name is taken.
 */
export function trainingStepGraph(graph: Graph, options: TrainingStepOptions): TrainingStep {
  if (!Object.hasOwn(graph.outputs, options.loss))
    throw new OnnxError(
      `trainingStepGraph: no output named '${options.loss}' (outputs: ${Object.keys(graph.outputs).join(", ")})`,
    );
  const lossNode = graph.nodes[graph.outputs[options.loss]!]!;
  if (!lossNode.shape.every((d) => d === 1))
    throw new OnnxError(
      `trainingStepGraph: the loss '${options.loss}' must be a scalar, it has shape [${lossNode.shape}]`,
    );
  const wrt = options.wrt ?? Object.keys(graph.params);
  for (const p of wrt)
    if (!Object.hasOwn(graph.params, p))
      throw new OnnxError(
        `trainingStepGraph: no param named '${p}' (params: ${Object.keys(graph.params).join(", ")})`,
      );
  const g = grad(graph, options.loss, wrt);
  const opt = options.optimizer;
  if (!opt) return { graph: g, wrt, state: new Map(), carried: [] };
  checkOptimizer(opt);

  const dtype = lossNode.dtype;
  const b = GraphBuilder.extend(g, { dtype });
  const state = new Map<string, Tensor>();
  const N = TRAINING_STEP_NAMES;
  const stateParam = (name: string, shape: readonly number[], value: number): Value => {
    state.set(name, Tensor.full(shape, value, dtype));
    return b.param(name, shape, { dtype, init: { kind: "constant", value } });
  };
  const lr = stateParam(N.lr, [], opt.lr);
  const wd = opt.weightDecay ?? 0;
  const gradient = (p: string): Value => {
    const gr = b.ref(`grad:${p}`);
    return wd === 0 ? gr : gr.add(b.ref(p).mul(wd));
  };
  if (opt.kind === "sgd") {
    for (const p of wrt) b.output(N.next(p), b.ref(p).sub(lr.mul(gradient(p))));
  } else {
    const b1 = opt.beta1 ?? 0.9;
    const b2 = opt.beta2 ?? 0.999;
    const eps = opt.eps ?? 1e-8;
    const step = stateParam(N.step, [], 0);
    const t = step.add(1);
    b.output(N.next(N.step), t);
    // bias corrections 1 − β^t
    const c1 = b.sub(1, b.pow(b1, t));
    const c2 = b.sub(1, b.pow(b2, t));
    for (const p of wrt) {
      const shape = graph.params[p]!.shape;
      const gr = gradient(p);
      const m = b.add(stateParam(N.adamM(p), shape, 0).mul(b1), gr.mul(1 - b1));
      const v = b.add(stateParam(N.adamV(p), shape, 0).mul(b2), gr.square().mul(1 - b2));
      b.output(N.next(N.adamM(p)), m);
      b.output(N.next(N.adamV(p)), v);
      const update = lr.mul(m.div(c1)).div(v.div(c2).sqrt().add(eps));
      b.output(N.next(p), b.ref(p).sub(update));
    }
  }
  const carried = [...wrt, ...[...state.keys()].filter((n) => n !== N.lr)];
  return { graph: b.build(), wrt, state, carried };
}

/** A training step as an ONNX model, and what a training loop feeds it. */
export interface ExportedTrainingStep {
  /** The serialised ONNX model. */
  readonly bytes: Uint8Array;
  /**
   * The model's inputs besides the data: every param (its current value) and every optimizer
   * state param (its initial value). Feed them with the data to the first step.
   */
  readonly state: Readonly<Record<string, Tensor>>;
  /** The trained params, in order. */
  readonly wrt: readonly string[];
  /** The names to carry from step to step: after each call, feed output `next:<name>` as input `<name>`. */
  readonly carried: readonly string[];
}

/**
 * Exports one training step (see {@link trainingStepGraph}) as an ONNX model that ONNX Runtime
 * runs forward, backward and update in one call. Params and optimizer state are graph inputs, not
 * initializers, so a training loop feeds the current values every step (the JavaScript API of
 * ONNX Runtime cannot override initializers) and carries each `next:<name>` output over to input
 * `<name>`; `state` holds the values for the first step.
 * @example
 * const step = exportTrainingStep(graph, params, { loss: "loss", optimizer: { kind: "adam", lr: 1e-3 } });
 * let state = step.state;
 * for (const batch of batches) {
 *   const out = await session.run({ ...batch, ...state });  // ONNX Runtime
 *   state = { ...state, ...Object.fromEntries(step.carried.map((n) => [n, out[`next:${n}`]])) };
 * }
 */
export function exportTrainingStep(
  graph: Graph,
  params: ParamStore,
  options: TrainingStepOptions & Omit<ExportOnnxOptions, "outputs" | "paramsAsInputs">,
): ExportedTrainingStep {
  const step = trainingStepGraph(graph, options);
  const state: Record<string, Tensor> = {};
  for (const name of Object.keys(step.graph.params)) state[name] = step.state.get(name) ?? params.get(name);
  const bytes = exportOnnx(step.graph, null, {
    ...options,
    paramsAsInputs: true,
    docString: options.docString ?? `gradgraph training step (loss '${options.loss}')`,
  });
  return { bytes, state, wrt: step.wrt, carried: step.carried };
}

function checkOptimizer(opt: OnnxOptimizer): void {
  const positive = (field: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0))
      throw new OnnxError(`trainingStepGraph: optimizer.${field} must be a finite number > 0, got ${v}`);
  };
  if (opt.kind !== "sgd" && opt.kind !== "adam")
    throw new OnnxError(
      `trainingStepGraph: optimizer.kind must be "sgd" or "adam", got ${JSON.stringify((opt as { kind: unknown }).kind)}`,
    );
  positive("lr", opt.lr);
  if (opt.weightDecay !== undefined && !(Number.isFinite(opt.weightDecay) && opt.weightDecay >= 0))
    throw new OnnxError(
      `trainingStepGraph: optimizer.weightDecay must be a finite number >= 0, got ${opt.weightDecay}`,
    );
  if (opt.kind === "adam") {
    for (const f of ["beta1", "beta2"] as const) {
      const v = opt[f];
      if (v !== undefined && !(v >= 0 && v < 1))
        throw new OnnxError(`trainingStepGraph: optimizer.${f} must be in [0, 1), got ${v}`);
    }
    positive("eps", opt.eps);
  }
}
