import {
  PromQLError,
  dashboardExpressions,
  dashboardPanels,
  expandGrafanaVariables,
  metricNames,
  ruleExpressions,
  selectedMetrics,
  unquote,
} from "./promql";

describe("metricNames", () => {
  it.each([
    ["up", ["up"]],
    ['up{job="docker-engine"}', ["up"]],
    ['1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', ["node_cpu_seconds_total"]],
    ["node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", ["node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"]],
    ['sum by (service) (up{state="failed"} unless up{state="failed"} offset 15m)', ["up"]],
    ['sum(rate(prometheus_http_requests_total{code=~"5.."}[5m])) / on() group_left sum(rate(prometheus_http_requests_total[5m]))', ["prometheus_http_requests_total"]],
    ["max_over_time(rate(container_cpu_usage_seconds_total[1m])[1h:5m])", ["container_cpu_usage_seconds_total"]],
    ["histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[5m])))", ["prometheus_http_request_duration_seconds_bucket"]],
    ["topk(3, container_memory_working_set_bytes) > bool 1e6", ["container_memory_working_set_bytes"]],
    ['label_replace(node_uname_info, "host", "$1", "nodename", "(.*)")', ["node_uname_info"]],
    ['count_values("version", engine_daemon_engine_info)', ["engine_daemon_engine_info"]],
    ["absent(up{job=\"prometheus\"} @ start())", ["up"]],
    ["time() - process_start_time_seconds", ["process_start_time_seconds"]],
    ["-node_load1 offset -5m", ["node_load1"]],
    ["(node_load1 or node_load5) and on(instance) node_load15", ["node_load1", "node_load15", "node_load5"]],
    ["scalar(sum(up)) * vector(2)", ["up"]],
    // the name matcher stands for the name; Prometheus 3's quoted names too
    ['{__name__="node_load1", instance="pi1"}', ["node_load1"]],
    ["{__name__='node_load1'}", ["node_load1"]],
    ['{"__name__"="node_load1"}', ["node_load1"]],
    ['{"http.server.duration", job="app"}', ["http.server.duration"]],
    ['{__name__="node_load1", __name__=~"node_.*"}', ["node_load1"]],
    // names are not the words around them: functions, keywords, label names and strings
    ['sum by (rate) (rate(x[5m])) + on(sum) group_right label_join(y, "up", ",", "a")', ["x", "y"]],
    ["x # a comment naming z", ["x"]],
    ["1 + 2", []],
  ])("%s", (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });

  it.each([
    ['{__name__=~"node_load1|node_load5"}', /__name__=~.*its name matcher =~ selects a set of names, not a plain name/],
    ['{__name__!="up"}', /name matcher != selects a set of names/],
    ['rate({__name__=~"node_.+_total"}[5m])', /name matcher =~/],
    ['{job="node-exporter"}', /\{job="node-exporter"\}: no metric name/],
    ['{__name__=""}', /name matcher = selects a set of names/],
    ["info(node_load1)", /info\(node_load1\): info\(\) also selects metrics it does not name/],
  ])("%s is not a plain name", (expr, message) => {
    expect(() => metricNames(expr)).toThrow(PromQLError);
    expect(() => metricNames(expr)).toThrow(message);
  });

  it("selectedMetrics keeps the plain names beside the ones it cannot name", () => {
    expect(selectedMetrics('up + ignoring(x) {__name__=~"a.*"}')).toEqual({
      names: ["up"],
      unnamed: [{ selector: '{__name__=~"a.*"}', why: "its name matcher =~ selects a set of names" }],
    });
  });

  it.each([
    ["", /empty expression/],
    ["sum(", /unexpected end at character 5/],
    ["up +", /unexpected end/],
    ["rate(up[5m)", /syntax error/],
    ["rate(x[$__rate_interval])", /^syntax error at character 8 near "\$__rate_inte" in: /],
    ['up{job="a"', /unexpected end/],
    ['node_load1{__name__="node_load5"}', /sets its metric name twice/],
    ['{"a", "b"}', /sets its metric name twice/],
    ['{__name__="a", __name__="b"}', /names two metrics and selects nothing/],
  ])("%j is refused", (expr, message) => {
    expect(() => metricNames(expr)).toThrow(message);
  });

  it("names the expression in its error", () => {
    expect(() => metricNames("sum(up")).toThrow("in: sum(up");
  });
});

describe("unquote", () => {
  it.each([
    ['"a\\"b"', 'a"b'],
    ["'it\\'s'", "it's"],
    ["`raw\\n`", "raw\\n"],
    ['"\\x41\\u00e9\\101\\t"', "AéA\t"],
  ])("%s", (literal, value) => {
    expect(unquote(literal)).toBe(value);
  });
});

describe("expandGrafanaVariables", () => {
  it("replaces Grafana's interval variables and leaves dashboard variables", () => {
    expect(expandGrafanaVariables('rate(x{node="$node"}[$__rate_interval]) + y[${__range}] * $__range_s + $__interval_ms')).toBe(
      'rate(x{node="$node"}[1m]) + y[1h] * 3600 + 15000',
    );
    expect(metricNames(expandGrafanaVariables("rate(x[$__rate_interval])"))).toEqual(["x"]);
  });
});

describe("dashboardExpressions", () => {
  const dashboard = {
    panels: [
      { type: "stat", title: "Up", targets: [{ refId: "A", expr: "sum(up)" }, { refId: "B", expr: "count(up)" }] },
      { type: "row", title: "Nodes", collapsed: false, panels: [] },
      { type: "timeseries", title: "Load", datasource: { type: "prometheus", uid: "p" }, targets: [{ refId: "A", expr: "node_load1" }] },
      { type: "logs", title: "Logs", datasource: { type: "loki", uid: "l" }, targets: [{ refId: "A", expr: '{job="x"}' }] },
      { type: "timeseries", title: "Mixed", targets: [{ refId: "A", datasource: { type: "loki" }, expr: "{a=\"b\"}" }, { refId: "B", expr: "" }] },
      {
        type: "row",
        title: "Collapsed",
        collapsed: true,
        panels: [{ type: "timeseries", title: "Inner", targets: [{ refId: "A", expr: "inner_metric" }] }, { type: "text", title: "Note" }],
      },
      { type: "timeseries", id: 9, targets: [{ expr: "untitled_metric" }] },
    ],
  };

  it("finds every Prometheus query, nested ones included, named by row, title and refId", () => {
    expect(dashboardExpressions(dashboard)).toEqual([
      { panel: "Up [A]", expr: "sum(up)" },
      { panel: "Up [B]", expr: "count(up)" },
      { panel: "Nodes / Load [A]", expr: "node_load1" },
      { panel: "Collapsed / Inner [A]", expr: "inner_metric" },
      // an expanded row's panels follow it, so a panel after a collapsed row is that row's
      { panel: "Collapsed / panel 9", expr: "untitled_metric" },
    ]);
  });

  it("dashboardPanels lists rows and panels, nested ones after their row", () => {
    expect(dashboardPanels(dashboard).map((p) => p.path)).toEqual([
      "Up",
      "Nodes",
      "Nodes / Load",
      "Nodes / Logs",
      "Nodes / Mixed",
      "Collapsed",
      "Collapsed / Inner",
      "Collapsed / Note",
      "Collapsed / panel 9",
    ]);
  });

  it("reads an API export that wraps the dashboard", () => {
    expect(dashboardExpressions({ dashboard: { panels: [{ title: "T", targets: [{ expr: "t" }] }] } })).toEqual([{ panel: "T", expr: "t" }]);
  });

  it("refuses what is not a dashboard, and finds nothing in one without panels", () => {
    expect(() => dashboardExpressions([])).toThrow(/JSON object/);
    expect(dashboardExpressions({ title: "empty" })).toEqual([]);
  });
});

describe("ruleExpressions", () => {
  const rules = `
groups:
  - name: nodes
    rules:
      - alert: NodeDown
        expr: up{job="docker-engine"} == 0
        for: 2m
      - record: node:cpu_used:ratio
        expr: |
          1 - avg by (node) (
            rate(node_cpu_seconds_total{mode="idle"}[5m])
          )
  - name: always
    rules:
      - alert: Watchdog
        expr: 1
`;

  it("lists every rule's expression with its group", () => {
    const found = ruleExpressions(rules);
    expect(found.map((r) => r.rule)).toEqual(["nodes / NodeDown", "nodes / node:cpu_used:ratio", "always / Watchdog"]);
    expect(found[2].expr).toBe("1");
    expect(found.map((r) => metricNames(r.expr))).toEqual([["up"], ["node_cpu_seconds_total"], []]);
  });

  it("takes an empty file as no rules", () => {
    expect(ruleExpressions("")).toEqual([]);
    expect(ruleExpressions("groups: []\n")).toEqual([]);
  });

  it.each([
    ["groups: [\n", /rules file: /],
    ["rules: []\n", /expected a map with a list `groups`/],
    ["groups:\n  - rules: []\n", /groups\[0\] needs a name/],
    ["groups:\n  - name: g\n    rules:\n      - expr: up\n", /groups\[0\]\.rules\[0\] has neither alert: nor record:/],
    ["groups:\n  - name: g\n    rules:\n      - alert: A\n", /groups\[0\]\.rules\[0\] \(A\) has no expr:/],
    ["groups:\n  - name: g\n    name: h\n", /rules file: .*[Uu]nique/],
  ])("refuses %j", (text, message) => {
    expect(() => ruleExpressions(text)).toThrow(message);
  });
});
