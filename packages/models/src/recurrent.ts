/**
 * Recurrent layers: GRU and LSTM cells and layers that unroll them over a fixed sequence length.
 * Everything is built from ordinary builder ops (matmul, add, sigmoid, tanh, mul, sub, slice,
 * reshape, concat), so gradients, fusion and save/load work as for any other graph.
 *
 * Data layout: batch first, `x [N, T, F]` (N may be symbolic, T and F must be concrete).
 * Weights are stored `[in, gates·units]` with the gates side by side in PyTorch's order, so
 * `Wx = weight_ih_l0ᵀ` and `Wh = weight_hh_l0ᵀ` of a PyTorch `nn.GRU` / `nn.LSTM`:
 * - GRU, gates `r, z, n`:
 *   `r = σ(x·Wx_r + b_r + h·Wh_r)`, `z = σ(x·Wx_z + b_z + h·Wh_z)`,
 *   `n = tanh(x·Wx_n + b_n + r ⊙ (h·Wh_n))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
 *   PyTorch has two biases; `b_r`, `b_z` play the role of `b_i· + b_h·`, `b_n` is `b_in`, and
 *   PyTorch's `b_hn` (inside `r ⊙ (…)`) has no counterpart (it is 0 here).
 * - LSTM, gates `i, f, g, o`:
 *   `i = σ(·)`, `f = σ(·)`, `g = tanh(·)`, `o = σ(·)` of `x·Wx + h·Wh + b` (PyTorch's
 *   `b_ih + b_hh` is the single `b`), `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`.
 *
 * The initial state is zero; the first step of a layer skips the `h·Wh` product.
 * @module
 */
import {
  type Dim,
  type DType,
  type GraphBuilder,
  type Init,
  ShapeError,
  shapeToString,
  type Value,
} from "@gradgraph/core";
import { init, withFans } from "./init.js";
import { uniqueName } from "./layers.js";

/** The parameters of one recurrent cell (see the module documentation for the gate layout). */
export interface RecurrentParams {
  /** Input weights `[F, G·units]`, gates side by side (G = 3 for GRU, 4 for LSTM). */
  readonly Wx: Value;
  /** Recurrent weights `[units, G·units]`, gates side by side. */
  readonly Wh: Value;
  /** Bias `[G·units]`. */
  readonly b: Value;
}

/** Options of {@link gru} and {@link lstm}. */
export interface RecurrentOptions {
  /**
   * Layer name: prefixes its param names (`<name>/Wx`, `<name>/Wh`, `<name>/b`) and the scope of its
   * nodes. Default: `gru1`, `gru2`, ... / `lstm1`, ... (unique per builder).
   */
  name?: string;
  /** Return every hidden state `[N, T, units]` instead of the last one `[N, units]` (default false). */
  returnSequences?: boolean;
  /** Initialiser of `Wx` (default `init.glorotUniform()` with fans `F` and `G·units`). */
  weightInit?: Init;
  /** Initialiser of `Wh` (default `init.glorotUniform()` with fans `units` and `G·units`). */
  recurrentInit?: Init;
  /** Bias initialiser (default `init.zeros()`). */
  biasInit?: Init;
  /** Param dtype (default: the input's). */
  dtype?: DType;
}

function gateSlice(b: GraphBuilder, v: Value, k: number, units: number, count = 1): Value {
  return b.slice(v, [0, k * units], [null, (k + count) * units]);
}

function checkCell(who: string, x: Value, h: Value | null, p: RecurrentParams, gates: number): number {
  const fail = (msg: string) => new ShapeError(`${who}: ${msg}`);
  if (x.rank !== 2) throw fail(`x must be [N, F], got ${shapeToString(x.shape)}`);
  if (p.Wh.rank !== 2 || typeof p.Wh.shape[0] !== "number") {
    throw fail(`Wh must be a concrete [units, ${gates}·units] matrix, got ${shapeToString(p.Wh.shape)}`);
  }
  const units = p.Wh.shape[0];
  const width = gates * units;
  if (p.Wh.shape[1] !== width) {
    throw fail(`Wh must be [${units}, ${width}] (${gates} gates), got ${shapeToString(p.Wh.shape)}`);
  }
  if (p.Wx.rank !== 2 || p.Wx.shape[0] !== x.shape[1] || p.Wx.shape[1] !== width) {
    throw fail(
      `Wx must be [${String(x.shape[1])}, ${width}] for x ${shapeToString(x.shape)}, got ${shapeToString(p.Wx.shape)}`,
    );
  }
  if (p.b.rank !== 1 || p.b.shape[0] !== width) {
    throw fail(`b must be [${width}], got ${shapeToString(p.b.shape)}`);
  }
  if (h !== null && (h.rank !== 2 || h.shape[1] !== units)) {
    throw fail(`the state must be [N, ${units}], got ${shapeToString(h.shape)}`);
  }
  return units;
}

function gruStep(b: GraphBuilder, x: Value, h: Value | null, p: RecurrentParams): Value {
  const units = checkCell("gruCell", x, h, p, 3);
  const gx = b.add(b.matmul(x, p.Wx), p.b);
  if (h === null) {
    // h = 0: h·Wh = 0, so r does not matter and h' = (1 − z) ⊙ n.
    const z = b.sigmoid(gateSlice(b, gx, 1, units));
    const n = b.tanh(gateSlice(b, gx, 2, units));
    return b.sub(n, b.mul(z, n));
  }
  const gh = b.matmul(h, p.Wh);
  const rz = b.sigmoid(b.add(gateSlice(b, gx, 0, units, 2), gateSlice(b, gh, 0, units, 2)));
  const r = gateSlice(b, rz, 0, units);
  const z = gateSlice(b, rz, 1, units);
  const n = b.tanh(b.add(gateSlice(b, gx, 2, units), b.mul(r, gateSlice(b, gh, 2, units))));
  // (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n)
  return b.add(n, b.mul(z, b.sub(h, n)));
}

function lstmStep(
  b: GraphBuilder,
  x: Value,
  state: readonly [Value, Value] | null,
  p: RecurrentParams,
): [Value, Value] {
  const units = checkCell("lstmCell", x, state ? state[0] : null, p, 4);
  let pre = b.add(b.matmul(x, p.Wx), p.b);
  if (state !== null) {
    const c = state[1];
    if (c.rank !== 2 || c.shape[1] !== units) {
      throw new ShapeError(`lstmCell: the cell state must be [N, ${units}], got ${shapeToString(c.shape)}`);
    }
    pre = b.add(pre, b.matmul(state[0], p.Wh));
  }
  const ifg = b.sigmoid(gateSlice(b, pre, 0, units, 2));
  const i = gateSlice(b, ifg, 0, units);
  const g = b.tanh(gateSlice(b, pre, 2, units));
  const o = b.sigmoid(gateSlice(b, pre, 3, units));
  const ig = b.mul(i, g);
  const c = state === null ? ig : b.add(b.mul(gateSlice(b, ifg, 1, units), state[1]), ig);
  return [b.mul(o, b.tanh(c)), c];
}

/**
 * One GRU step (PyTorch gate order `r, z, n`; see the module documentation for the equations and
 * the bias convention): `x [N, F]`, `h [N, units]` -> `h' [N, units]`. One matmul computes all
 * input gates and one all recurrent gates; the gates are slices of them.
 * @throws ShapeError when a shape does not fit (`Wx [F, 3u]`, `Wh [u, 3u]`, `b [3u]`).
 */
export function gruCell(b: GraphBuilder, x: Value, h: Value, params: RecurrentParams): Value {
  return gruStep(b, x, h, params);
}

/**
 * One LSTM step (PyTorch gate order `i, f, g, o`; see the module documentation):
 * `x [N, F]`, `[h, c]` both `[N, units]` -> `[h', c']`. `b` stands for PyTorch's `b_ih + b_hh`.
 * @throws ShapeError when a shape does not fit (`Wx [F, 4u]`, `Wh [u, 4u]`, `b [4u]`).
 */
export function lstmCell(
  b: GraphBuilder,
  x: Value,
  state: readonly [Value, Value],
  params: RecurrentParams,
): [Value, Value] {
  return lstmStep(b, x, state, params);
}

function recurrentLayer(
  b: GraphBuilder,
  x: Value,
  units: number,
  options: RecurrentOptions,
  kind: "gru" | "lstm",
): Value {
  const name = options.name ?? uniqueName(b, kind);
  const gates = kind === "gru" ? 3 : 4;
  const fail = (msg: string) => new ShapeError(`${kind} '${name}': ${msg}`);
  if (!Number.isInteger(units) || units < 1) throw fail(`units must be a positive integer, got ${units}`);
  if (x.rank !== 3) throw fail(`expects an input [N, T, F], got ${shapeToString(x.shape)}`);
  const [batch, T, F] = x.shape as readonly [Dim, Dim, Dim];
  if (typeof T !== "number" || T < 1) {
    throw fail(`the sequence length (axis 1 of ${shapeToString(x.shape)}) must be a concrete number >= 1`);
  }
  if (typeof F !== "number") {
    throw fail(`the feature axis (axis 2 of ${shapeToString(x.shape)}) must be concrete`);
  }
  const dtype = options.dtype ?? x.dtype;
  const width = gates * units;
  const params: RecurrentParams = {
    Wx: b.param(`${name}/Wx`, [F, width], {
      init: withFans(options.weightInit ?? init.glorotUniform(), F, width),
      dtype,
    }),
    Wh: b.param(`${name}/Wh`, [units, width], {
      init: withFans(options.recurrentInit ?? init.glorotUniform(), units, width),
      dtype,
    }),
    b: b.param(`${name}/b`, [width], { init: options.biasInit ?? init.zeros(), dtype }),
  };
  return b.scope(name, () => {
    const states: Value[] = [];
    let h: Value | null = null;
    let c: Value | null = null;
    for (let t = 0; t < T; t++) {
      const xt = b.reshape(b.slice(x, [0, t, 0], [null, t + 1, null]), [batch, F]);
      if (kind === "gru") {
        h = gruStep(b, xt, h, params);
      } else {
        [h, c] = lstmStep(b, xt, h === null || c === null ? null : [h, c], params);
      }
      states.push(h);
    }
    if (!options.returnSequences) return states[T - 1]!;
    return b.concat(
      states.map((s) => b.reshape(s, [batch, 1, units])),
      1,
    );
  });
}

/**
 * A GRU layer unrolled over the fixed sequence length T of `x [N, T, F]` (N may be symbolic),
 * starting from a zero state. Declares `<name>/Wx [F, 3u]`, `<name>/Wh [u, 3u]`, `<name>/b [3u]`
 * and applies {@link gruCell} at every step. Returns the last hidden state `[N, u]`, or every
 * state `[N, T, u]` with `returnSequences`.
 * @example
 * const x = b.input("x", ["N", 20, 4]);
 * const h = gru(b, x, 16, { name: "enc" }); // [N, 16]
 */
export function gru(b: GraphBuilder, x: Value, units: number, options: RecurrentOptions = {}): Value {
  return recurrentLayer(b, x, units, options, "gru");
}

/**
 * An LSTM layer unrolled over the fixed sequence length T of `x [N, T, F]` (N may be symbolic),
 * starting from zero hidden and cell states. Declares `<name>/Wx [F, 4u]`, `<name>/Wh [u, 4u]`,
 * `<name>/b [4u]` and applies {@link lstmCell} at every step. Returns the last hidden state
 * `[N, u]`, or every hidden state `[N, T, u]` with `returnSequences`.
 */
export function lstm(b: GraphBuilder, x: Value, units: number, options: RecurrentOptions = {}): Value {
  return recurrentLayer(b, x, units, options, "lstm");
}
