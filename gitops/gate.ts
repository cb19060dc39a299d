/**
 * The GitOps runner's preview gate (issue 12, groundwork: no runner calls it yet; see
 * docs/gitops.md): from `pulumi preview --json` of a new commit, whether the runner may apply it
 * by itself. Pure. A commit is held for the owner to apply by hand when its preview would remove
 * or rebuild what a run cannot give back:
 * - a node: any delete or replace of its resources (its Ignition file and deploy key, its swarm
 *   registration, join, membership or departure): draining, leaving or rejoining a Pi;
 * - the swarm itself (its init) or the deploy key every node trusts (a new key means reflashing);
 * - a stateful stack: removing the stack of a service that keeps data in a volume (the volume
 *   stays, but the app and everything that reaches it go).
 * A preview that failed is never applied. Everything else (a new stack, a changed config or
 * secret, a rotated object) is applied.
 */

/** One step of `pulumi preview --json` (the fields the gate reads). */
export interface PreviewStep {
  readonly op: string;
  readonly urn: string;
  readonly type?: string;
}

export interface PreviewJson {
  readonly steps?: readonly PreviewStep[];
  readonly diagnostics?: readonly { readonly severity?: string; readonly message?: string }[];
}

export type GateDecision = { readonly verdict: "apply"; readonly summary: string } | { readonly verdict: "hold" | "refuse"; readonly summary: string; readonly reasons: readonly string[] };

/** Operations that take something away (a replace deletes the old resource). */
const DESTRUCTIVE = new Set(["delete", "replace", "create-replacement", "delete-replaced", "discard", "discard-replaced"]);
const NODE_STEP = /-(registration|join|membership|departure)$/;

/** The resource's name (the URN's last `::` part) and its type chain (parents first, `$`-separated). */
function parseUrn(urn: string): { name: string; types: string[] } {
  const parts = urn.split("::");
  return { name: parts[parts.length - 1] ?? "", types: (parts[parts.length - 2] ?? "").split("$") };
}

/**
 * @param nodes node names, to name the node in a reason (the last run's and the new config's); a
 *   node's resources are held back whether or not its name is listed.
 * @param statefulStacks the stacks with a volume to back up (compose/backup.ts backupPlan).
 */
export function gatePreview(preview: { exitCode: number; json?: PreviewJson; stderr?: string }, nodes: readonly string[], statefulStacks: readonly string[]): GateDecision {
  const errors = (preview.json?.diagnostics ?? []).filter((d) => d.severity === "error").map((d) => (d.message ?? "").trim()).filter(Boolean);
  if (preview.exitCode !== 0 || !preview.json || errors.length > 0) {
    const reasons = errors.length > 0 ? errors : [(preview.stderr ?? "").trim().split("\n").slice(-5).join("\n") || `pulumi preview exited ${preview.exitCode}`];
    return { verdict: "refuse", summary: "the preview failed", reasons };
  }
  const steps = (preview.json.steps ?? []).filter((s) => s.op !== "same" && s.op !== "read");
  const counts = new Map<string, number>();
  for (const s of steps) counts.set(s.op, (counts.get(s.op) ?? 0) + 1);
  const summary = steps.length === 0 ? "no changes" : [...counts.entries()].map(([op, n]) => `${n} to ${op}`).join(", ");
  const reasons: string[] = [];
  for (const step of steps.filter((s) => DESTRUCTIVE.has(s.op))) {
    const { name, types } = parseUrn(step.urn);
    const type = step.type ?? types[types.length - 1];
    // `pulumi preview --json` lists only the steps that change something, so a node is known by
    // its resources' types and names, not by finding its component among the steps.
    const node = nodes.find((n) => name === n || name.endsWith(`-${n}`) || name.includes(`-${n}-`) || name.startsWith(`${n}-`));
    const which = node ? `node ${node}` : "a node";
    if (types.includes("homelab:node:Node")) reasons.push(`${which}: ${step.op} of ${name} (the node itself or its Ignition: a Pi removed or to be reflashed)`);
    else if (NODE_STEP.test(name) && types.includes("homelab:swarm:Swarm")) reasons.push(`${which}: ${step.op} of ${name} (the Pi would be drained, leave or rejoin the swarm)`);
    else if (/-init$/.test(name) && types.includes("homelab:swarm:Swarm")) reasons.push(`the swarm: ${step.op} of ${name} (it would be formed anew)`);
    else if (/-deploy-key$/.test(name) && type === "tls:index/privateKey:PrivateKey") reasons.push(`the deploy key: ${step.op} of ${name} (every node would have to be reflashed)`);
    else if (/-ca-key$/.test(name) && type === "tls:index/privateKey:PrivateKey") reasons.push(`the homelab CA: ${step.op} of ${name} (every device would have to trust a new CA)`);
    else {
      const stack = statefulStacks.find((st) => name.endsWith(`-${st}-deploy`));
      if (stack && step.op === "delete") reasons.push(`stack ${stack}: removed (its services keep data in volumes; the volumes stay, the app goes)`);
    }
  }
  return reasons.length > 0 ? { verdict: "hold", summary, reasons } : { verdict: "apply", summary };
}
