/**
 * Stateful services stay with their data: a replicated service with a named volume must be pinned
 * (a node label or hostname constraint) to exactly one node, or Swarm may start it on another Pi
 * with an empty volume of the same name (the seed's bug). Global services keep one volume per node
 * and are left alone.
 */
import { isPlainObject } from "../config/reader";
import { BudgetNode, constraintAllows } from "./budget";
import { StackSource } from "./types";

/** The top-level volume keys a service mounts (short `name:/path[:ro]` and long `{type: volume, source}` syntax). */
export function namedVolumes(service: Record<string, unknown>, declared: readonly string[]): string[] {
  const volumes = Array.isArray(service.volumes) ? service.volumes : [];
  return volumes.flatMap((v) => {
    const source = typeof v === "string" ? v.split(":")[0] : isPlainObject(v) && (v.type ?? "volume") === "volume" ? v.source : undefined;
    return typeof source === "string" && declared.includes(source) ? [source] : [];
  });
}

/** The keys of the stack's top-level `volumes:` (the named volumes its services may mount). */
export function declaredVolumes(stack: StackSource): string[] {
  return Object.keys(isPlainObject(stack.document.volumes) ? stack.document.volumes : {});
}

/** A service's placement constraints, as written. */
export function placementConstraints(service: Record<string, any>): string[] {
  return Array.isArray(service.deploy?.placement?.constraints) ? service.deploy.placement.constraints.map(String) : [];
}

/** The nodes a service's placement constraints let it run on (compose/budget.ts: constraintAllows). */
export function eligibleNodes<N extends BudgetNode>(service: Record<string, any>, nodes: readonly N[]): N[] {
  const constraints = placementConstraints(service);
  return nodes.filter((n) => constraints.every((c) => constraintAllows(c, n)));
}

/** A constraint that names nodes rather than a kind of node. */
const PINNING = /^\s*node\.(hostname|labels\.[A-Za-z0-9._-]+)\s*==\s*\S+\s*$/;

export interface PlacementProblem {
  /** `services.<name>.deploy.placement.constraints` */
  readonly key: string;
  readonly message: string;
}

/** Every stateful service of the stack that is not pinned to exactly one of `nodes`. */
export function placementProblems(stack: StackSource, nodes: readonly BudgetNode[]): PlacementProblem[] {
  const services = (stack.document.services ?? {}) as Record<string, Record<string, any>>;
  const declared = declaredVolumes(stack);
  return stack.services.flatMap((name) => {
    const service = services[name] ?? {};
    const volumes = namedVolumes(service, declared);
    if (volumes.length === 0 || service.deploy?.mode === "global") return [];
    const constraints = placementConstraints(service);
    const key = `services.${name}.deploy.placement.constraints`;
    const label = `node.labels.${stack.name} == true`;
    const fix = `Fix: add "${label}" to ${key} and label the Pi that holds the data: pulumi config set --path 'homelab:nodes[<i>].labels.${stack.name}' true`;
    const pins = constraints.filter((c) => PINNING.test(c));
    if (pins.length === 0) {
      return [{ key, message: `${name} keeps data in the volume${volumes.length > 1 ? "s" : ""} ${volumes.join(", ")} but is not pinned to a node: Swarm could start it on another Pi with an empty volume. ${fix}` }];
    }
    const eligible = eligibleNodes(service, nodes);
    if (eligible.length === 1) return [];
    if (eligible.length === 0) {
      return [{ key, message: `${name} is pinned by ${pins.join(" and ")}, which no node in homelab:nodes matches, so it would never start. Fix: label the Pi that holds its data, e.g. pulumi config set --path 'homelab:nodes[<i>].labels.${pins[0].match(/node\.labels\.([A-Za-z0-9._-]+)/)?.[1] ?? stack.name}' true` }];
    }
    return [{ key, message: `${name} keeps data in ${volumes.join(", ")}, but ${pins.join(" and ")} matches ${eligible.length} nodes (${eligible.map((n) => n.name).join(", ")}): it could move between them and start on an empty volume. Fix: keep the label on one node only.` }];
  });
}
