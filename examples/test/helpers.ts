/**
 * Helpers of the examples' tests: run the CLI in a child process as `pnpm example` does, and
 * inspect the SVG and PNG files it writes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect } from "vitest";

/** The repository root (the `example` script runs from there). */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The shared data sets, as the repository's tests read them. */
export const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? join(ROOT, "..", "shared", "datasets");

/** Arguments of `pnpm example` before the example's own. */
export const CLI = ["--conditions=@gradgraph/source", "--import", "tsx", join(ROOT, "examples/src/cli.ts")];

const created: string[] = [];
afterAll(() => {
  if (process.env.GRADGRAPH_KEEP_TEST_OUTPUT) return;
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary output directory, removed after the test file (unless GRADGRAPH_KEEP_TEST_OUTPUT is set). */
export function tempOut(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `gradgraph-${prefix}-`));
  created.push(dir);
  return dir;
}

/** What a CLI run produced. */
export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the CLI with `args` (cwd the repository root, `CI=true`, the shared data directory). */
export function startCli(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: "true", GRADGRAPH_DATA_DIR: DATA_DIR, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * Runs the CLI to the end. `onStdout` sees the output so far after every chunk (e.g. to send
 * SIGINT once a line appears).
 */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; onStdout?: (soFar: string, child: ChildProcess) => void } = {},
): Promise<CliRun> {
  const child = startCli(args, options.env);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
    options.onStdout?.(stdout, child);
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Runs the CLI to the end, sending SIGINT (Ctrl-C) once, as soon as its output so far contains
 * `when` (a string) or matches it (a RegExp). `sent` says whether the signal was sent.
 */
export async function runCliInterrupted(
  args: readonly string[],
  when: string | RegExp,
): Promise<CliRun & { sent: boolean }> {
  let sent = false;
  const r = await runCli(args, {
    onStdout: (soFar, child) => {
      if (!sent && (typeof when === "string" ? soFar.includes(when) : when.test(soFar))) {
        sent = true;
        child.kill("SIGINT");
      }
    },
  });
  return { ...r, sent };
}

/** The last non-empty line of `text`, parsed as JSON. */
export function lastJson(text: string): Record<string, unknown> {
  const lines = text.trim().split("\n");
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

/** Counts occurrences of `needle` in `text`. */
export function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** Marks in a vega SVG, by their ARIA role description ("line mark", "rect mark", "text mark", "circle", "point"). */
export function marks(svg: string, role: string): number {
  return count(svg, `aria-roledescription="${role}"`);
}

/** Reads an SVG file and checks it is one: an `<svg>` root with a size and a closing tag. */
export function readSvg(path: string): string {
  expect(existsSync(path), `${path} exists`).toBe(true);
  const svg = readFileSync(path, "utf8");
  expect(svg.startsWith("<svg")).toBe(true);
  expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  expect(svg).toMatch(/<svg[^>]* width="\d+(\.\d+)?" height="\d+(\.\d+)?"/);
  return svg;
}

/** The SVG's declared size. */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg[^>]* width="([\d.]+)" height="([\d.]+)"/.exec(svg)!;
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Reads a PNG file, checks the signature and the IHDR chunk, and returns its size. */
export function readPng(path: string): { width: number; height: number } {
  expect(existsSync(path), `${path} exists`).toBe(true);
  const b = readFileSync(path);
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(b.toString("latin1", 12, 16)).toBe("IHDR");
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  expect(width).toBeGreaterThan(100);
  expect(height).toBeGreaterThan(100);
  expect(width).toBeLessThan(10_000);
  expect(height).toBeLessThan(10_000);
  expect(b.toString("latin1", b.length - 8, b.length - 4)).toBe("IEND");
  return { width, height };
}

/** Checks `<dir>/<name>.svg` and `.png` (the PNG is the SVG at twice the size) and returns the SVG text. */
export function checkChart(dir: string, name: string): string {
  const svg = readSvg(join(dir, `${name}.svg`));
  const png = readPng(join(dir, `${name}.png`));
  const size = svgSize(svg);
  expect(Math.abs(png.width - 2 * size.width)).toBeLessThanOrEqual(2);
  expect(Math.abs(png.height - 2 * size.height)).toBeLessThanOrEqual(2);
  return svg;
}

/** Reads a JSON file. */
export function readJson(path: string): Record<string, unknown> {
  expect(existsSync(path), `${path} exists`).toBe(true);
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}
