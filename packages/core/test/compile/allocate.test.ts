/** Pass 7, allocate buffers. */
import { AllocationError, GraphBuilder, ParamStore, Tensor, type Value, wasmBackend } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { Allocator, allocateBuffers, valuesByBuffer } from "../../src/compile/allocate.js";
import { stages } from "./stages.js";

function chain(n: number) {
  const g = new GraphBuilder({ dtype: "float64" });
  let v: Value = g.input("x", [50]);
  // each value read twice by its consumer: nothing fuses, one step per op
  for (let i = 0; i < n; i++) v = i % 2 ? v.add(v) : v.mul(v);
  g.output("y", v);
  return g.build();
}

describe("allocate", () => {
  test("a chain reuses two pool buffers; inputs and outputs get their own", () => {
    const allocator = new Allocator();
    const f = allocateBuffers(stages(chain(9), { x: [50] }).scheduled, allocator);
    const held = valuesByBuffer(f);
    const kinds = f.buffers.map((b) => `${b.kind}:${b.elements}:${held[b.id]!.join(",")}`);
    expect(kinds).toEqual(["input:50:0", "pool:50:1,3,5,7", "pool:50:2,4,6,8", "output:50:9"]);
    expect(f.pooledElements).toBe(100);
    expect(f.unpooledElements).toBe(8 * 50);
    expect(f.outputs.y!.data).toBe(f.arrays[9]);
    expect(f.inputs.x!.data).toBe(f.arrays[0]);
    allocator.release();
  });

  test("an alias is a view of its input's buffer and keeps it alive until its own last reader", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2, 3]);
    const a = x.exp(); // #1
    const r = a.reshape([3, 2]); // #2 alias of #1
    const b = x.neg(); // #3: must not take #1's buffer while r is alive
    g.output("y", r.reshape([2, 3]).add(b)); // #4 alias, #5
    const allocator = new Allocator();
    const f = allocateBuffers(stages(g.build(), { x: [2, 3] }, { fuse: false }).scheduled, allocator);
    expect(f.bufferOf[2]).toBe(f.bufferOf[1]);
    expect(f.bufferOf[4]).toBe(f.bufferOf[1]);
    expect(f.bufferOf[3]).not.toBe(f.bufferOf[1]);
    expect(valuesByBuffer(f)[f.bufferOf[1]!]).toEqual([1, 2, 4]);
    allocator.release();
  });

  test.skipIf(!wasmBackend())("params are bound in place, or mirrored when outside the arena", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    g.output("y", x.mul(g.param("inArena", [2])).mul(g.param("onHeap", [2])));
    const graph = g.build();
    // ParamStore.init allocates in the arena; a store built from tensors keeps them where they are
    const store = new ParamStore([
      ["inArena", ParamStore.init(graph, 0).get("inArena")],
      ["onHeap", Tensor.full([2], 3, "float32")],
    ]);
    const allocator = new Allocator();
    const f = allocateBuffers(stages(graph, { x: [2] }, { params: store }).scheduled, allocator);
    expect(f.buffers.map((b) => b.kind)).toEqual(["input", "param", "mirror", "output"]);
    expect(f.arrays[1]).toBe(store.get("inArena").data);
    expect(f.mirrors).toHaveLength(1);
    expect(f.mirrors[0]!.src).toBe(store.get("onHeap").data);
    allocator.release();
  });

  test.skipIf(!wasmBackend())("a failed allocation names the node and gives back what was allocated", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [1000]);
    g.output("y", g.fill(1, [60000, 60000]).sum().add(x.exp().sum()));
    const graph = g.build();
    const before = wasmBackend()!.bytesInUse;
    expect(() => allocateBuffers(stages(graph, { x: [1000] }).scheduled)).toThrow(AllocationError);
    expect(() => allocateBuffers(stages(graph, { x: [1000] }).scheduled)).toThrow(/^node #1 fill: /);
    expect(wasmBackend()!.bytesInUse).toBe(before);
  });
});
