// TypeDoc plugin: titles each entry-point module by the package export that serves it
// (`@gradgraph/core`, `@gradgraph/core/node`, `@gradgraph/autograd/testing`, ...) instead of its
// path (`core/src`, `autograd/src/testing`). The name comes from the package.json next to the entry
// file: its "name" plus the "exports" key whose "@gradgraph/source" condition is that file, so a new
// export is titled correctly without touching this file. An entry no export serves is an error.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { Converter, ReflectionKind } from "typedoc";

/** Finds the package.json that owns `file` and returns the export name serving it, if any. */
function exportNameOf(file) {
  let dir = dirname(file);
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  for (const [key, target] of Object.entries(pkg.exports ?? {})) {
    const source = typeof target === "object" && target !== null ? target["@gradgraph/source"] : undefined;
    if (typeof source === "string" && resolve(dir, source) === resolve(file)) {
      return key === "." ? pkg.name : `${pkg.name}/${key.replace(/^\.\//, "")}`;
    }
  }
  return undefined;
}

/** @param {import("typedoc").Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module) || reflection.parent !== context.project) return;
    const file = context.getSymbolFromReflection(reflection)?.declarations?.[0]?.getSourceFile().fileName;
    if (file === undefined) return;
    const name = exportNameOf(file);
    if (name === undefined) {
      app.logger.error(
        `typedoc-package-names: no package export serves entry point ${relative(process.cwd(), file)}`,
      );
      return;
    }
    reflection.name = name;
  });
}
