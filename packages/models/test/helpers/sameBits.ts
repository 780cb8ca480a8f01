import { expect } from "vitest";
import type { Model } from "../../src/index.js";

/** What {@link expectSameBits} compares: a preset result's history, test outputs and model. */
interface RunLike {
  readonly model: Model;
  readonly history: { readonly loss: readonly number[]; readonly valLoss: readonly number[] };
  readonly test: { readonly outputs: { readonly data: ArrayLike<number> } };
}

/** Expects every param of `b` to hold the same bits as `a`'s (the param's name shows in a failure). */
function expectSameParams(b: Model, a: Model): void {
  for (const name of a.params.names())
    expect([name, Array.from(b.params.get(name).data)]).toEqual([name, Array.from(a.params.get(name).data)]);
}

/** Expects run `b` to repeat run `a` bit for bit: its losses, validation losses, test outputs and params. */
export function expectSameBits(b: RunLike, a: RunLike): void {
  expect(b.history.loss).toEqual(a.history.loss);
  expect(b.history.valLoss).toEqual(a.history.valLoss);
  expect(Array.from(b.test.outputs.data)).toEqual(Array.from(a.test.outputs.data));
  expectSameParams(b.model, a.model);
}
