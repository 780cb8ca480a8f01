import { type NoAttrs, noAttrs, type OpDef } from "./types.js";

/** Identity in the forward pass; blocks gradients in the backward pass. */
export const stopGradient: OpDef<NoAttrs> = {
  name: "stopGradient",
  doc: "Identity forward; its gradient is zero.",
  arity: 1,
  kind: "alias",
  attrs: noAttrs,
  shape: (inputs) => inputs[0]!,
  kernel: () => (ins, out) => {
    out.set(ins[0]!);
  },
};
