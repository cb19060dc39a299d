import * as YAML from "yaml";
// Prometheus' own grammar (its web UI's editor uses it) rather than a hand-written one. It follows
// the newest Prometheus: syntax an older server refuses (3.0's quoted names) still parses here, so
// promtool remains the check against a given server. The package is `type: module` but ships a
// CommonJS build under its `require` export, which ts-jest and ts-node load as it is.
import { parser } from "@prometheus-io/lezer-promql";

// Derived instead of imported: @lezer/common is only a peer of the parser, not a dependency of ours.
type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

/** An expression this module cannot answer for: a syntax error, or a selector Prometheus refuses. */
export class PromQLError extends Error {
  constructor(readonly expr: string, readonly problems: readonly string[]) {
    super(`${problems.join("; ")} in: ${expr}`);
    this.name = "PromQLError";
  }
}

/** A selector whose metric name is not one fixed string, so no list of names can stand for it. */
export interface UnnamedSelector {
  /** The selector as written, e.g. `{__name__=~"node_.+"}`. */
  readonly selector: string;
  readonly why: string;
}

export interface Selection {
  /** Every plain metric name selected, sorted, each once. */
  readonly names: string[];
  readonly unnamed: UnnamedSelector[];
}

const NAME_LABEL = "__name__";

/**
 * The metrics an expression selects: plain names (`foo`, `{__name__="foo"}`, `{"foo.bar"}`), and
 * apart from them the selectors that name no single metric (`{__name__=~"a|b"}`, `{job="x"}`).
 * Only syntax is checked (the grammar has no types): `rate(foo)` passes here and fails in Prometheus.
 * @throws PromQLError on a syntax error or a selector that sets its metric name twice.
 */
export function selectedMetrics(expr: string): Selection {
  const tree = parser.parse(expr);
  const text = (node: SyntaxNode) => expr.slice(node.from, node.to);
  const problems: string[] = [];
  const names = new Set<string>();
  const unnamed: UnnamedSelector[] = [];
  let syntaxError = false;
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) {
        // the parser recovers and flags what follows too: the first error is the one to fix
        if (!syntaxError) problems.push(syntaxProblem(expr, ref.from, ref.to));
        syntaxError = true;
        return;
      }
      if (ref.name === "FunctionIdentifier" && text(ref.node) === "info") {
        // info() joins in target_info (or what its second argument's __name__ matcher says) without naming it
        unnamed.push({ selector: text(ref.node.parent ?? ref.node), why: "info() also selects metrics it does not name" });
      }
      if (ref.name !== "VectorSelector") return;
      const selector = vectorSelector(ref.node, text);
      if ("problem" in selector) problems.push(selector.problem);
      else if ("name" in selector) names.add(selector.name);
      else unnamed.push({ selector: text(ref.node), why: selector.why });
    },
  });
  if (problems.length > 0) throw new PromQLError(expr, problems);
  return { names: [...names].sort(), unnamed };
}

/**
 * The metric names an expression selects, sorted, each once.
 * @throws PromQLError also when a selector names no single metric (a regex or negative `__name__`
 * matcher, or none at all): a list of names cannot stand for it, and leaving it out would make a
 * check of the names against an exporter's output pass without looking at it.
 */
export function metricNames(expr: string): string[] {
  const { names, unnamed } = selectedMetrics(expr);
  if (unnamed.length > 0) {
    throw new PromQLError(
      expr,
      unnamed.map((u) => `${u.selector}: ${u.why}, not a plain name`),
    );
  }
  return names;
}

type SelectorName = { name: string } | { why: string } | { problem: string };

function vectorSelector(node: SyntaxNode, text: (n: SyntaxNode) => string): SelectorName {
  // Names given by position: `foo{…}` and Prometheus 3's `{"foo.bar", …}`
  const positional: string[] = [];
  const identifier = node.getChild("Identifier");
  if (identifier) positional.push(text(identifier));
  const matchers: { label: string; op: string; value: string }[] = [];
  const list = node.getChild("LabelMatchers");
  for (let m = list?.firstChild ?? null; m; m = m.nextSibling) {
    if (m.name === "QuotedLabelName") {
      positional.push(unquote(text(m)));
    } else if (m.name === "UnquotedLabelMatcher" || m.name === "QuotedLabelMatcher") {
      const label = m.getChild("LabelName") ?? m.getChild("QuotedLabelName");
      const op = m.getChild("MatchOp");
      const value = m.getChild("StringLiteral");
      if (!label || !op || !value) continue; // an incomplete matcher holds an error node, reported already
      const name = label.name === "LabelName" ? text(label) : unquote(text(label));
      if (name === NAME_LABEL) matchers.push({ label: name, op: text(op), value: unquote(text(value)) });
    }
  }
  // Prometheus' parser refuses these ("metric name must not be set twice")
  if (positional.length > 1 || (positional.length === 1 && matchers.length > 0)) {
    return { problem: `${text(node)} sets its metric name twice` };
  }
  if (positional.length === 1) return { name: positional[0] };
  const equal = [...new Set(matchers.filter((m) => m.op === "=").map((m) => m.value))];
  if (equal.length > 1) return { problem: `${text(node)} names two metrics and selects nothing` };
  if (equal.length === 1 && equal[0] !== "") return { name: equal[0] };
  if (matchers.length === 0) return { why: "no metric name (it selects every metric its labels match)" };
  const ops = [...new Set(matchers.map((m) => m.op))].join(" and ");
  return { why: `its name matcher ${ops} selects a set of names` };
}

function syntaxProblem(expr: string, from: number, to: number): string {
  if (expr.trim() === "") return "empty expression";
  const near = expr.slice(from, Math.max(to, from + 12)).split("\n")[0];
  return near === "" ? `unexpected end at character ${from + 1}` : `syntax error at character ${from + 1} near ${JSON.stringify(near)}`;
}

const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", "'": "'", '"': '"' };

/** A PromQL string literal's value: Go's quoting rules (`"…"` and `'…'` with escapes, `` `…` `` raw). */
export function unquote(literal: string): string {
  const body = literal.slice(1, -1);
  if (literal.startsWith("`")) return body;
  // \x and octal escapes are bytes in Go; read as code points they agree for the ASCII of metric names
  return body.replace(/\\(?:([abfnrtv\\'"])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3}))/g, (_all, c, x, u, U, o) =>
    c !== undefined ? ESCAPES[c] : String.fromCodePoint(parseInt(x ?? u ?? U ?? o, o !== undefined ? 8 : 16)),
  );
}

export interface PanelExpression {
  readonly panel: string;
  readonly expr: string;
}

export interface RuleExpression {
  readonly rule: string;
  readonly expr: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const array = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** A panel of a Grafana dashboard and its place: `Row / Title` (or `panel <id>` for an untitled one). */
export interface DashboardPanel {
  readonly path: string;
  readonly panel: Record<string, unknown>;
}

/**
 * Every panel of a Grafana dashboard (the dashboard object, or an API export that wraps it in
 * `dashboard`), in order, rows included: panels inside a collapsed row (its `panels`) and the ones
 * an expanded row heads (those after it at top level) are named after their row.
 */
export function dashboardPanels(json: unknown): DashboardPanel[] {
  const dashboard = isObject(json) && isObject(json.dashboard) ? json.dashboard : json;
  if (!isObject(dashboard)) throw new Error("a Grafana dashboard is a JSON object");
  const found: DashboardPanel[] = [];
  const visit = (panel: unknown, row: string | undefined) => {
    if (!isObject(panel)) return;
    const title = typeof panel.title === "string" && panel.title !== "" ? panel.title : `panel ${String(panel.id ?? "?")}`;
    const path = row === undefined ? title : `${row} / ${title}`;
    found.push({ path, panel });
    for (const inner of array(panel.panels)) visit(inner, path);
  };
  let row: string | undefined;
  for (const panel of array(dashboard.panels)) {
    const isRow = isObject(panel) && panel.type === "row";
    visit(panel, isRow ? undefined : row);
    if (isRow) row = typeof panel.title === "string" ? panel.title : undefined;
  }
  return found;
}

/**
 * Every Prometheus query of a Grafana dashboard, in panel order, named `Row / Title [refId]`.
 * Targets of another datasource type (Loki also says `expr`) are left out. Expressions are as
 * written: Grafana's variables such as `$__rate_interval` are in them (see expandGrafanaVariables).
 */
export function dashboardExpressions(json: unknown): PanelExpression[] {
  const found: PanelExpression[] = [];
  for (const { path, panel } of dashboardPanels(json)) {
    for (const target of array(panel.targets)) {
      if (!isObject(target) || typeof target.expr !== "string" || target.expr.trim() === "") continue;
      const source = isObject(target.datasource) ? target.datasource : panel.datasource;
      if (isObject(source) && typeof source.type === "string" && source.type !== "prometheus") continue;
      const refId = typeof target.refId === "string" ? ` [${target.refId}]` : "";
      found.push({ panel: path + refId, expr: target.expr });
    }
  }
  return found;
}

/**
 * Grafana's built-in interval variables replaced by a duration of the same kind, so that a panel's
 * query parses as the PromQL Prometheus receives. Dashboard variables (`$node`) are left: inside a
 * label value they parse as they are, elsewhere the parse error names them.
 */
export function expandGrafanaVariables(expr: string): string {
  const values: Record<string, string> = {
    __rate_interval: "1m",
    __interval: "15s",
    __interval_ms: "15000",
    __range: "1h",
    __range_s: "3600",
    __range_ms: "3600000",
  };
  return expr.replace(/\$(?:\{(\w+)\}|(\w+))/g, (all, braced, bare) => values[braced ?? bare] ?? all);
}

/**
 * Every rule's expression of a Prometheus rules file (`groups: [{name, rules: [{alert|record, expr}]}]`).
 * @throws Error naming the place when the YAML or the file's shape is wrong.
 */
export function ruleExpressions(yamlText: string): RuleExpression[] {
  const doc = YAML.parseDocument(yamlText, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) throw new Error(`rules file: ${doc.errors[0].message}`);
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return [];
  if (!isObject(root) || !Array.isArray(root.groups)) throw new Error("rules file: expected a map with a list `groups`");
  const found: RuleExpression[] = [];
  root.groups.forEach((group, g) => {
    if (!isObject(group) || typeof group.name !== "string") throw new Error(`rules file: groups[${g}] needs a name`);
    array(group.rules).forEach((rule, r) => {
      const at = `groups[${g}].rules[${r}]`;
      if (!isObject(rule)) throw new Error(`rules file: ${at} is not a map`);
      const name = rule.alert ?? rule.record;
      if (typeof name !== "string") throw new Error(`rules file: ${at} has neither alert: nor record:`);
      // YAML reads `expr: 1` as a number; Prometheus takes it as the expression "1"
      if (typeof rule.expr !== "string" && typeof rule.expr !== "number") throw new Error(`rules file: ${at} (${name}) has no expr:`);
      found.push({ rule: `${group.name} / ${name}`, expr: String(rule.expr) });
    });
  });
  return found;
}
