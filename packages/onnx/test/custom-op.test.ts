import { grad } from "@gradgraph/autograd";
import { defineOp, evaluate, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { type CustomOpExporter, exportOnnx, OnnxError } from "../src/index.js";
import { maxErrorRelativeToScale, runOrt } from "./helpers/ort.js";

/** softsign(x) = x / (1 + |x|), a user op with a VJP rule. */
const softsign = defineOp({
  name: "onnxTest.softsign",
  doc: "x / (1 + |x|)",
  arity: 1,
  elementwise: { expr: (x) => `(${x} / (1 + Math.abs(${x})))`, fn: (x) => x / (1 + Math.abs(x)) },
  vjp: ({ b, g, x }) => [b.div(g, b.square(b.add(1, b.abs(x[0]!))))],
});

/** Its ONNX form: three standard nodes. */
const softsignOnnx: CustomOpExporter = (ctx, node, x) =>
  ctx.op("Div", [x[0]!, ctx.op("Add", [ctx.scalar(1, node.dtype), ctx.op("Abs", [x[0]!])])]);

function graph() {
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", ["N", 3]);
  const w = b.param("w", [3, 2], { init: { kind: "normal", std: 1 } });
  b.output("loss", softsign(b, x.matmul(w)).square().sum());
  return b.build();
}

describe("user ops (defineOp) export through options.customOps", () => {
  it("a user op and its gradient graph run in ONNX Runtime to gradgraph's values", async () => {
    const g = grad(graph(), "loss", ["w", "x"]);
    const params = ParamStore.init(g, 2);
    const x = Tensor.from(
      [
        [1, -2, 0.5],
        [0, 3, -1],
      ],
      { dtype: "float32" },
    );
    const ours = evaluate(g, { x }, { params });
    const theirs = await runOrt(exportOnnx(g, params, { customOps: { [softsign.name]: softsignOnnx } }), {
      x,
    });
    for (const k of ["loss", "grad:w", "grad:x"])
      expect(maxErrorRelativeToScale(theirs[k]!, ours[k]!), k).toBeLessThan(1e-6);
  });

  it("without an exporter the error names the node and the option", () => {
    const g = graph();
    expect(() => exportOnnx(g, ParamStore.init(g, 2))).toThrow(OnnxError);
    expect(() => exportOnnx(g, ParamStore.init(g, 2))).toThrow(
      /onnxTest\.softsign.*options\.customOps\['onnxTest\.softsign'\]/,
    );
  });
});
