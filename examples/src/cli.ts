/**
 * `pnpm example <name> [options]`: the command-line entry of the examples.
 *
 * The subcommands come from the table in `registry.ts`. Options are validated here (positive
 * integers, positive learning rates, ...): an unknown option, a missing or bad value, or an
 * unknown example prints one clear message and exits with code 2.
 *
 * The example itself runs in a worker thread (`worker.ts`); this thread renders progress, and on
 * Ctrl-C sets a shared flag the training loop checks after each batch: the example then writes the
 * history and plots gathered so far and the process exits with code 130. A second Ctrl-C quits at
 * once. With `--json` the last line printed is one JSON object with the example, its
 * hyperparameters, final metrics, wall seconds, the process's peak resident memory (`peakRssMiB`:
 * both threads, since they share the process), the files written and, with `--onnx`, the ONNX file's
 * path and size.
 *
 * The charts an example asks for are rendered here, after its worker has ended: everything the run
 * held (data sets, models, WebAssembly memory) is released before vega and resvg are loaded, so the
 * peak memory of a run is that of its training, not training plus rendering. This thread never
 * loads the models, the data or the renderers before then.
 *
 * Before the example starts, the sizes its options ask for are checked (`limits.ts`) and so is the
 * output directory (created, and written with a probe file): a problem there is a usage error too.
 * When training stops at a non-finite loss, the example writes its outputs from the last finite
 * weights and the CLI exits with 1.
 *
 * Exit codes: 0 done, 1 the example failed (or stopped at a non-finite loss), 2 usage error,
 * 130 interrupted by Ctrl-C.
 * @module
 */
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Command, CommanderError, Option } from "commander";
import { type ChartRequest, STOP } from "./context.js";
import { checkOutputDir, toJson } from "./files.js";
import { checkHiddenSizes } from "./limits.js";
import { type ExampleOptions, OPTION_SPECS } from "./options.js";
import { writeChart } from "./plots.js";
import { isInteractive, ProgressRenderer } from "./progress.js";
import { EXAMPLES, type ExampleDef } from "./registry.js";
import type { WorkerInput, WorkerMessage } from "./worker.js";

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const SCRIPT = "pnpm example";

/**
 * The worker's young generation (V8's space for new objects), in MiB. Node's default lets it grow to
 * 48 MiB; the examples allocate little once their plans are compiled (a training step allocates
 * nothing), so a small one costs no measurable time, and it is 15-20 MiB less resident memory next
 * to a data set. It also bounds the short-lived buffers waiting for a collection (V8 collects the
 * young generation once their bytes reach twice its semi-space), such as the chunks of a streamed
 * MNIST file.
 */
export const WORKER_YOUNG_GENERATION_MB = 4;

/** Starts the worker running `worker.ts` (through tsx when the sources are TypeScript). */
function startWorker(input: WorkerInput): Worker {
  const here = import.meta.url;
  const ts = here.endsWith(".ts");
  const target = new URL(ts ? "./worker.ts" : "./worker.js", here).href;
  const options = {
    workerData: input,
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  };
  if (!ts) return new Worker(new URL(target), options);
  // Workers do not inherit the main thread's tsx loader: register it first, then load the worker.
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); }).catch((e) => { console.error(e); process.exit(1); });`;
  return new Worker(code, { ...options, eval: true });
}

/**
 * The peak resident set size of this process so far, in MiB (the kernel's high-water mark, which
 * covers every thread: the example's worker shares this process).
 */
export function peakRssMiB(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

/**
 * Renders and writes the charts an example asked for, in order; returns null, or a message naming
 * the first chart that could not be written (the others are still tried).
 */
async function renderCharts(outDir: string, charts: readonly ChartRequest[]): Promise<string | null> {
  let failure: string | null = null;
  for (const c of charts) {
    try {
      await writeChart(outDir, c.name, c.spec);
    } catch (e) {
      failure ??= `writing the chart '${c.name}' failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return failure;
}

function formatNumber(v: unknown): string {
  if (typeof v !== "number") return typeof v === "string" ? v : JSON.stringify(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : v.toFixed(4);
}

/**
 * Checks the `--onnx` file before anything runs: its directory must be usable (created and
 * written, as `--out` is checked) and the path must not be a directory. Returns null, or what is
 * wrong.
 */
export async function checkOnnxPath(path: string): Promise<string | null> {
  const abs = resolve(path);
  try {
    await checkOutputDir(dirname(abs));
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const st = await stat(abs).catch(() => null);
  return st?.isDirectory() ? "is a directory, not a file name" : null;
}

/**
 * Runs one example in a worker; resolves to the exit code. The output directory is checked first
 * (created, a probe file written and removed): when it is unusable the run ends at once with exit
 * code 2, before any data is loaded or any training starts.
 */
export async function runExample(def: ExampleDef, options: ExampleOptions): Promise<number> {
  const outDir = resolve(options.out);
  try {
    await checkOutputDir(outDir);
  } catch (e) {
    process.stderr.write(
      `${SCRIPT} ${def.name}: --out '${options.out}': ${e instanceof Error ? e.message : String(e)}\n`,
    );
    return EXIT.usage;
  }
  if (options.onnx !== undefined) {
    const problem = await checkOnnxPath(options.onnx);
    if (problem !== null) {
      process.stderr.write(`${SCRIPT} ${def.name}: --onnx '${options.onnx}': ${problem}\n`);
      return EXIT.usage;
    }
  }
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const renderer = new ProgressRenderer(isInteractive());
  const started = performance.now();
  const worker = startWorker({ name: def.name, options, outDir, flag });
  let interrupts = 0;
  let timer: NodeJS.Timeout | undefined;

  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      Atomics.store(flag, 0, STOP.interrupt);
      renderer.line(
        def.server
          ? "Stopping the server."
          : "Interrupted: stopping after the current batch and writing what was gathered (Ctrl-C again to quit now).",
      );
    } else {
      renderer.close();
      process.stderr.write("Interrupted again: quitting without writing.\n");
      void worker.terminate().finally(() => process.exit(EXIT.interrupted));
    }
  };
  process.on("SIGINT", onSigint);
  if (options.timeLimit !== undefined) {
    timer = setTimeout(() => {
      if (Atomics.compareExchange(flag, 0, STOP.none, STOP.timeLimit) === STOP.none) {
        renderer.line(`Time limit of ${options.timeLimit} s reached: stopping after the current batch.`);
      }
    }, options.timeLimit * 1000);
    timer.unref();
  }

  try {
    const outcome = await new Promise<WorkerMessage & { kind: "result" | "error" }>(
      (resolveOutcome, reject) => {
        let done = false;
        worker.on("message", (m: WorkerMessage) => {
          if (m.kind === "progress") renderer.handle(m.event);
          else {
            done = true;
            resolveOutcome(m);
          }
        });
        worker.on("error", reject);
        worker.on("exit", (code) => {
          if (!done) reject(new Error(`the example's worker thread exited (code ${code}) without a result`));
        });
      },
    );
    renderer.close();
    // the run's memory goes with its thread; only then are the renderers loaded
    await worker.terminate();
    const chartFailure = await renderCharts(outDir, outcome.charts);
    if (outcome.kind === "error") {
      if (chartFailure) process.stderr.write(`${SCRIPT} ${def.name}: ${chartFailure}\n`);
      process.stderr.write(`${SCRIPT} ${def.name}: ${outcome.message}\n`);
      if (process.env.GRADGRAPH_DEBUG && outcome.stack) process.stderr.write(`${outcome.stack}\n`);
      if (options.json) console.log(toJson({ example: def.name, error: outcome.message }, 0));
      return EXIT.failed;
    }
    // Ctrl-C is how a server (the playground's) ends: not an interruption
    const interrupted = outcome.stopReason === "interrupt" && !def.server;
    const holds = outcome.training ? `the files hold the weights ${outcome.training.weights}` : null;
    const rel = (p: string) => p.replace(/\\/g, "/");
    const shown = options.out.replace(/\/?$/, "/");
    if (outcome.files.length) {
      console.log(`Wrote ${outcome.files.length} files to ${shown}: ${outcome.files.map(rel).join(", ")}`);
    }
    const m = Object.entries(outcome.metrics).filter(([, v]) => typeof v === "number");
    if (m.length) console.log(`Final: ${m.map(([k, v]) => `${k} ${formatNumber(v)}`).join(", ")}`);
    if (interrupted)
      console.log(`Stopped early by Ctrl-C: ${holds ?? "the files hold the epochs completed so far"}.`);
    if (outcome.stopReason === "time-limit")
      console.log(
        `Stopped early at the time limit: ${holds ?? "the files hold the epochs completed so far"}.`,
      );
    const failure = outcome.failure ?? chartFailure;
    if (failure) process.stderr.write(`${SCRIPT} ${def.name}: ${failure}\n`);
    if (options.json) {
      const summary = {
        example: def.name,
        preset: def.preset ?? null,
        hyper: outcome.hyper,
        metrics: outcome.metrics,
        seconds: Number(outcome.seconds.toFixed(3)),
        wallSeconds: Number(((performance.now() - started) / 1000).toFixed(3)),
        peakRssMiB: peakRssMiB(),
        stoppedEarly: outcome.stopReason,
        training: outcome.training,
        ...(failure ? { error: failure } : {}),
        ...(outcome.onnx ? { onnx: outcome.onnx } : {}),
        outDir: shown,
        files: outcome.files.map(rel),
      };
      console.log(toJson(summary, 0));
    }
    return failure ? EXIT.failed : interrupted ? EXIT.interrupted : EXIT.ok;
  } catch (e) {
    renderer.close();
    process.stderr.write(`${SCRIPT} ${def.name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.failed;
  } finally {
    if (timer) clearTimeout(timer);
    process.off("SIGINT", onSigint);
    await worker.terminate();
  }
}

function describeDefault(v: number | number[] | string): string {
  return Array.isArray(v) ? v.join(",") : String(v);
}

/** Builds the commander program; `run` is called with the chosen example and its parsed options. */
export function buildProgram(
  run: (def: ExampleDef, options: ExampleOptions) => Promise<void>,
  io: { writeOut?: (s: string) => void; writeErr?: (s: string) => void } = {},
): Command {
  const program = new Command(SCRIPT)
    .usage("<name> [options]")
    .description(
      "Runs a gradgraph example: one per tutorial preset, plus custom, scalar and gradcheck.\nOutputs (history.json, metrics.json, SVG and PNG plots) go to --out, default out/<name>/.",
    )
    .helpCommand(false)
    .configureHelp({ subcommandTerm: (cmd) => `${cmd.name()} [options]` })
    .showHelpAfterError(
      `(run '${SCRIPT} --help' for the examples, '${SCRIPT} <name> --help' for their options)`,
    )
    .exitOverride()
    .configureOutput({
      writeOut: io.writeOut ?? ((s) => process.stdout.write(s)),
      writeErr: io.writeErr ?? ((s) => process.stderr.write(s)),
    })
    .addHelpText(
      "after",
      `\nExamples:\n  ${SCRIPT} moons                       all hidden sizes + logistic regression (no download)\n  ${SCRIPT} moons --hidden 3 --json     one size, result as JSON on the last line\n  ${SCRIPT} nielsen --epochs 5          MNIST (set GRADGRAPH_DATA_DIR or --data-dir, else downloads)\n\nExit codes: 0 done, 1 failed, 2 usage error, 130 stopped by Ctrl-C (files still written).`,
    );

  for (const def of EXAMPLES) {
    const cmd = program.command(def.name).summary(def.summary).description(def.description);
    if (def.preset && def.preset !== def.name) cmd.alias(def.preset);
    for (const key of def.options) {
      const spec = { ...OPTION_SPECS[key], ...(def.overrides?.[key] ?? {}) };
      const opt = new Option(spec.flags, spec.description);
      if (spec.parse) opt.argParser(spec.parse);
      const d = def.defaults[key];
      if (d !== undefined) opt.default(d, def.defaultText?.[key] ?? describeDefault(d));
      cmd.addOption(opt);
    }
    cmd
      .addOption(new Option("--out <dir>", "output directory").default(`out/${def.name}`, `out/${def.name}/`))
      .addOption(
        new Option(
          "--json",
          "print one JSON object (preset, hyperparameters, metrics, seconds) as the last line",
        ),
      )
      .action(async (raw: Record<string, unknown>) => {
        const hidden = raw.hidden;
        const options = {
          ...raw,
          hidden: hidden === undefined ? undefined : Array.isArray(hidden) ? hidden : [hidden],
          json: raw.json === true,
        } as ExampleOptions;
        if (def.network) {
          const flags = def.overrides?.hidden?.flags ?? OPTION_SPECS.hidden.flags;
          const problem = checkHiddenSizes(def.name, flags, def.network, options);
          if (problem !== null)
            cmd.error(`error: ${problem}`, { exitCode: EXIT.usage, code: "gradgraph.size" });
        }
        await run(def, options);
      });
  }
  return program;
}

/** Parses `argv` (without node and script), runs the example, and resolves to the exit code. */
export async function main(
  argv: readonly string[],
  io: { writeOut?: (s: string) => void; writeErr?: (s: string) => void; run?: typeof runExample } = {},
): Promise<number> {
  let code: number = EXIT.ok;
  const run = io.run ?? runExample;
  const program = buildProgram(async (def, options) => {
    code = await run(def, options);
  }, io);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw e;
  }
  return code;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${SCRIPT}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
