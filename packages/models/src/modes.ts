/**
 * Training and evaluation modes, and state updated by training.
 *
 * Layers that behave differently while training (dropout, batch normalisation) read two reserved
 * scalar inputs of the graph:
 * - {@link TRAINING_INPUT} (`"mode:training"`, shape `[]`): 1 while training, 0 in evaluation;
 * - {@link KEY_INPUT} (`"mode:key"`, shape `[]`): an integer random key, a new one every training
 *   step (random layers draw from it with `randomUniform`).
 *
 * Nobody feeds `"mode:training"` at run time: {@link Model} fixes it with core's
 * `specializeInputs`, compiling its training graph with the flag at 1 and its evaluation and
 * prediction graphs with it at 0, so each compiled graph keeps only its own branch of every
 * `where(training, ...)`. The Model feeds the key (see {@link Model.trainingSteps}).
 *
 * State that training changes without gradients (batch normalisation's running mean and variance)
 * is kept in ordinary params: an output named `update:<param>` (made by {@link stateUpdate}) holds
 * the new value of param `<param>` after a training step, and the Model copies it into its params.
 * Such params are not trained by the optimizer; being params, they are saved and loaded with the
 * model.
 * @module
 */
import {
  type GraphBuilder,
  GraphError,
  ShapeError,
  shapesEqual,
  shapeToString,
  type Value,
} from "@gradgraph/core";

/** Name of the scalar input that is 1 while training and 0 in evaluation (see the module documentation). */
export const TRAINING_INPUT = "mode:training";

/** Name of the scalar input holding the random key of a training step (see the module documentation). */
export const KEY_INPUT = "mode:key";

/** Prefix of the outputs holding a param's new value after a training step: `update:<param>`. */
export const UPDATE_PREFIX = "update:";

const flags = new WeakMap<GraphBuilder, Value>();
const keys = new WeakMap<GraphBuilder, Value>();

function reserved(b: GraphBuilder, name: string, memo: WeakMap<GraphBuilder, Value>): Value {
  const hit = memo.get(b);
  if (hit) return hit;
  let v: Value | null = null;
  try {
    v = b.ref(name); // a builder extending a graph that already has it
  } catch {
    v = null;
  }
  if (v !== null) {
    if (v.node.op !== "input" || v.rank !== 0) {
      throw new GraphError(
        `'${name}' is reserved for the scalar mode input, but the graph has a ${v.node.op} of shape ${shapeToString(v.shape)} by that name`,
      );
    }
  } else v = b.input(name, []);
  memo.set(b, v);
  return v;
}

/**
 * The training flag of the graph being built: the scalar input {@link TRAINING_INPUT}, 1 while
 * training and 0 in evaluation. Made on first use and shared by every later call on `b`. Use it as
 * the condition of a `where`: `b.where(trainingFlag(b), whileTraining, inEvaluation)`.
 */
export function trainingFlag(b: GraphBuilder): Value {
  return reserved(b, TRAINING_INPUT, flags);
}

/**
 * The random key of the graph being built: the scalar input {@link KEY_INPUT}, an integer that
 * {@link Model} sets anew for every training step (and to 0 in evaluation). Made on first use and
 * shared by every later call on `b`. Draw with `b.randomUniform(randomKey(b), shape, salt)`, a
 * different `salt` per random node.
 */
export function randomKey(b: GraphBuilder): Value {
  return reserved(b, KEY_INPUT, keys);
}

/**
 * Declares that after a training step param `param` takes the value `next` (of the param's shape):
 * adds the output `update:<param>`, which is `next` while training and the param itself in
 * evaluation. {@link Model} copies it into its params after every training step and leaves the
 * param out of the trained ones. Returns the output value.
 * @throws GraphError when `param` is not a param or already has an update; ShapeError when `next`
 * does not have the param's shape.
 */
export function stateUpdate(b: GraphBuilder, param: string, next: Value): Value {
  let p: Value;
  try {
    p = b.ref(param);
  } catch {
    throw new GraphError(`stateUpdate: no param named '${param}'`);
  }
  if (p.node.op !== "param") throw new GraphError(`stateUpdate: '${param}' is a ${p.node.op}, not a param`);
  if (!shapesEqual(p.shape, next.shape)) {
    throw new ShapeError(
      `stateUpdate: the new value of param '${param}' has shape ${shapeToString(next.shape)}, the param ${shapeToString(p.shape)}`,
    );
  }
  const name = `${UPDATE_PREFIX}${param}`;
  let exists = true;
  try {
    b.ref(name);
  } catch {
    exists = false;
  }
  if (exists) throw new GraphError(`stateUpdate: param '${param}' already has an update ('${name}')`);
  return b.output(name, b.where(trainingFlag(b), next, p));
}
