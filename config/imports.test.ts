import * as fs from "fs";
import * as path from "path";

// The renderers build on the validated config, so an import the other way round would make a cycle
// and tie validation to one output format.
const CONFIG_DIR = __dirname;
const IGNITION_DIR = path.resolve(CONFIG_DIR, "..", "ignition");

/** Relative module specifiers of every import, export-from, require() and import() in a source. */
function relativeSpecifiers(source: string): string[] {
  const pattern = /(?:\bfrom\s*|\brequire\s*\(\s*|\bimport\s*\(\s*|^\s*import\s*)["'](\.{1,2}\/[^"']*|\.{1,2})["']/gm;
  return [...source.matchAll(pattern)].map((m) => m[1]);
}

function isInside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

test("the specifier scan sees every form of import", () => {
  const source = [
    'import { PATHS } from "../ignition/paths";',
    'export { x } from "../ignition";',
    'import "../ignition/side-effect";',
    'const a = require("../ignition/a");',
    'const b = import("./../ignition/b");',
    'import * as fs from "fs";',
  ].join("\n");
  expect(relativeSpecifiers(source)).toEqual(["../ignition/paths", "../ignition", "../ignition/side-effect", "../ignition/a", "./../ignition/b"]);
});

test("no file in config/ imports from ignition/", () => {
  // This file names ignition/ in its own samples above.
  const files = fs
    .readdirSync(CONFIG_DIR, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && path.join(CONFIG_DIR, f) !== __filename);
  expect(files.length).toBeGreaterThan(5);
  const offending = files.flatMap((file) => {
    const full = path.join(CONFIG_DIR, file);
    return relativeSpecifiers(fs.readFileSync(full, "utf8"))
      .filter((spec) => isInside(IGNITION_DIR, path.resolve(path.dirname(full), spec)))
      .map((spec) => `config/${file} imports "${spec}"`);
  });
  expect(offending).toEqual([]);
});
