import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as path from "path";
import { contentFingerprint, objectName } from "../compose/names";
import { renderStack } from "../compose/render";
import { StackSource } from "../compose/types";
import { scriptCommandLine, scriptInvocation } from "../swarm/scripts";
import { NodeConnection } from "./connection";

export interface StackArgs {
  readonly source: StackSource;
  /** A manager of the swarm (Swarm.leaderConnection). */
  readonly connection: pulumi.Input<NodeConnection>;
  /** The secret values, by compose key (from stack config or @pulumi/random). */
  readonly secretValues: Readonly<Record<string, pulumi.Output<string>>>;
  /** Key of the HMAC that fingerprints secret values in their Swarm names (a secret). */
  readonly nameSalt: pulumi.Output<string>;
  /** The shared networks the stack names as external: deployed after they exist. */
  readonly networks: readonly pulumi.Resource[];
  /** The swarm's ID: a swarm formed anew (the old one and its objects lost) gets the stack again. */
  readonly swarmId: pulumi.Input<string>;
  /** homelab:domain, for the routers of routed services. */
  readonly domain: string;
  /** How often the deploy was refused in a row before this run (the last run's `stackRetries`); 0 when it went through. */
  readonly retries: pulumi.Input<number>;
  /** What must be done before the deploy (images built on their nodes: components/builtImage.ts). */
  readonly before?: readonly pulumi.Output<unknown>[];
}

/** What stack.sh prints when the swarm refused the deploy (it still exits 0: see there). */
export function deployFailure(stdout: string): string | undefined {
  return /^deploy_failed=(.*)$/m.exec(stdout)?.[1].trim();
}

/**
 * Text for a script preamble: a shell variable holding `content` as base64 (no quoting can break
 * it, and the node decodes it straight into docker's stdin).
 */
function base64Preamble(variable: string, content: string): string {
  return `${variable}='${Buffer.from(content, "utf8").toString("base64")}'`;
}

const COMPOSE_END = "HOMELAB_COMPOSE_EOF";

/** The compose text as a quoted here-document: readable in a diff, never expanded by the shell. */
export function composePreamble(text: string): string {
  if (text.split("\n").includes(COMPOSE_END)) throw new Error(`the rendered compose file contains the line ${COMPOSE_END}`);
  return `HOMELAB_STACK_COMPOSE=$(cat <<'${COMPOSE_END}'\n${text}\n${COMPOSE_END}\n)`;
}

/**
 * One stack of stacks/: its Swarm configs and secrets, each named by a fingerprint of its content
 * (Swarm objects are immutable; a fixed name made every later edit fail in the seed), then
 * `docker stack deploy --prune` of the rendered compose file on a manager. A changed content is a
 * new object (a replacement: created first, the stack moves to it, the old one is removed at the
 * end of the run, once unused). The stack redeploys exactly when its rendered text changes, and
 * `pulumi preview --diff` shows that text (it holds no secret: secrets are external objects).
 */
export class Stack extends pulumi.ComponentResource {
  /** The compose file as deployed. */
  public readonly compose: pulumi.Output<string>;
  /** The stack's services, as the swarm lists them after the deploy. */
  public readonly services: pulumi.Output<string[]>;
  /** The retry count the next run reads: one more than this run's when the deploy was refused. */
  public readonly retries: pulumi.Output<number>;

  constructor(name: string, args: StackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:platform:Stack", name, {}, opts);
    const stack = args.source.name;
    const object = (kind: "config" | "secret", key: string, swarmName: pulumi.Input<string>, content: pulumi.Input<string>) =>
      new command.remote.Command(
        `${name}-${kind}-${key}`,
        {
          connection: args.connection,
          addPreviousOutputInEnv: false,
          create: pulumi.output(swarmName).apply((n) => scriptInvocation("object", ["ensure", kind, n, stack]).command),
          stdin: pulumi
            .all([swarmName, content])
            .apply(([n, c]) => scriptInvocation("object", ["ensure", kind, n, stack], base64Preamble("HOMELAB_OBJECT_CONTENT", c)).stdin),
          delete: pulumi.all([swarmName, args.swarmId]).apply(([n, swarm]) => scriptCommandLine("object", ["remove", kind, n, swarm])),
          // A new name is a new object: created before the stack moves to it, the old removed last.
          triggers: [swarmName, args.swarmId],
        },
        { parent: this, ...(kind === "secret" ? { additionalSecretOutputs: ["stdin"] } : {}) },
      );

    const configNames: Record<string, string> = {};
    const configs = args.source.configs.map((c) => {
      configNames[c.key] = objectName(stack, c.key, contentFingerprint(c.content));
      return object("config", c.key, configNames[c.key], c.content);
    });
    const secretNames: Record<string, pulumi.Output<string>> = {};
    const secrets = args.source.secrets.map((s) => {
      const value = args.secretValues[s.key];
      if (!value) throw new Error(`stack ${stack}: no value for secret ${s.key}`);
      // An HMAC, not a plain hash: a fingerprint of a weak password in a name must not help guess it.
      secretNames[s.key] = pulumi.unsecret(
        pulumi.all([args.nameSalt, value]).apply(([salt, v]) => objectName(stack, s.key, crypto.createHmac("sha256", salt).update(v).digest("hex").slice(0, 8))),
      );
      return object("secret", s.key, secretNames[s.key], pulumi.secret(value));
    });

    this.compose = pulumi.all([pulumi.all(secretNames), ...(args.before ?? [])]).apply(([secretsByKey]) => renderStack(args.source, { secrets: secretsByKey, configs: configNames }, { domain: args.domain }));
    const jitServices = (args.source.jitServices ?? []).map((service) => `${stack}_${service}`);
    const deploy = this.compose.apply((text) => scriptInvocation("stack", ["deploy", stack, ...jitServices], composePreamble(text)));
    const deployed = new command.remote.Command(
      `${name}-deploy`,
      {
        connection: args.connection,
        addPreviousOutputInEnv: false,
        create: deploy.command,
        stdin: deploy.stdin,
        // Volumes stay: the data is the owner's (docker volume rm by hand to drop it).
        delete: pulumi.output(args.swarmId).apply((swarm) => scriptCommandLine("stack", ["remove", stack, swarm])),
        // A refused deploy is retried by the next run: its count moves the trigger. Absent at 0, so a
        // stack that never failed keeps the triggers it has always had.
        triggers: pulumi.all([args.swarmId, args.retries]).apply(([swarm, retries]) => (retries > 0 ? [swarm, `retry-${retries}`] : [swarm])),
      },
      { parent: this, dependsOn: [...args.networks, ...configs, ...secrets] },
    );
    this.services = deployed.stdout.apply((out) => (/^services=(.*)$/m.exec(out)?.[1] ?? "").split(",").filter((s) => s !== ""));
    this.retries = pulumi.all([deployed.stdout, args.retries]).apply(([out, retries]) => {
      const failure = deployFailure(out);
      if (failure === undefined) return retries;
      // An error fails the run (exit code 1) once every other step is done; the other stacks went on.
      pulumi.log.error(
        `stack ${stack} was not deployed: ${failure}. The other stacks were; the next \`pulumi up\` tries this one again. ` +
          `Fix: correct ${path.relative(process.cwd(), args.source.file) || args.source.file} (or run 'docker stack ps ${stack} --no-trunc' on a manager), then \`pulumi up\`.`,
        this,
      );
      return retries + 1;
    });
    this.registerOutputs({ compose: this.compose, services: this.services, retries: this.retries });
  }
}
