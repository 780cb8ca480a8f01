/** Which implementation a kernel step gets (mirrors the kernel factories). */
import { setWasmEnabled, wasmBackend } from "@gradgraph/core";
import { afterEach, describe, expect, test } from "vitest";
import { kernelChoice } from "../../src/compile/kernel-choice.js";

afterEach(() => setWasmEnabled(true));

describe("kernel choice", () => {
  const node = (op: string, attrs: object = {}) =>
    ({ id: 0, op, inputs: [], attrs, shape: [], dtype: "float32" }) as never;

  test.skipIf(!wasmBackend())("mirrors the kernel factories' rules", () => {
    const ew = (shapes: number[][], out: number[]) =>
      kernelChoice(node("add"), null, shapes, out, "float32").impl;
    expect(ew([[4, 8], [8]], [4, 8])).toBe("wasm-simd"); // suffix (a bias row)
    expect(
      ew(
        [
          [4, 8],
          [4, 1],
        ],
        [4, 8],
      ),
    ).toBe("wasm-simd"); // rows (a column)
    expect(
      ew(
        [
          [4, 8],
          [4, 1, 8],
        ],
        [4, 4, 8],
      ),
    ).toBe("js"); // needs an index map
    expect(kernelChoice(node("add"), null, [[8], [8]], [8], "float64").impl).toBe("js");
    const mm = (transA: boolean, transB: boolean) =>
      kernelChoice(
        node("matmul", { transA, transB }),
        null,
        [
          [4, 4],
          [4, 4],
        ],
        [4, 4],
        "float32",
      );
    expect(mm(true, false).impl).toBe("wasm-simd");
    expect(mm(false, true).impl).toBe("wasm-simd");
    expect(mm(true, true).impl).toBe("js");
    const sum = (axes: number[], shape: number[]) =>
      kernelChoice(node("sum", { axes, keepdims: false }), null, [shape], [], "float32").impl;
    expect(sum([0], [10, 8])).toBe("wasm-simd");
    expect(sum([0], [10, 7])).toBe("js");
    expect(sum([1], [10, 8])).toBe("js");
    expect(sum([0, 2], [2, 3, 8])).toBe("js");
    setWasmEnabled(false);
    expect(ew([[8], [8]], [8])).toBe("js");
  });
});
