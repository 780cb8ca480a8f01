/**
 * Sequence layers: token {@link embedding}, {@link layerNorm}, {@link multiHeadAttention} and the
 * {@link transformerEncoderBlock}. Like the dense layers they emit ordinary graph nodes through a
 * {@link GraphBuilder} and declare their params as `<name>/...`, so they mix freely with raw
 * builder ops; every gradient comes from `@gradgraph/autograd`. The batch dimension may be
 * symbolic everywhere.
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
import { type Activation, activation, uniqueName } from "./layers.js";

/** Options of {@link embedding}. */
export interface EmbeddingOptions {
  /** Layer name; the table is the param `<name>/E`. Default `embedding1`, `embedding2`, ... */
  name?: string;
  /** Initialiser of the table (default `init.normal()`: N(0, 1), as PyTorch's `nn.Embedding`). */
  init?: Init;
  /** Dtype of the table (default: the builder's dtype). */
  dtype?: DType;
}

/**
 * A lookup table: declares the param `<name>/E` of shape `[vocab, dim]` and returns its rows at
 * `ids`, i.e. `E[ids]` of shape `[...ids.shape, dim]`. `ids` holds integer-valued floats in
 * `[0, vocab)` of any shape (a symbolic batch is fine); an out-of-range id throws when the graph
 * runs. The gradient accumulates into the looked-up rows (repeated ids add up).
 * @example
 * const tokens = b.input("tokens", ["N", 8]);
 * const h = embedding(b, tokens, 100, 16); // [N, 8, 16]
 */
export function embedding(
  b: GraphBuilder,
  ids: Value,
  vocab: number,
  dim: number,
  options: EmbeddingOptions = {},
): Value {
  const name = options.name ?? uniqueName(b, "embedding");
  if (!Number.isInteger(vocab) || vocab < 1) {
    throw new RangeError(`embedding '${name}': vocab must be a positive integer, got ${vocab}`);
  }
  if (!Number.isInteger(dim) || dim < 1) {
    throw new RangeError(`embedding '${name}': dim must be a positive integer, got ${dim}`);
  }
  const E = b.param(`${name}/E`, [vocab, dim], {
    init: options.init ?? init.normal(),
    dtype: options.dtype ?? b.dtype,
  });
  return b.scope(name, () => b.gather(E, ids, 0).named("output"));
}

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Layer name; params are `<name>/gamma` and `<name>/beta`. Default `layerNorm1`, ... */
  name?: string;
  /** The normalised axis (default -1, the last). Its size must be concrete. */
  axis?: number;
  /** Added to the variance before the square root (default 1e-5, as PyTorch). */
  epsilon?: number;
}

function concreteAxis(x: Value, axis: number, who: string): { axis: number; size: number } {
  const a = axis < 0 ? axis + x.rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.rank) {
    throw new ShapeError(`${who}: axis ${axis} is out of range for input ${shapeToString(x.shape)}`);
  }
  const size = x.shape[a]!;
  if (typeof size !== "number") {
    throw new ShapeError(`${who}: axis ${a} of input ${shapeToString(x.shape)} is symbolic ('${size}')`);
  }
  return { axis: a, size };
}

/**
 * Layer normalisation (Ba et al. 2016): `(x - mean) / sqrt(var + epsilon) * gamma + beta` with the
 * mean and the biased variance taken over `axis` (default: the last) for every other index.
 * `gamma` (ones) and `beta` (zeros) are params of the normalised axis' size, declared as
 * `<name>/gamma` and `<name>/beta`. Keeps `x`'s shape. One node: core's fused `layerNorm` op.
 */
export function layerNorm(b: GraphBuilder, x: Value, options: LayerNormOptions = {}): Value {
  const name = options.name ?? uniqueName(b, "layerNorm");
  const { axis, size } = concreteAxis(x, options.axis ?? -1, `layerNorm '${name}'`);
  const eps = options.epsilon ?? 1e-5;
  if (!(eps >= 0) || !Number.isFinite(eps)) {
    throw new RangeError(`layerNorm '${name}': epsilon must be finite and >= 0, got ${eps}`);
  }
  // gamma/beta broadcast against x: [size] for the last axis, [size, 1, ...] otherwise
  const pShape = [size, ...Array.from({ length: x.rank - axis - 1 }, () => 1)];
  const gamma = b.param(`${name}/gamma`, pShape, { init: init.ones(), dtype: x.dtype });
  const beta = b.param(`${name}/beta`, pShape, { init: init.zeros(), dtype: x.dtype });
  // one fused kernel (core's layerNorm op); its gradient is built from ordinary ops
  return b.scope(name, () => b.layerNorm(x, gamma, beta, { axis, epsilon: eps }).named("output"));
}

/** Options of {@link multiHeadAttention} and {@link multiHeadAttentionLayer}. */
export interface AttentionOptions {
  /** Layer name; params are `<name>/Wq`, `<name>/bq`, ..., `<name>/Wo`, `<name>/bo`. Default `mha1`, ... */
  name?: string;
  /** Number of heads; must divide the model width `D`. */
  heads: number;
  /** Mask future positions: query `i` attends to keys `j <= i` only (default false). Needs a concrete `T`. */
  causal?: boolean;
  /** Initialiser of the four `[D, D]` projections (default `init.glorotUniform()` with fans `D`, `D`). */
  weightInit?: Init;
}

/** What {@link multiHeadAttentionLayer} made. */
export interface AttentionLayer {
  /** The layer's name. */
  readonly name: string;
  /** The output `[N, T, D]`. */
  readonly output: Value;
  /** The attention weights `[N, heads, T, T]` (rows sum to 1; row `i` is query `i`), e.g. for pictures. */
  readonly weights: Value;
  /** The param names. */
  readonly params: {
    readonly wq: string;
    readonly bq: string;
    readonly wk: string;
    readonly bk: string;
    readonly wv: string;
    readonly bv: string;
    readonly wo: string;
    readonly bo: string;
  };
}

/** The additive causal mask: 0 on and below the diagonal, -1e9 above it. */
function causalMask(b: GraphBuilder, T: number, dtype: DType): Value {
  const rows: number[][] = [];
  for (let i = 0; i < T; i++) rows.push(Array.from({ length: T }, (_, j) => (j > i ? -1e9 : 0)));
  return b.constant(rows, dtype);
}

/**
 * Multi-head self-attention on `x [N, T, D]`, returning everything it made (see
 * {@link multiHeadAttention} for the usual form). With `dk = D / heads`:
 * `q, k, v = x·Wq + bq, x·Wk + bk, x·Wv + bv` split into heads `[N, heads, T, dk]`,
 * `weights = softmax(q·kᵀ / sqrt(dk) + mask)` over the keys, and
 * `output = merge(weights·v)·Wo + bo` with the heads merged back to `[N, T, D]`.
 * `N` (and, without `causal`, `T`) may be symbolic; `D` must be concrete.
 */
export function multiHeadAttentionLayer(
  b: GraphBuilder,
  x: Value,
  options: AttentionOptions,
): AttentionLayer {
  const name = options.name ?? uniqueName(b, "mha");
  const fail = (msg: string) => new ShapeError(`multiHeadAttention '${name}': ${msg}`);
  if (x.rank !== 3) throw fail(`expects an input [N, T, D], got ${shapeToString(x.shape)}`);
  const [N, T, D] = x.shape as [Dim, Dim, Dim];
  if (typeof D !== "number") throw fail(`the model width D of input ${shapeToString(x.shape)} is symbolic`);
  const h = options.heads;
  if (!Number.isInteger(h) || h < 1 || D % h !== 0) {
    throw fail(`heads must be a positive integer dividing D = ${D}, got ${h}`);
  }
  if (options.causal && typeof T !== "number") {
    throw fail(`a causal mask needs a concrete sequence length T, got input ${shapeToString(x.shape)}`);
  }
  const dk = D / h;
  const wInit = withFans(options.weightInit ?? init.glorotUniform(), D, D);
  const p = {
    wq: `${name}/Wq`,
    bq: `${name}/bq`,
    wk: `${name}/Wk`,
    bk: `${name}/bk`,
    wv: `${name}/Wv`,
    bv: `${name}/bv`,
    wo: `${name}/Wo`,
    bo: `${name}/bo`,
  } as const;
  const proj = (w: string, bias: string) => ({
    W: b.param(w, [D, D], { init: wInit, dtype: x.dtype }),
    bias: b.param(bias, [D], { init: init.zeros(), dtype: x.dtype }),
  });
  const q = proj(p.wq, p.bq);
  const k = proj(p.wk, p.bk);
  const v = proj(p.wv, p.bv);
  const o = proj(p.wo, p.bo);
  return b.scope(name, () => {
    const split = (pr: { W: Value; bias: Value }, label: string) =>
      b.transpose(b.reshape(b.add(b.matmul(x, pr.W), pr.bias), [N, T, h, dk]), [0, 2, 1, 3]).named(label);
    const qh = split(q, "q");
    const kh = split(k, "k");
    const vh = split(v, "v");
    let scores = b.mul(b.matmul(qh, kh, { transB: true }), b.scalar(1 / Math.sqrt(dk), x.dtype));
    if (options.causal) scores = b.add(scores, causalMask(b, T as number, x.dtype));
    const weights = b.softmax(scores.named("scores"), -1).named("weights");
    const ctx = b.reshape(b.transpose(b.matmul(weights, vh), [0, 2, 1, 3]), [N, T, D]).named("context");
    const output = b.add(b.matmul(ctx, o.W), o.bias).named("output");
    return { name, output, weights, params: p };
  });
}

/**
 * Multi-head self-attention on `x [N, T, D]`; returns the output `[N, T, D]`. See
 * {@link multiHeadAttentionLayer} for the formula and for the attention weights.
 * @example
 * const y = multiHeadAttention(b, x, { heads: 4, causal: true });
 */
export function multiHeadAttention(b: GraphBuilder, x: Value, options: AttentionOptions): Value {
  return multiHeadAttentionLayer(b, x, options).output;
}

/** Options of {@link transformerEncoderBlock}. */
export interface TransformerBlockOptions {
  /** Block name; sub-layers are `<name>/attn`, `<name>/ln1`, `<name>/ln2`, `<name>/mlp1`, `<name>/mlp2`. Default `encoder1`, ... */
  name?: string;
  /** Attention heads; must divide `D`. */
  heads: number;
  /** Hidden width of the position-wise MLP. */
  mlpDim: number;
  /** Layer norm placement: `"pre"` (default; GPT-2, ViT) or `"post"` (the original Transformer). */
  norm?: "pre" | "post";
  /** Activation of the MLP's hidden layer: `"gelu"` (default, exact erf form) or any {@link Activation}. */
  activation?: Activation | "gelu";
  /** Causal self-attention (default false). */
  causal?: boolean;
  /** Layer norm epsilon (default 1e-5). */
  epsilon?: number;
}

function positionWise(
  b: GraphBuilder,
  x: Value,
  name: string,
  inF: number,
  units: number,
  dtype: DType,
): Value {
  const W = b.param(`${name}/W`, [inF, units], {
    init: withFans(init.glorotUniform(), inF, units),
    dtype,
  });
  const bias = b.param(`${name}/b`, [units], { init: init.zeros(), dtype });
  return b.scope(name, () => b.add(b.matmul(x, W), bias).named("z"));
}

/**
 * A Transformer encoder block on `x [N, T, D]`: self-attention and a position-wise MLP
 * (`D -> mlpDim -> D`), each with a residual connection and a layer norm. `norm: "pre"` computes
 * `h = x + attn(ln1(x)); y = h + mlp(ln2(h))`; `norm: "post"` computes
 * `h = ln1(x + attn(x)); y = ln2(h + mlp(h))`. Returns `y [N, T, D]`; see
 * {@link transformerEncoderBlockLayer} for the same block with its attention weights.
 */
export function transformerEncoderBlock(b: GraphBuilder, x: Value, options: TransformerBlockOptions): Value {
  return transformerEncoderBlockLayer(b, x, options).output;
}

/** What {@link transformerEncoderBlockLayer} made. */
export interface TransformerBlockLayer {
  /** The block's name. */
  readonly name: string;
  /** The output `[N, T, D]`. */
  readonly output: Value;
  /** The block's self-attention layer (its `weights` `[N, heads, T, T]` are usable as a graph output). */
  readonly attention: AttentionLayer;
}

/**
 * {@link transformerEncoderBlock}, returning everything it made: the same graph and params, plus
 * the block's {@link AttentionLayer} (e.g. to draw its attention weights).
 */
export function transformerEncoderBlockLayer(
  b: GraphBuilder,
  x: Value,
  options: TransformerBlockOptions,
): TransformerBlockLayer {
  const name = options.name ?? uniqueName(b, "encoder");
  if (x.rank !== 3 || typeof x.shape[2] !== "number") {
    throw new ShapeError(
      `transformerEncoderBlock '${name}': expects an input [N, T, D] with a concrete D, got ${shapeToString(x.shape)}`,
    );
  }
  const D = x.shape[2];
  const mlpDim = options.mlpDim;
  if (!Number.isInteger(mlpDim) || mlpDim < 1) {
    throw new RangeError(
      `transformerEncoderBlock '${name}': mlpDim must be a positive integer, got ${mlpDim}`,
    );
  }
  const norm = options.norm ?? "pre";
  if (norm !== "pre" && norm !== "post") {
    throw new RangeError(
      `transformerEncoderBlock '${name}': norm must be "pre" or "post", got ${String(norm)}`,
    );
  }
  const act = options.activation ?? "gelu";
  const lnOpts = (n: string): LayerNormOptions =>
    options.epsilon === undefined ? { name: n } : { name: n, epsilon: options.epsilon };
  const attn = (v: Value) =>
    multiHeadAttentionLayer(b, v, {
      name: `${name}/attn`,
      heads: options.heads,
      ...(options.causal === undefined ? {} : { causal: options.causal }),
    });
  const mlp = (v: Value) => {
    const z = positionWise(b, v, `${name}/mlp1`, D, mlpDim, x.dtype);
    const a = b.scope(name, () => (act === "gelu" ? b.gelu(z) : activation(b, z, act)));
    return positionWise(b, a, `${name}/mlp2`, mlpDim, D, x.dtype);
  };
  if (norm === "pre") {
    const attention = attn(layerNorm(b, x, lnOpts(`${name}/ln1`)));
    const h = b.add(x, attention.output);
    return { name, output: b.add(h, mlp(layerNorm(b, h, lnOpts(`${name}/ln2`)))), attention };
  }
  const attention = attn(x);
  const h = layerNorm(b, b.add(x, attention.output), lnOpts(`${name}/ln1`));
  return { name, output: layerNorm(b, b.add(h, mlp(h)), lnOpts(`${name}/ln2`)), attention };
}
