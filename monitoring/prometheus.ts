/**
 * Prometheus' retention comes from the homelab config (homelab:platform.monitoring.retention), sized
 * for the Pi's SD card, while stacks/monitoring/compose.yml stays a plain file: the platform appends
 * the two flags to the Prometheus service's command, as it adds ACME to Traefik (routing/acme.ts).
 */
import { isPlainObject } from "../config/reader";
import { RetentionConfig } from "../config/schema";
import { StackIssue, StackSource } from "../compose/types";

/** The stack and service the retention applies to. */
export const MONITORING_STACK = "monitoring";
export const PROMETHEUS_SERVICE = "prometheus";
const RETENTION_FLAG = /^--storage\.tsdb\.retention(\.|=|$)/;

/** What is wrong with the Prometheus service for the platform to set its retention (none: []). */
export function retentionProblems(stack: StackSource): StackIssue[] {
  const service = (stack.document.services as Record<string, unknown> | undefined)?.[PROMETHEUS_SERVICE];
  if (!isPlainObject(service)) return [{ key: `services.${PROMETHEUS_SERVICE}`, message: `is missing; the platform sets its retention from homelab:platform.monitoring.retention. Fix: keep the service named ${PROMETHEUS_SERVICE}.` }];
  const command = service.command;
  if (!Array.isArray(command) || command.length === 0) {
    return [{ key: `services.${PROMETHEUS_SERVICE}.command`, message: `must be a list of flags (starting with --config.file=…), so the platform can append the retention flags to it. Fix: write it as a YAML list.` }];
  }
  return command.filter((flag) => RETENTION_FLAG.test(String(flag))).map((flag) => ({
    key: `services.${PROMETHEUS_SERVICE}.command`,
    message: `sets ${String(flag).split("=")[0]}, which comes from the config. Fix: remove it and pulumi config set --path homelab:platform.monitoring.retention.time 30d (or .size 4GB).`,
  }));
}

/** The stack with `--storage.tsdb.retention.time/size` appended to Prometheus' command (retentionProblems must be empty). */
export function withRetention(stack: StackSource, retention: RetentionConfig): StackSource {
  const document = structuredClone(stack.document) as Record<string, any>;
  const service = document.services[PROMETHEUS_SERVICE];
  service.command = [...service.command, `--storage.tsdb.retention.time=${retention.time}`, `--storage.tsdb.retention.size=${retention.size}`];
  return { ...stack, document };
}
