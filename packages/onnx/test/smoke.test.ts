import { evaluate, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { exportOnnx } from "../src/index.js";
import { maxScaledError, runOrt } from "./helpers/ort.js";

describe("exportOnnx smoke", () => {
  it("a two-layer MLP with a symbolic batch runs in ONNX Runtime to gradgraph's outputs", async () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", ["N", 3]);
    const w1 = b.param("w1", [3, 5], { init: { kind: "normal", std: 0.5 } });
    const b1 = b.param("b1", [5]);
    const w2 = b.param("w2", [5, 2], { init: { kind: "normal", std: 0.5 } });
    const h = x.matmul(w1).add(b1).tanh();
    const y = h.matmul(w2).softmax(-1);
    b.output("probs", y);
    b.output("logits", h.matmul(w2).sum(1, true).reshape(["N"]));
    const graph = b.build();
    const params = ParamStore.init(graph, 1);
    const xs = Tensor.from(
      [
        [1, 2, 3],
        [-1, 0.5, 2],
        [0, 0, 0],
        [3, -2, 1],
      ],
      { dtype: "float32" },
    );
    const ours = evaluate(graph, { x: xs }, { params });
    const theirs = await runOrt(exportOnnx(graph, params), { x: xs });
    for (const name of ["probs", "logits"])
      expect(maxScaledError(theirs[name]!, ours[name]!, 1e-6)).toBeLessThan(1e-5);
  });
});
