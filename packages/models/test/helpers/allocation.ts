import { Session } from "node:inspector";

interface ProfileNode {
  selfSize: number;
  children: ProfileNode[];
}

/**
 * Bytes allocated on the JS heap while `fn` runs (V8's sampling heap profiler, garbage included),
 * so that per-step allocations show up even when a scavenge collects them at once.
 */
export async function sampledAllocation(fn: () => void): Promise<number> {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
    );
  await post("HeapProfiler.enable");
  await post("HeapProfiler.startSampling", {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  fn();
  const { profile } = (await post("HeapProfiler.stopSampling")) as { profile: { head: ProfileNode } };
  session.disconnect();
  let total = 0;
  const stack: ProfileNode[] = [profile.head];
  while (stack.length) {
    const node = stack.pop()!;
    total += node.selfSize;
    stack.push(...node.children);
  }
  return total;
}
