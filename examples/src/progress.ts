/**
 * Progress reporting, split in two halves joined by messages:
 *
 * - {@link Reporter} (in the training worker): examples call `log` for their tutorial-style lines and
 *   `start`/`tick`/`stop` around each epoch; ticks are throttled so a per-sample loop pays almost nothing.
 * - {@link ProgressRenderer} (in the main thread): on an interactive terminal it draws a cli-progress bar
 *   per epoch (batches, samples/s, running loss) and prints the lines above it; otherwise (not a TTY,
 *   or `CI` set) it prints the lines only, one per epoch.
 * @module
 */
import { MultiBar, type SingleBar } from "cli-progress";

/** A message from the worker to the renderer. */
export type ProgressEvent =
  | { readonly type: "line"; readonly text: string }
  | { readonly type: "start"; readonly label: string; readonly total: number; readonly unit: string }
  | { readonly type: "tick"; readonly value: number; readonly samples: number; readonly loss: number }
  | { readonly type: "stop" };

/** True when progress bars should be drawn: stdout is a terminal and `CI` is not set. */
export function isInteractive(stream: { isTTY?: boolean } = process.stdout): boolean {
  const ci = process.env.CI;
  return Boolean(stream.isTTY) && (ci === undefined || ci === "" || ci === "0" || ci === "false");
}

const clock: () => number = () => performance.now();

/**
 * The examples' side of progress reporting. Everything goes through `post` (a worker's
 * `parentPort.postMessage`, or a direct call in tests).
 */
export class Reporter {
  private lastTick = 0;
  private active = false;

  /**
   * @param post receives every event
   * @param tickIntervalMs minimum time between two forwarded ticks (default 100 ms)
   */
  constructor(
    private readonly post: (event: ProgressEvent) => void,
    private readonly tickIntervalMs = 100,
  ) {}

  /** Prints one line (above the bar on a terminal). */
  log(text: string): void {
    this.post({ type: "line", text });
  }

  /** Starts a bar of `total` units (batches, passes, iterations) labelled `label`. */
  start(label: string, total: number, unit = "batches"): void {
    if (this.active) this.stop();
    this.active = true;
    this.lastTick = clock();
    this.post({ type: "start", label, total, unit });
  }

  /**
   * Reports progress: `value` units done, `samples` samples seen in this bar, the running `loss`.
   * Cheap to call every batch: at most one event per tick interval is sent, unless `force` (use it
   * for the last batch of an epoch, so the bar ends full).
   */
  tick(value: number, samples: number, loss: number, force = false): void {
    if (!this.active) return;
    const t = clock();
    if (!force && t - this.lastTick < this.tickIntervalMs) return;
    this.lastTick = t;
    this.post({ type: "tick", value, samples, loss });
  }

  /** Ends the current bar. */
  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.post({ type: "stop" });
  }
}

/** Formats a rate such as `12,345`. */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return "-";
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3);
}

/** Formats a loss compactly (`0.0713`, `1.2e-5`). */
export function formatLoss(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : x.toFixed(4);
}

/** The main-thread half: renders {@link ProgressEvent}s on a terminal or as plain lines. */
export class ProgressRenderer {
  private multibar: MultiBar | null = null;
  private bar: SingleBar | null = null;
  private startedAt = 0;

  /**
   * @param interactive draw bars (see {@link isInteractive})
   * @param write prints one line (default: to stdout)
   */
  constructor(
    readonly interactive: boolean,
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  /** Handles one event. */
  handle(event: ProgressEvent): void {
    switch (event.type) {
      case "line":
        this.line(event.text);
        return;
      case "start":
        if (!this.interactive) return;
        this.end();
        this.startedAt = clock();
        this.multibar = new MultiBar({
          format:
            "{label} |{bar}| {value}/{total} {unit} | {speed} samples/s | loss {loss} | {duration_formatted}",
          stream: process.stdout,
          hideCursor: true,
          clearOnComplete: true,
          gracefulExit: false,
          barsize: 24,
          fps: 10,
        });
        this.bar = this.multibar.create(event.total, 0, {
          label: event.label,
          unit: event.unit,
          speed: "-",
          loss: "-",
        });
        return;
      case "tick": {
        if (!this.bar) return;
        const seconds = (clock() - this.startedAt) / 1000;
        this.bar.update(event.value, {
          speed: formatRate(seconds > 0 ? event.samples / seconds : Number.NaN),
          loss: formatLoss(event.loss),
        });
        return;
      }
      case "stop":
        this.end();
        return;
    }
  }

  /** Prints a line (above an active bar). */
  line(text: string): void {
    if (this.multibar) this.multibar.log(`${text}\n`);
    else this.write(text);
  }

  private end(): void {
    if (!this.multibar) return;
    this.multibar.update(); // flushes lines logged above the bar
    this.multibar.stop(); // clears the bar (clearOnComplete)
    this.multibar = null;
    this.bar = null;
  }

  /** Removes any bar and restores the cursor. */
  close(): void {
    this.end();
  }
}
