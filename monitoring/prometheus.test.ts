/**
 * The monitoring stack's own files, checked by the real validators from Debian's prometheus and
 * prometheus-alertmanager packages (lab/host-setup.sh installs them): promtool and amtool. What
 * they do not cover (targets discovered, alerts delivered) is tested on the lab.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { loadStack } from "../compose/load";
import { renderAlertmanagerConfig, ntfyWebhookUrl } from "./alertmanager";
import { MONITORING_STACK, retentionProblems, withRetention } from "./prometheus";

const STACK_DIR = path.join(__dirname, "..", "stacks", MONITORING_STACK);

function tool(name: string, args: string[]): string {
  try {
    return execFileSync(name, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === "ENOENT") throw new Error(`${name} is not installed: bash lab/host-setup.sh (or apt-get install prometheus prometheus-alertmanager)`);
    throw new Error(`${name} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

test("promtool accepts prometheus.yml and the rules file it names", () => {
  const out = tool("promtool", ["check", "config", path.join(STACK_DIR, "prometheus.yml")]);
  expect(out).toMatch(/SUCCESS: 1 rule files found/);
  expect(out).toMatch(/SUCCESS: 10 rules found/);
});

test("every rule passes promtool's unit tests (monitoring/rules.test.yml)", () => {
  expect(tool("promtool", ["test", "rules", path.join(__dirname, "rules.test.yml")])).toMatch(/SUCCESS/);
});

test("every alert the issue asks for is a rule", () => {
  const rules = YAML.parse(fs.readFileSync(path.join(STACK_DIR, "rules.yml"), "utf8")).groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
  expect(rules.sort()).toEqual(["BackupFailed", "BackupTooOld", "DiskAlmostFull", "GitOpsBehind", "HighTemperature", "MemoryPressure", "NodeDown", "ServiceTasksMissing", "TargetDown", "TaskRestartLoop"]);
});

describe("Alertmanager's configuration", () => {
  const settings = { ntfyServer: "https://ntfy.example.org/", ntfyTopic: "Topic_with-32-characters-0123456" };

  test("amtool accepts it, with the ntfy receiver", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-am-"));
    try {
      const file = path.join(dir, "alertmanager.yml");
      fs.writeFileSync(file, renderAlertmanagerConfig(settings));
      const out = tool("amtool", ["check-config", file]);
      expect(out).toMatch(/SUCCESS/);
      expect(out).toMatch(/1 inhibit rules/);
      expect(out).toMatch(/1 receivers/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("posts to the topic on the server, with ntfy's templates for title and message", () => {
    const url = new URL(ntfyWebhookUrl(settings));
    expect(url.origin + url.pathname).toBe("https://ntfy.example.org/Topic_with-32-characters-0123456");
    expect(url.searchParams.get("tpl")).toBe("yes");
    expect(url.searchParams.get("t")).toBe("[{{.status}}] {{.commonLabels.alertname}}");
    expect(url.searchParams.get("m")).toContain("{{.annotations.summary}}");
    const conf = YAML.parse(renderAlertmanagerConfig(settings));
    expect(conf.receivers[0].webhook_configs[0]).toMatchObject({ url: url.toString(), send_resolved: true });
  });
});

describe("retention", () => {
  test("is appended to Prometheus' command from the config", () => {
    const stack = withRetention(loadStack(STACK_DIR), { time: "15d", size: "3GB" });
    const command = (stack.document.services as any).prometheus.command as string[];
    expect(command.slice(-2)).toEqual(["--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=3GB"]);
    expect(command[0]).toBe("--config.file=/etc/prometheus/prometheus.yml");
  });

  test("set in the compose file too is an error naming the config key", () => {
    const stack = loadStack(STACK_DIR);
    const doc = structuredClone(stack.document) as any;
    doc.services.prometheus.command.push("--storage.tsdb.retention.time=90d");
    const problems = retentionProblems({ ...stack, document: doc });
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/homelab:platform\.monitoring\.retention/);
    expect(retentionProblems(stack)).toEqual([]);
  });
});
