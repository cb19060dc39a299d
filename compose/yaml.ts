import * as YAML from "yaml";
import type { ScalarTag } from "yaml";

/**
 * YAML as `docker stack deploy` reads it. Docker's loader (yaml.v2 in the 20.10 CLI of Debian and
 * the lab, yaml.v3 later) reads `0440` as octal (288), the way compose files write secret modes;
 * YAML 1.2's core schema would read 440, and a round trip through it would deploy mode 0670.
 */
const legacyOctal: ScalarTag = {
  identify: () => false, // only for reading; numbers are written in decimal, which every reader agrees on
  default: true,
  tag: "tag:yaml.org,2002:int",
  format: "OCT",
  test: /^0[0-7]+$/,
  resolve: (text: string) => parseInt(text, 8),
};

const PARSE_OPTIONS = {
  // merge keys (`<<: *defaults`) are common in compose files and resolved by Docker's loader
  merge: true,
  uniqueKeys: true,
  prettyErrors: true,
  customTags: (tags: YAML.Tags) => [legacyOctal, ...tags],
} as const;

/** A parse problem, one line: where and what (never the file's text around it). */
export interface YamlProblem {
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/** Parses compose YAML to plain JS, or returns every syntax problem found. */
export function parseComposeYaml(text: string): { value: unknown } | { problems: YamlProblem[] } {
  const doc = YAML.parseDocument(text, PARSE_OPTIONS);
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
        // prettyErrors appends " at line L, column C:" and a code frame of the file: keep neither
        message: e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, ""),
      })),
    };
  }
  try {
    return { value: doc.toJS({ maxAliasCount: 1000 }) };
  } catch (e) {
    // e.g. an alias bomb (more alias expansions than maxAliasCount)
    return { problems: [{ message: e instanceof Error ? e.message.split("\n")[0] : String(e) }] };
  }
}

/**
 * Writes compose YAML deterministically: keys in the order given, no line folding, and strings
 * quoted wherever a YAML 1.1 reader (Docker 20.10's yaml.v2) would take them for something else
 * (`on`, `y`, `0440`, `1_000`), so what is deployed means what the file said.
 */
export function stringifyCompose(value: unknown): string {
  return YAML.stringify(value, { version: "1.1", lineWidth: 0, indent: 2, indentSeq: true, sortMapEntries: false });
}
