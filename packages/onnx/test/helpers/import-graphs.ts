/**
 * Small gradgraph models the importer's tests export and import back: an MLP, a CNN and a
 * transformer block, each with a symbolic batch dim "N".
 */
import { type Dim, type Graph, GraphBuilder, type Value } from "@gradgraph/core";

const N = "N";

/** A two-layer MLP with a few extra ops (where, clip, leakyRelu, concat, slice, reductions). */
export function mlp(): Graph {
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", [N, 4]);
  const w1 = b.param("w1", [4, 8], { init: { kind: "glorotUniform" } });
  const b1 = b.param("b1", [8], { init: { kind: "normal", std: 0.1 } });
  const w2 = b.param("w2", [8, 3], { init: { kind: "glorotUniform" } });
  const b2 = b.param("b2", [3], { init: { kind: "normal", std: 0.1 } });
  const h1 = x.matmul(w1).add(b1).tanh();
  const h2 = b.where(h1.greater(0), h1, b.leakyRelu(h1, 0.1)).clip(-0.9, 0.9);
  const h = b.concat([b.slice(h2, [0, 0], [null, 4]), b.slice(h2, [0, 4], [null, 8]).relu()], 1);
  const logits = h.matmul(w2).add(b2);
  b.output("logits", logits);
  b.output("probs", logits.softmax(-1));
  b.output("summary", b.sum(h, 1).add(b.mean(h, 1)).add(b.max(h, 1)).reshape([N, 1]));
  return b.build();
}

/** A CNN: conv (padding, stride, groups), max and average pooling, flatten, dense; batch `batch`. */
export function cnn(batch: Dim = N): Graph {
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", [batch, 1, 8, 8]);
  const k1 = b.param("k1", [4, 1, 3, 3], { init: { kind: "heNormal" } });
  const c1 = b.param("c1", [4, 1, 1], { init: { kind: "normal", std: 0.1 } });
  const k2 = b.param("k2", [6, 2, 3, 3], { init: { kind: "heNormal" } });
  const w = b.param("w", [6 * 2 * 2, 3], { init: { kind: "glorotUniform" } });
  let h = b.conv2d(x, k1, { padding: "same" }).add(c1).relu();
  h = b.maxPool2d(h, 2);
  h = b.conv2d(h, k2, { padding: [1, 0, 1, 0], strides: 2, groups: 2 }).relu();
  h = b.avgPool2d(h, 2, { strides: 1, padding: [0, 1, 0, 1] });
  b.output("logits", h.reshape([batch, 6 * 2 * 2]).matmul(w));
  return b.build();
}

/** A pre-norm transformer block: layerNorm, 2-head self-attention, gelu MLP, residuals. */
export function transformerBlock(): Graph {
  const [T, D, H] = [5, 8, 2];
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", [N, T, D]);
  const p = (name: string, shape: number[], std = 0.3) =>
    b.param(name, shape, { init: { kind: "normal", std } });
  const ln = (v: Value, name: string) =>
    b.layerNorm(v, b.param(`${name}.g`, [D], { init: { kind: "ones" } }), p(`${name}.b`, [D], 0.1));
  const heads = (v: Value) => v.reshape([N, T, H, D / H]).transpose([0, 2, 1, 3]);
  const a = ln(x, "ln1");
  const [q, k, v] = ["q", "k", "v"].map((n) => heads(a.matmul(p(`w${n}`, [D, D]))));
  const att = q!
    .matmul(k!, { transB: true })
    .mul(1 / Math.sqrt(D / H))
    .softmax(-1);
  const merged = att.matmul(v!).transpose([0, 2, 1, 3]).reshape([N, T, D]);
  const r1 = x.add(merged.matmul(p("wo", [D, D])));
  const m = ln(r1, "ln2")
    .matmul(p("w1", [D, 16]))
    .add(p("b1", [16], 0.1))
    .gelu()
    .matmul(p("w2", [16, D]));
  b.output("y", r1.add(m));
  return b.build();
}
