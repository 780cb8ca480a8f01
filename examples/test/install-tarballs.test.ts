/**
 * The packages as users get them: `pnpm build`, `pnpm pack` each publishable package, `npm install`
 * the tarballs into a fresh project outside the workspace, then
 * - run a script with plain `node` (no tsx, no `@gradgraph/source` condition): a graph and its
 *   gradient, make_moons trained with `fit`, exported to ONNX and read back, the `/node` entries;
 * - type-check a user file against the installed `.d.ts` (strict, NodeNext, skipLibCheck off);
 * - bundle the browser entries with esbuild (platform=browser): nothing from `node:*`, no `/node`
 *   entry, and the bundle runs.
 * Nothing is cached between runs: `dist/` is deleted and rebuilt, the project and tarballs are
 * made afresh in the OS temp dir. npm needs the registry for the third-party dependencies (immer,
 * fflate, fast-check, @bufbuild/protobuf); `--prefer-offline` uses npm's cache when it has them.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const fixtures = join(here, "install");
/** The publishable packages, in dependency order. */
const PACKAGES = ["core", "autograd", "datasets", "models", "onnx"] as const;
/** Per test; the set-up (build, pack, install) gets twice as long: tsc is slow on a loaded machine. */
const TIMEOUT = 300_000;

/** The environment of the child processes: no NODE_OPTIONS (vitest's or the user's conditions). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** Runs `cmd` in `cwd`; on failure the error carries the command, its stdout and stderr. */
async function sh(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: cleanEnv(), maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `'${cmd} ${args.join(" ")}' failed in ${cwd}:\n${err.stdout ?? ""}\n${err.stderr ?? err.message}`,
    );
  }
}

/**
 * Runs pnpm: the one running this test when it was started through pnpm (`pnpm test`, also under
 * `npx pnpm@10`, whose pnpm may not be on the PATH), else `pnpm` from the PATH.
 */
function pnpm(args: readonly string[], cwd: string): Promise<string> {
  const own = process.env.npm_execpath;
  return own && /pnpm/.test(own) && /\.c?js$/.test(own)
    ? sh(process.execPath, [own, ...args], cwd)
    : sh("pnpm", args, cwd);
}

const timings: Record<string, number> = {};
async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[label] = Math.round(performance.now() - t0) / 1000;
  }
}

let work = "";
let tarballs = "";
let project = "";

describe("the packed packages installed with npm outside the workspace", () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "gradgraph-install-"));
    tarballs = join(work, "tarballs");
    project = join(work, "project");
    await mkdir(tarballs);
    await mkdir(project);
    await timed("build", async () => {
      for (const p of PACKAGES) await rm(join(root, "packages", p, "dist"), { recursive: true, force: true });
      await pnpm(["-r", "--filter", "./packages/*", "build"], root);
    });
    await timed("pack", () =>
      pnpm(["-r", "--filter", "./packages/*", "pack", "--pack-destination", tarballs], root),
    );
    await timed("npm install", async () => {
      await writeFile(
        join(project, "package.json"),
        JSON.stringify({ name: "gradgraph-user", private: true, type: "module" }, null, 2),
      );
      const files = PACKAGES.map((p) => join(tarballs, `gradgraph-${p}-0.1.0.tgz`));
      await sh(
        "npm",
        [
          "install",
          "--no-audit",
          "--no-fund",
          "--no-package-lock",
          "--prefer-offline",
          "--loglevel=error",
          ...files,
        ],
        project,
      );
    });
    for (const f of ["train.mjs", "user.ts", "browser.mjs"])
      await copyFile(join(fixtures, f), join(project, f));
  }, 2 * TIMEOUT);

  afterAll(async () => {
    console.log(`install-tarballs timings (s): ${JSON.stringify(timings)}`);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("packs versioned manifests whose exports all exist, with no workspace: ranges", async () => {
    const versions = new Map<string, string>();
    for (const p of PACKAGES) {
      const dir = join(project, "node_modules", "@gradgraph", p);
      const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
      versions.set(manifest.name, manifest.version);
      expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(manifest.license).toBe("MIT");
      expect(manifest.repository?.directory).toBe(`packages/${p}`);
      expect(existsSync(join(dir, "LICENSE")), `${manifest.name} LICENSE`).toBe(true);
      for (const [name, range] of Object.entries<string>(manifest.dependencies ?? {}))
        expect(range, `${manifest.name} depends on ${name}@${range}`).not.toMatch(/^workspace:/);
      for (const [sub, conditions] of Object.entries<Record<string, string>>(manifest.exports)) {
        for (const key of ["types", "default"])
          expect(existsSync(join(dir, conditions[key]!)), `${manifest.name} exports['${sub}'].${key}`).toBe(
            true,
          );
      }
      const dist = await readdir(join(dir, "dist"), { recursive: true });
      expect(dist.filter((f) => /\.test\.|tsbuildinfo/.test(f))).toEqual([]);
    }
    for (const p of PACKAGES) {
      const manifest = JSON.parse(
        await readFile(join(project, "node_modules", "@gradgraph", p, "package.json"), "utf8"),
      );
      for (const [name, range] of Object.entries<string>(manifest.dependencies ?? {}))
        if (versions.has(name)) expect(range).toBe(versions.get(name));
    }
    // devDependencies stay out of a user's install
    expect(existsSync(join(project, "node_modules", "onnxruntime-node"))).toBe(false);
  });

  it(
    "runs with plain node: a gradient, make_moons trained with fit, exported to ONNX and read back",
    async () => {
      const out = await timed("node", () => sh(process.execPath, ["train.mjs"], project));
      const r = JSON.parse(out.trim().split("\n").at(-1)!);
      expect(r.gradW).toEqual({ shape: [4, 3], finite: true });
      expect(r.epochs).toBe(20);
      expect(r.lossAfter).toBeLessThan(r.lossBefore / 2);
      expect(r.accuracyAfter).toBeGreaterThanOrEqual(0.95);
      expect(r.onnxOutputs).toEqual(["predictions"]);
      expect(r.fileBytes).toBe(r.onnxBytes);
      expect(r.loadedInputs).toEqual(["x"]);
      expect(r.maxDiff).toBeLessThan(1e-6);
      expect(r).toMatchObject({ workers: 1, threads: 1, sameBits: true });
    },
    TIMEOUT,
  );

  it.runIf(process.features.require_module)(
    "loads with require() too (CommonJS callers on Node versions that require ES modules)",
    async () => {
      const script =
        'const { GraphBuilder } = require("@gradgraph/core"); const { fit } = require("@gradgraph/models"); console.log(typeof GraphBuilder, typeof fit);';
      await writeFile(join(project, "require.cjs"), script);
      const out = await sh(process.execPath, ["--no-warnings", "require.cjs"], project);
      expect(out.trim()).toBe("function function");
    },
    TIMEOUT,
  );

  it(
    "runs the README's install snippet with plain node",
    async () => {
      const readme = await readFile(join(root, "README.md"), "utf8");
      const section = readme.slice(readme.indexOf("## Install from npm"));
      const snippet = /```js\n([\s\S]*?)```/.exec(section)?.[1];
      expect(snippet, "README.md: a js block in the 'Install from npm' section").toBeDefined();
      expect(snippet).not.toMatch(/@gradgraph\/(datasets|onnx)/); // only the packages its npm install names
      await writeFile(join(project, "readme.mjs"), snippet!);
      const out = await timed("readme", () => sh(process.execPath, ["readme.mjs"], project));
      const lines = out.trim().split("\n");
      expect(lines).toHaveLength(2);
      const [loss, accuracy] = lines[1]!.split(" ").map(Number);
      expect(loss).toBeLessThan(0.1);
      expect(accuracy).toBe(1);
    },
    TIMEOUT,
  );

  it(
    "type-checks a user file against the installed .d.ts (strict, NodeNext, skipLibCheck off)",
    async () => {
      const tsconfig = {
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          typeRoots: [join(root, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["user.ts"],
      };
      await writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
      const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
      // user.ts also holds a @ts-expect-error: were the types `any`, its unused directive would fail this
      await timed("tsc", () => sh(process.execPath, [tsc, "-p", "tsconfig.json"], project));
    },
    TIMEOUT,
  );

  it(
    "bundles the browser entries with esbuild (platform=browser) without node: modules, and the bundle runs",
    async () => {
      const outfile = join(project, "bundle.js");
      const result = await timed("esbuild", () =>
        build({
          entryPoints: [join(project, "browser.mjs")],
          absWorkingDir: project,
          bundle: true,
          platform: "browser",
          format: "esm",
          outfile,
          metafile: true,
          logLevel: "silent",
        }),
      );
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.filter((f) => f.startsWith("node:") || /\/dist\/node(\.js|\/)/.test(f))).toEqual([]);
      expect(inputs.some((f) => f.includes("@gradgraph/core/dist/index.js"))).toBe(true);
      for (const output of Object.values(result.metafile.outputs)) expect(output.imports).toEqual([]);
      const code = await readFile(outfile, "utf8");
      expect(code).not.toMatch(/\bfrom\s*["']node:|\bimport\(\s*["']node:/);
      const out = await timed("bundle run", () => sh(process.execPath, [outfile], project));
      const r = JSON.parse(out.trim());
      expect(r.gradShape).toEqual([2, 1]);
      expect(r.losses).toHaveLength(5);
      expect(r.losses.at(-1)).toBeLessThan(r.losses[0]);
      expect(r.onnxBytes).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});
