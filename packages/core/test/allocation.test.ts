import { AllocationError, compile, GraphBuilder, setWasmEnabled, wasmBackend } from "@gradgraph/core";
import { afterAll, describe, expect, test } from "vitest";

/** A graph whose one node needs an impossibly large buffer. */
function hugeFill(shape: number[]) {
  const g = new GraphBuilder();
  const x = g.input("x", [2]);
  g.output("y", g.fill(1, shape).sum().add(x));
  return g.build();
}

describe("allocations that cannot be made name the node", () => {
  afterAll(() => setWasmEnabled(true));

  test.skipIf(!wasmBackend())("in the WebAssembly arena (limit stated, nothing allocated)", () => {
    const before = wasmBackend()!.bytesInUse;
    const err = (() => {
      try {
        compile(hugeFill([60000, 60000])).plan({ x: [2] });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AllocationError);
    expect((err as Error).message).toMatch(
      /^node #1 fill: cannot allocate 3600000000 float32 elements \(13\.4 GiB\): the WebAssembly arena holds at most 2\.0 GiB/,
    );
    expect(wasmBackend()!.bytesInUse).toBeLessThan(before + 1024 * 1024);
  });

  test("on the JS heap (the engine's limit)", () => {
    setWasmEnabled(false);
    expect(() => compile(hugeFill([100000, 100000])).plan({ x: [2] })).toThrow(
      /^node #1 fill: cannot allocate 10000000000 float32 elements \(37\.3 GiB\): /,
    );
  });
});
