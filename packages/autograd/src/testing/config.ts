/**
 * How many runs property tests make, and with which seed, from environment variables.
 * @module
 */

/** Default number of runs per property when `GRADGRAPH_FC_RUNS` is not set. */
export const DEFAULT_FC_RUNS = 30;

/** Default seed when `GRADGRAPH_FC_SEED` is not set: fixed, so CI runs are reproducible. */
export const DEFAULT_FC_SEED = 20240607;

/** The fast-check run parameters gradgraph's property helpers use. */
export interface FcParameters {
  /** Seed of the random stream (fixed by default). */
  readonly seed: number;
  /** Number of generated cases per property. */
  readonly numRuns: number;
}

function envVar(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = proc?.env?.[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

/**
 * Run parameters for `fc.assert`, read from the environment (this works in Node; in a browser
 * the defaults apply):
 *
 * - `GRADGRAPH_FC_RUNS`: runs per property (default {@link DEFAULT_FC_RUNS}, or `defaults.numRuns`).
 *   It scales every property: a property whose default is `d` runs `d * RUNS / DEFAULT_FC_RUNS`
 *   times (at least 1), so cheap and expensive properties keep their proportions.
 * - `GRADGRAPH_FC_SEED`: an integer seed (default {@link DEFAULT_FC_SEED}, fixed so CI is
 *   reproducible), or `random` for a fresh seed each run (fast-check prints it on failure).
 *
 * @example
 * fc.assert(checkOpGradients("matmul"), fcParameters());
 * fc.assert(expensiveProperty, fcParameters({ numRuns: 10 }));
 */
export function fcParameters(defaults: { numRuns?: number; seed?: number } = {}): FcParameters {
  const base = defaults.numRuns ?? DEFAULT_FC_RUNS;
  const runsVar = envVar("GRADGRAPH_FC_RUNS");
  let numRuns = base;
  if (runsVar !== undefined) {
    const r = Number(runsVar);
    if (!Number.isInteger(r) || r <= 0) {
      throw new RangeError(`GRADGRAPH_FC_RUNS must be a positive integer, got ${JSON.stringify(runsVar)}`);
    }
    numRuns = Math.max(1, Math.round((base * r) / DEFAULT_FC_RUNS));
  }
  const seedVar = envVar("GRADGRAPH_FC_SEED");
  let seed = defaults.seed ?? DEFAULT_FC_SEED;
  if (seedVar === "random") seed = (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
  else if (seedVar !== undefined) {
    const s = Number(seedVar);
    if (!Number.isInteger(s)) {
      throw new RangeError(
        `GRADGRAPH_FC_SEED must be an integer or 'random', got ${JSON.stringify(seedVar)}`,
      );
    }
    seed = s;
  }
  return { seed, numRuns };
}
