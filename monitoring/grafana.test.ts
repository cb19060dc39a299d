import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { GRAFANA_DIR, dashboardMetricNames, loadDashboards } from "./grafana";
import { dashboardExpressions, dashboardPanels, expandGrafanaVariables, metricNames } from "./promql";

type Json = Record<string, unknown>;

const readYaml = (file: string): Json => YAML.parse(fs.readFileSync(path.join(GRAFANA_DIR, file), "utf8"), { uniqueKeys: true }) as Json;

const datasources = readYaml("datasources.yml");
const providers = readYaml("dashboards.yml");
const dashboards = loadDashboards();
const provisioned = (datasources.datasources as Json[])[0];

describe("datasources.yml", () => {
  it("provisions the stack's Prometheus as the one default datasource, uid prometheus, through Grafana's server", () => {
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    expect(provisioned).toMatchObject({
      type: "prometheus",
      uid: "prometheus",
      access: "proxy",
      url: "http://prometheus:9090",
      isDefault: true,
      editable: false,
    });
  });

  // prometheus.yml is the stack author's; until it is in the tree there is nothing to compare with
  const prometheusYml = path.join(GRAFANA_DIR, "..", "prometheus.yml");
  (fs.existsSync(prometheusYml) ? it : it.skip)("tells Grafana Prometheus' scrape interval, which $__rate_interval is built on", () => {
    const prometheus = YAML.parse(fs.readFileSync(prometheusYml, "utf8")) as { global?: { scrape_interval?: string } };
    // Prometheus' default when global says none
    expect((provisioned.jsonData as Json).timeInterval).toBe(prometheus.global?.scrape_interval ?? "1m");
  });
});

describe("dashboards.yml", () => {
  it("loads every dashboard file from /etc/grafana/dashboards into the folder Homelab, with UI edits refused", () => {
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers).toEqual([
      expect.objectContaining({
        type: "file",
        folder: "Homelab",
        allowUiUpdates: false,
        options: expect.objectContaining({ path: "/etc/grafana/dashboards" }),
      }),
    ]);
  });
});

describe("dashboards", () => {
  it("are the expected files", () => {
    expect(dashboards.map((d) => d.file)).toEqual(["cluster.json", "jit.json"]);
  });

  it("each has its own uid (at most Grafana's 40 characters) and title, and a schema version", () => {
    const fields = dashboards.map(({ json }) => json as Json);
    for (const d of fields) {
      expect(d.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
      expect(typeof d.title).toBe("string");
      expect(typeof d.schemaVersion).toBe("number");
      // provisioning matches dashboards by uid; an id from an export would point at another database's row
      expect(d.id ?? null).toBeNull();
    }
    expect(new Set(fields.map((d) => d.uid)).size).toBe(fields.length);
    expect(new Set(fields.map((d) => d.title)).size).toBe(fields.length);
  });

  it("cluster.json is the Homelab cluster dashboard", () => {
    const cluster = dashboards.find((d) => d.file === "cluster.json")?.json as Json;
    expect(cluster).toMatchObject({ uid: "homelab-cluster", title: "Homelab cluster", schemaVersion: 39, editable: false });
  });

  it("jit.json is the Just-in-time services dashboard", () => {
    const jit = dashboards.find((d) => d.file === "jit.json")?.json as Json;
    expect(jit).toMatchObject({ uid: "homelab-jit", title: "Just-in-time services", schemaVersion: 39, editable: false });
  });

  it("each dashboard file is a config of the monitoring stack, mounted where dashboards.yml's provider reads", () => {
    const compose = YAML.parse(fs.readFileSync(path.join(GRAFANA_DIR, "..", "compose.yml"), "utf8")) as {
      services: { grafana: { configs: { source: string; target: string }[] } };
      configs: Record<string, { file?: string }>;
    };
    const dir = ((providers.providers as Json[])[0].options as Json).path as string;
    const mounted = compose.services.grafana.configs
      .filter((c) => path.posix.dirname(c.target) === dir)
      .map((c) => [path.posix.basename(c.target), compose.configs[c.source]?.file]);
    expect(mounted).toEqual(dashboards.map((d) => [d.file, `./grafana/${d.file}`]));
  });

  describe.each(dashboards.map((d) => [d.file, d.json] as const))("%s", (_file, json) => {
    const panels = dashboardPanels(json);

    it("has unique panel ids", () => {
      const ids = panels.map((p) => p.panel.id);
      expect(ids.every((id) => typeof id === "number")).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it("queries only the provisioned datasource, on every panel and target, nested ones too", () => {
      const want = { type: "prometheus", uid: provisioned.uid };
      for (const { path: where, panel } of panels) {
        const targets = (panel.targets ?? []) as Json[];
        if (panel.type === "row" || panel.type === "text") {
          // these query nothing; a target here would silently go to whatever datasource is default
          expect({ where, targets }).toEqual({ where, targets: [] });
          continue;
        }
        expect({ where, datasource: panel.datasource }).toEqual({ where, datasource: want });
        expect(targets.length).toBeGreaterThan(0);
        for (const t of targets) expect({ where, datasource: t.datasource }).toEqual({ where, datasource: want });
      }
    });

    it("has no two panels on the same grid cells", () => {
      const taken = new Map<string, string>();
      for (const { path: where, panel } of panels) {
        const { x, y, w, h } = panel.gridPos as { x: number; y: number; w: number; h: number };
        expect(x + w).toBeLessThanOrEqual(24);
        for (let i = x; i < x + w; i++) {
          for (let j = y; j < y + h; j++) {
            expect({ cell: [i, j], by: taken.get(`${i},${j}`) ?? where }).toEqual({ cell: [i, j], by: where });
            taken.set(`${i},${j}`, where);
          }
        }
      }
    });

    it("takes every range of rate() and the like from $__rate_interval, or from $__range in an instant query", () => {
      // $__range in an instant query counts over the dashboard's time range (a total per service);
      // in a range query it would be a window as wide as the whole graph at every point.
      for (const { path: where, panel } of panels) {
        for (const t of (panel.targets ?? []) as Json[]) {
          if (typeof t.expr !== "string") continue;
          // a string literal may hold brackets (a regex); subqueries ([1h:5m]) are another matter
          const ranges = [...t.expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]).filter((r) => !r.includes(":"));
          const allowed = t.instant === true && t.range !== true ? ["$__rate_interval", "$__range"] : ["$__rate_interval"];
          const wrong = ranges.filter((r) => !allowed.includes(r));
          expect({ where, refId: t.refId, wrong }).toEqual({ where, refId: t.refId, wrong: [] });
        }
      }
    });
  });

  it("cluster.json ends with the Just-in-time services row, linking to that dashboard by its uid", () => {
    const panels = dashboardPanels(dashboards.find((d) => d.file === "cluster.json")?.json);
    const row = panels.findIndex((p) => p.panel.type === "row" && p.panel.title === "Just-in-time services");
    expect(row).toBeGreaterThan(0);
    const rest = panels.slice(row + 1);
    expect(rest.map((p) => [p.path, p.panel.type])).toEqual([["Just-in-time services / Their dashboard", "text"]]);
    const jitUid = (dashboards.find((d) => d.file === "jit.json")?.json as Json).uid;
    expect((rest[0].panel.options as Json).content).toContain(`](/d/${jitUid})`);
  });

  it("cluster.json's Backups row groups and names every per-volume series by volume alone", () => {
    const perVolume = ["backup_last_success_timestamp_seconds", "backup_runs_total", "backup_duration_seconds", "backup_bytes_added"];
    const backups = dashboardPanels(dashboards.find((d) => d.file === "cluster.json")?.json).filter((p) => p.path.startsWith("Backups / "));
    expect(backups.length).toBeGreaterThan(0);
    for (const { path: where, panel } of backups) {
      for (const t of (panel.targets ?? []) as Json[]) {
        const expr = t.expr as string;
        if (!metricNames(expandGrafanaVariables(expr)).some((n) => perVolume.includes(n))) continue;
        // by volume, not by instance or node: an agent rescheduled to another manager continues the same line
        const groupings = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].map((m) => m[1].split(",").map((l) => l.trim()));
        expect({ where, expr, groupings }).toEqual({ where, expr, groupings: [expect.arrayContaining(["volume"])] });
        expect({ where, expr, labels: groupings[0] }).toEqual({ where, expr, labels: expect.not.arrayContaining(["instance", "node", "exported_node"]) });
        expect({ where, legend: t.legendFormat }).toEqual({ where, legend: expect.stringContaining("{{volume}}") });
      }
    }
  });

  it("cluster.json's queries", () => {
    expect(dashboardExpressions(dashboards.find((d) => d.file === "cluster.json")?.json)).toEqual([
      { panel: "Nodes / Nodes up [A]", expr: 'sum(up{job="docker-engine"})' },
      { panel: "Nodes / Nodes up [B]", expr: 'count(up{job="docker-engine"} == 0) or vector(0)' },
      { panel: "Nodes / CPU used per node [A]", expr: '1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))' },
      { panel: "Nodes / Memory used per node [A]", expr: "max by (node) (node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes)" },
      { panel: "Nodes / Temperature per node [A]", expr: "max by (node) (node_thermal_zone_temp)" },
      {
        // node-exporter 1.5 reports a mount point with its --path.rootfs prefix stripped (rootfsStripPrefix)
        panel: "Nodes / Root disk used per node [A]",
        expr: 'max by (node) (1 - node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"})',
      },
      { panel: "Nodes / Running containers per node [A]", expr: 'count by (node) (up{job="swarm-tasks", state="running"})' },
      {
        panel: "Services / Task failures per service (15 min) [A]",
        expr: 'count by (service) (up{job="swarm-tasks", state=~"failed|rejected"} unless up{job="swarm-tasks", state=~"failed|rejected"} offset 15m)',
      },
      {
        panel: "Services / Memory per service [A]",
        expr: 'sum by (container_label_com_docker_swarm_service_name) (container_memory_working_set_bytes{container_label_com_docker_swarm_service_name!=""})',
      },
      // the backup agent's series, per volume (the scrape's node is the agent's, exported_node the volume's)
      { panel: "Backups / Age of the last good snapshot per volume [A]", expr: "time() - max by (volume) (backup_last_success_timestamp_seconds > 0)" },
      { panel: "Backups / Age of the last good snapshot per volume [B]", expr: "max(backup_max_age_seconds)" },
      { panel: "Backups / Volumes without a good snapshot [A]", expr: "max by (volume) (backup_last_success_timestamp_seconds) == 0" },
      { panel: "Backups / Backup running [A]", expr: "max(backup_running)" },
      { panel: "Backups / Runs per volume, by result [A]", expr: "sum by (volume, result) (increase(backup_runs_total[$__range]))" },
      { panel: "Backups / Last backup's duration per volume [A]", expr: "max by (volume) (backup_duration_seconds)" },
      { panel: "Backups / Data added by the last good backup per volume [A]", expr: "max by (volume) (backup_bytes_added)" },
    ]);
  });
});

describe("jit.json", () => {
  const jit = dashboards.find((d) => d.file === "jit.json")?.json;

  it("queries the JIT helper's metrics, per service by exported_service (the tasks job's own service label is the helper's Swarm service)", () => {
    expect(dashboardExpressions(jit)).toEqual([
      { panel: "Now / Services awake [A]", expr: "sum(jit_services_awake)" },
      { panel: "Now / Open connections per service [A]", expr: "sum by (exported_service) (jit_open_connections)" },
      { panel: "Now / Requests held per service [A]", expr: "sum by (exported_service) (jit_requests_held)" },
      { panel: "Over the time range / Wakes per service [A]", expr: "sum by (exported_service) (increase(jit_wakes_total[$__range]))" },
      {
        // `> 0` drops the NaN of a service that did not wake in the range (all its buckets 0)
        panel: "Over the time range / Cold start per service (p50, p95) [A]",
        expr: "histogram_quantile(0.5, sum by (exported_service, le) (rate(jit_cold_start_seconds_bucket[$__range]))) > 0",
      },
      {
        panel: "Over the time range / Cold start per service (p50, p95) [B]",
        expr: "histogram_quantile(0.95, sum by (exported_service, le) (rate(jit_cold_start_seconds_bucket[$__range]))) > 0",
      },
      { panel: "Over the time range / Requests that waited per service [A]", expr: "sum by (exported_service) (increase(jit_requests_held_total[$__range]))" },
      { panel: "Over the time range / Wake failures per service [A]", expr: "sum by (exported_service) (increase(jit_wake_failures_total[$__range]))" },
      { panel: "Over the time range / Stops per service, by reason [A]", expr: "sum by (exported_service, reason) (increase(jit_stops_total[$__range]))" },
      { panel: "Over the time range / Evictions per service [A]", expr: "sum by (exported_service) (increase(jit_evictions_total[$__range]))" },
      // Prometheus and the exporters have a process_resident_memory_bytes of their own
      { panel: "Helper / Helper memory (RSS) [A]", expr: 'max by (node) (process_resident_memory_bytes{job="jit", service="jit_jit"})' },
    ]);
  });

  it("groups and names every per-service series by exported_service, never by the scrape's service", () => {
    for (const { path: where, panel } of dashboardPanels(jit)) {
      for (const t of (panel.targets ?? []) as Json[]) {
        const expr = t.expr as string;
        // only jit_services_awake has no service label; every other jit_* series is per service
        if (!metricNames(expandGrafanaVariables(expr)).some((n) => n.startsWith("jit_") && n !== "jit_services_awake")) continue;
        // summed per service: a restarted helper (another task, another instance) continues the same line
        const groupings = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].map((m) => m[1].split(",").map((l) => l.trim()));
        expect({ where, expr, grouped: groupings.length > 0 }).toEqual({ where, expr, grouped: true });
        for (const labels of groupings) {
          expect({ where, expr, labels }).toEqual({ where, expr, labels: expect.arrayContaining(["exported_service"]) });
          expect({ where, expr, labels }).toEqual({ where, expr, labels: expect.not.arrayContaining(["service"]) });
        }
        const legend = expect.stringContaining("{{exported_service}}") as unknown;
        expect({ where, legend: t.legendFormat }).toEqual({ where, legend });
        expect({ where, legend: t.legendFormat }).toEqual({ where, legend: expect.not.stringMatching(/\{\{\s*service\s*\}\}/) });
      }
    }
  });

  it("draws the helper's memory limit from stacks/jit/compose.yml", () => {
    const compose = YAML.parse(fs.readFileSync(path.join(GRAFANA_DIR, "..", "..", "jit", "compose.yml"), "utf8")) as {
      services: { jit: { deploy: { resources: { limits: { memory: string } } } } };
    };
    const limit = compose.services.jit.deploy.resources.limits.memory.match(/^(\d+)M$/);
    expect(limit).not.toBeNull();
    const memory = dashboardPanels(jit).find((p) => p.panel.title === "Helper memory (RSS)")?.panel;
    const defaults = (memory?.fieldConfig as Json).defaults as Json;
    expect((defaults.thresholds as Json).steps).toEqual([
      { color: "green", value: null },
      // compose's M is MiB
      { color: "red", value: Number(limit?.[1]) * 1024 * 1024 },
    ]);
  });
});

describe("dashboardMetricNames", () => {
  it("parses every query and lists the metrics the dashboards need from the exporters", () => {
    expect(dashboardMetricNames()).toEqual([
      "backup_bytes_added",
      "backup_duration_seconds",
      "backup_last_success_timestamp_seconds",
      "backup_max_age_seconds",
      "backup_running",
      "backup_runs_total",
      "container_memory_working_set_bytes",
      "jit_cold_start_seconds_bucket",
      "jit_evictions_total",
      "jit_open_connections",
      "jit_requests_held",
      "jit_requests_held_total",
      "jit_services_awake",
      "jit_stops_total",
      "jit_wake_failures_total",
      "jit_wakes_total",
      "node_cpu_seconds_total",
      "node_filesystem_avail_bytes",
      "node_filesystem_size_bytes",
      "node_memory_MemAvailable_bytes",
      "node_memory_MemTotal_bytes",
      "node_thermal_zone_temp",
      "process_resident_memory_bytes",
      "up",
    ]);
  });

  it("names the file and panel of a query it cannot read", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "grafana-"));
    try {
      const panel = { type: "timeseries", title: "Bad", targets: [{ refId: "A", expr: 'rate({__name__=~"node_.+"}[$__rate_interval])' }] };
      fs.writeFileSync(path.join(dir, "bad.json"), JSON.stringify({ uid: "b", panels: [panel] }));
      expect(() => dashboardMetricNames(dir)).toThrow(/bad\.json: Bad \[A\]: \{__name__=~"node_\.\+"\}: .*not a plain name/);
      fs.writeFileSync(path.join(dir, "bad.json"), "{");
      expect(() => dashboardMetricNames(dir)).toThrow(/^bad\.json: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
