/**
 * Alertmanager's configuration (stacks/monitoring), rendered from the homelab config: every alert
 * goes to the owner's ntfy topic. The topic is in the webhook URL and whoever knows it reads the
 * alerts, so the whole file is a Swarm secret (platform secret `alertmanager-config`), never a
 * config, and the topic never reaches a compose file, a command line or a log.
 */
import { stringifyCompose } from "../compose/yaml";

export interface AlertmanagerSettings {
  /** The ntfy server, e.g. https://ntfy.sh (homelab:platform.monitoring.ntfy.server). */
  readonly ntfyServer: string;
  /** The topic (homelab:ntfyTopic, or generated). */
  readonly ntfyTopic: string;
}

/**
 * ntfy renders the Alertmanager webhook's JSON body through these Go templates (`tpl=yes`, ntfy
 * 2.3+), so no bridge service is needed: the title says firing or resolved and which alert, the
 * message one summary line per alert of the group.
 */
const TITLE = "[{{.status}}] {{.commonLabels.alertname}}";
const MESSAGE = "{{range .alerts}}{{.annotations.summary}}\n{{end}}";

/** The webhook URL Alertmanager posts a group of alerts to. */
export function ntfyWebhookUrl(settings: AlertmanagerSettings): string {
  const query = `tpl=yes&t=${encodeURIComponent(TITLE)}&m=${encodeURIComponent(MESSAGE)}`;
  return `${settings.ntfyServer.replace(/\/+$/, "")}/${encodeURIComponent(settings.ntfyTopic)}?${query}`;
}

/**
 * alertmanager.yml. Grouped per alert and node or service, so a node going down is one message,
 * not one per target; a node that is down silences the alerts of the targets on it (inhibition),
 * which say nothing more. Resolved alerts are sent too: the owner learns the Pi is back.
 */
export function renderAlertmanagerConfig(settings: AlertmanagerSettings): string {
  return stringifyCompose({
    route: {
      receiver: "ntfy",
      group_by: ["alertname", "node", "service"],
      // Short: the first message of an outage should not wait (a flapping target is held back by the
      // rules' `for`), and a resolved alert is sent at the next group interval, not 5 minutes on.
      group_wait: "5s",
      group_interval: "2m",
      repeat_interval: "12h",
    },
    receivers: [{ name: "ntfy", webhook_configs: [{ url: ntfyWebhookUrl(settings), send_resolved: true, max_alerts: 20 }] }],
    inhibit_rules: [{ source_matchers: ['alertname="NodeDown"'], target_matchers: ['alertname=~"TargetDown|ServiceTasksMissing"'], equal: ["node"] }],
  });
}
