import * as pulumi from "@pulumi/pulumi";
import { MemberRecord, PreviousRun } from "../swarm/plan";

/** The engine's built-in invoke behind StackReference; an invoke is not a resource, so it shows no diff. */
const READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs";

/** The stack outputs the next run reads back (index.ts exports them under these names). */
export const LAST_RUN_OUTPUTS = {
  leader: "swarmLeader",
  clusterId: "swarmClusterId",
  reformedAfter: "swarmReformedAfter",
  members: "swarmMembers",
  stackRetries: "stackRetries",
} as const;

/** The last run as the components need it: the swarm's part, and each stack's retry count (components/stack.ts). */
export interface LastRun extends PreviousRun {
  readonly stackRetries: Readonly<Record<string, number>>;
}

interface StackOutputs {
  readonly outputs?: Record<string, unknown>;
  readonly secretOutputNames?: readonly string[];
}

const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

function members(v: unknown): Record<string, MemberRecord> | undefined {
  if (!v || typeof v !== "object") return undefined;
  const out: Record<string, MemberRecord> = {};
  for (const [name, record] of Object.entries(v as Record<string, unknown>)) {
    const r = record as Partial<MemberRecord> | undefined;
    if (typeof r?.machineId === "string" && typeof r.epoch === "string") out[name] = { machineId: r.machineId, epoch: r.epoch };
  }
  return out;
}

function counts(v: unknown): Record<string, number> {
  if (!v || typeof v !== "object") return {};
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter((e): e is [string, number] => Number.isInteger(e[1]) && (e[1] as number) > 0));
}

/** What a run's outputs say for the next run; unknown or missing values are left out. */
export function previousRunFrom(result: StackOutputs): LastRun {
  const secret = new Set(result.secretOutputNames ?? []);
  const get = (key: string) => (secret.has(key) ? undefined : result.outputs?.[key]);
  return {
    leader: text(get(LAST_RUN_OUTPUTS.leader)),
    clusterId: text(get(LAST_RUN_OUTPUTS.clusterId)),
    reformedAfter: text(get(LAST_RUN_OUTPUTS.reformedAfter)),
    members: members(get(LAST_RUN_OUTPUTS.members)),
    stackRetries: counts(get(LAST_RUN_OUTPUTS.stackRetries)),
  };
}

/** Reads the outputs, retrying a read that met the state file half-written (see readLastRun). */
async function readStackOutputs(name: string, attempts = 10): Promise<StackOutputs> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await pulumi.runtime.invoke(READ_STACK_OUTPUTS, { name })) as StackOutputs;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/**
 * This stack's own outputs from its last run (empty on the first), read through the engine's
 * built-in invoke. A StackReference would do the same as a resource, and every changed output
 * would then show as a diff of it in `pulumi preview --diff` although nothing is going to change.
 * With the local file backend the read can meet the state file while this very run is writing it
 * ("failed to load checkpoint: EOF", seen on the first up after a destroy), so a failed read is
 * retried. Secret outputs (join tokens) are not read.
 */
export function readLastRun(): pulumi.Output<LastRun> {
  const name = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
  // Only non-secret outputs are picked, so the result holds no secret.
  return pulumi.output(readStackOutputs(name).then(previousRunFrom));
}
