import * as fs from "fs";
import * as path from "path";
import { PromQLError, dashboardExpressions, expandGrafanaVariables, metricNames } from "./promql";

/** The monitoring stack's Grafana provisioning: datasources.yml, dashboards.yml and the dashboards (*.json). */
export const GRAFANA_DIR = path.join(__dirname, "..", "stacks", "monitoring", "grafana");

export interface DashboardFile {
  /** The file's name in the folder, e.g. `cluster.json`. */
  readonly file: string;
  readonly json: unknown;
}

/** Every dashboard of the folder, by file name: the provider in dashboards.yml loads each *.json. */
export function loadDashboards(dir: string = GRAFANA_DIR): DashboardFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), "utf8");
      try {
        return { file, json: JSON.parse(text) as unknown };
      } catch (e) {
        throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
}

/**
 * The metric names the provisioned dashboards query, sorted, each once: for comparing with what
 * the exporters really export, since a misspelt or renamed metric leaves a panel empty without
 * any error. Grafana's interval variables are replaced before parsing (expandGrafanaVariables).
 * @throws PromQLError naming the file and panel of a query that does not parse or names no single
 * metric (a regex `__name__`): a list of names could not stand for it.
 */
export function dashboardMetricNames(dir: string = GRAFANA_DIR): string[] {
  const names = new Set<string>();
  for (const { file, json } of loadDashboards(dir)) {
    for (const { panel, expr } of dashboardExpressions(json)) {
      try {
        for (const name of metricNames(expandGrafanaVariables(expr))) names.add(name);
      } catch (e) {
        if (e instanceof PromQLError) throw new PromQLError(expr, [`${file}: ${panel}: ${e.problems.join("; ")}`]);
        throw e;
      }
    }
  }
  return [...names].sort();
}
