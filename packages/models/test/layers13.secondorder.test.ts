/**
 * Second derivatives of the issue-13 layers, against finite differences of their gradients
 * (`gradgradcheck`, float64): GRU and LSTM layers, multi-head attention with and without the causal
 * mask, a pre- and a post-norm transformer block, layer normalisation and an embedding with
 * repeated ids. First-order checks live with each layer's tests.
 */
import { formatGradcheckReport, gradgradcheck } from "@gradgraph/autograd";
import { type Graph, GraphBuilder, ParamStore, Rng, Tensor, type Value } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { init } from "../src/init.js";
import { gru, lstm } from "../src/recurrent.js";
import { embedding, layerNorm, multiHeadAttention, transformerEncoderBlock } from "../src/sequence.js";

function randTensor(shape: readonly number[], seed: number): Tensor {
  const t = Tensor.zeros(shape, "float64");
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

/** A graph `loss = sum(layer(x) · r)` on x [2, 3, 4] (r fixed random weights of the output). */
function lossGraph(layer: (b: GraphBuilder, x: Value) => Value, outShape: readonly number[]): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [2, 3, 4]);
  const r = b.input("r", outShape);
  b.output("loss", b.sum(b.mul(layer(b, x), r)));
  return b.build();
}

function check(graph: Graph, outShape: readonly number[], wrt: readonly string[], seed = 1): void {
  const params = ParamStore.init(graph, seed);
  // non-zero biases and gains, so that no second derivative vanishes by accident
  for (const name of params.names())
    new Rng(seed + name.length).fillUniform(params.get(name).data, -0.8, 0.8);
  const report = gradgradcheck(
    graph,
    { x: randTensor([2, 3, 4], seed + 10), r: randTensor(outShape, seed + 11) },
    { wrt: [...wrt], params },
  );
  expect(report.ok, formatGradcheckReport(report)).toBe(true);
}

describe("second derivatives of the sequence layers (float64, finite differences)", () => {
  test.each([
    ["gru", gru],
    ["lstm", lstm],
  ] as const)("%s layer (T = 3, all states returned)", (_name, layer) => {
    const g = lossGraph(
      (b, x) => layer(b, x, 3, { name: "rnn", returnSequences: true, biasInit: init.normal({ std: 0.5 }) }),
      [2, 3, 3],
    );
    check(g, [2, 3, 3], ["rnn/Wx", "rnn/Wh", "rnn/b", "x"]);
  });

  test.each([false, true])("multi-head attention (2 heads, causal: %s)", (causal) => {
    const g = lossGraph((b, x) => multiHeadAttention(b, x, { name: "mha", heads: 2, causal }), [2, 3, 4]);
    check(g, [2, 3, 4], ["mha/Wq", "mha/Wk", "mha/Wv", "mha/Wo", "mha/bq", "x"]);
  });

  test.each(["pre", "post"] as const)("transformer encoder block (%s-norm)", (norm) => {
    const g = lossGraph(
      (b, x) => transformerEncoderBlock(b, x, { name: "enc", heads: 2, mlpDim: 5, norm }),
      [2, 3, 4],
    );
    check(g, [2, 3, 4], ["enc/attn/Wq", "enc/ln1/gamma", "enc/ln2/beta", "enc/mlp1/W", "enc/mlp2/b", "x"]);
  });

  test("layer normalisation over the last axis", () => {
    const g = lossGraph((b, x) => layerNorm(b, x, { name: "ln" }), [2, 3, 4]);
    check(g, [2, 3, 4], ["ln/gamma", "ln/beta", "x"]);
  });

  test("embedding with repeated ids, then a nonlinearity", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const ids = b.input("ids", [2, 3]);
    const r = b.input("r", [2, 3, 4]);
    const e = embedding(b, ids, 5, 4, { name: "emb" });
    b.output("loss", b.sum(b.mul(b.tanh(e), r)));
    const graph = b.build();
    const params = ParamStore.init(graph, 2);
    const report = gradgradcheck(
      graph,
      {
        ids: Tensor.from(
          [
            [1, 3, 1],
            [4, 1, 0],
          ],
          { dtype: "float64" },
        ),
        r: randTensor([2, 3, 4], 3),
      },
      { wrt: ["emb/E"], params },
    );
    expect(report.ok, formatGradcheckReport(report)).toBe(true);
  });
});
