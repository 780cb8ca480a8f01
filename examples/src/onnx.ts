/**
 * `--onnx <file>`: every preset example writes its trained model's inference graph as an ONNX file,
 * through one code path ({@link writeOnnxModel}, called by `saveTrained` in `presets.ts` next to
 * `model.ggm`).
 *
 * The graph written is the model's evaluation graph ({@link Model.evaluationGraph}: the forward
 * graph with `"mode:training"` fixed to 0, so dropout is off and batch normalisation uses its
 * running statistics) pruned to the predictions output, with the random key fixed to 0 when it is
 * still read (as the model's own evaluation feeds it). Its only inputs are the model's feature
 * inputs, its only output the predictions, and its params are initializers holding the trained
 * values: ONNX Runtime runs it with one feed, e.g. `session.run({ x })`.
 * @module
 */
import { resolve } from "node:path";
import { type Graph, pruneGraph, shapeToString, specializeInputs } from "@gradgraph/core";
import { KEY_INPUT, type Model } from "@gradgraph/models";
import { saveOnnx } from "@gradgraph/onnx/node";
import type { ExampleContext, OnnxWritten } from "./context.js";

/**
 * The inference graph of `model`: its evaluation graph pruned to the predictions output (the
 * first prediction output, {@link Model.predictions}), with the random key fixed to 0 when the
 * pruned graph still reads it.
 * @throws Error naming the input when the predictions need a graph input that is not one of the
 * model's feature inputs (they cannot be fed by an ONNX user).
 */
export function inferenceGraph(model: Model): Graph {
  let g = pruneGraph(model.evaluationGraph, [model.predictions]);
  if (Object.hasOwn(g.inputs, KEY_INPUT)) g = pruneGraph(specializeInputs(g, { [KEY_INPUT]: 0 }));
  const extra = Object.keys(g.inputs).filter((name) => !model.inputs.includes(name));
  if (extra.length > 0)
    throw new Error(
      `--onnx: the predictions '${model.predictions}' need the input${extra.length > 1 ? "s" : ""} ${extra.map((n) => `'${n}'`).join(", ")}, which the model's users do not feed (feature inputs: ${model.inputs.join(", ")})`,
    );
  return g;
}

/** A one-line description of a graph's inputs and outputs: `x [N,784] -> predictions [N,10]`. */
export function describeIo(g: Graph): string {
  const list = (table: Readonly<Record<string, number>>) =>
    Object.entries(table)
      .map(([name, id]) => `${name} ${shapeToString(g.nodes[id]!.shape)}`)
      .join(", ");
  return `${list(g.inputs)} -> ${list(g.outputs)}`;
}

/**
 * When `--onnx <file>` was given: exports `model`'s {@link inferenceGraph} with its trained params
 * (`saveOnnx` of `@gradgraph/onnx/node`: written atomically, the directory created when needed),
 * prints the path, size and signature, records it in the context (the `--json` summary's `onnx`)
 * and returns it; otherwise does nothing and returns null. `metadata` (e.g. the preset's name) is
 * stored in the model's `metadata_props` as strings, next to the example's name and the
 * predictions output's name.
 * @throws Error when the graph cannot be exported (e.g. an op without an ONNX mapping) or the file
 * cannot be written; the message names the file.
 */
export async function writeOnnxModel(
  ctx: ExampleContext,
  model: Model,
  metadata: Readonly<Record<string, string>> = {},
): Promise<OnnxWritten | null> {
  const path = ctx.options.onnx;
  if (path === undefined) return null;
  const g = inferenceGraph(model);
  const io = describeIo(g);
  let bytes: Uint8Array;
  try {
    bytes = await saveOnnx(resolve(path), g, model.params, {
      outputs: [model.predictions],
      name: ctx.name,
      docString: `gradgraph example '${ctx.name}': the trained model's inference graph (${io}), evaluation mode`,
      metadata: {
        example: ctx.name,
        ...metadata,
        input: model.input,
        predictions: model.predictions,
        convention: model.convention,
      },
    });
  } catch (e) {
    throw new Error(`--onnx '${path}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const written = { path, bytes: bytes.length };
  ctx.log(`ONNX: wrote ${path} (${bytes.length.toLocaleString("en-US")} bytes; ${io})`);
  ctx.recordOnnx(written);
  return written;
}
