import * as pulumi from "@pulumi/pulumi";
import { NodeConfig, SshConfig } from "../config/schema";

/** Seconds one SSH dial may take before it is retried. */
export const PER_DIAL_TIMEOUT_SECONDS = 10;

/** The fields of @pulumi/command's remote connection that we set. */
export interface NodeConnection {
  readonly host: pulumi.Input<string>;
  readonly port: pulumi.Input<number>;
  readonly user: string;
  readonly privateKey: pulumi.Input<string>;
  readonly dialErrorLimit: number;
  readonly perDialTimeout: number;
}

/**
 * How Pulumi reaches a node as `core` with the deploy key. The dial budget covers
 * `ssh.waitMinutes`: a Pi on first boot applies Ignition, reboots once for kernel arguments and
 * grows its root filesystem before sshd answers.
 */
export function nodeConnection(ssh: SshConfig, host: pulumi.Input<string>, port: pulumi.Input<number>, privateKey: pulumi.Input<string>): NodeConnection {
  return {
    host,
    port,
    user: "core",
    privateKey,
    dialErrorLimit: Math.max(1, Math.ceil((ssh.waitMinutes * 60) / PER_DIAL_TIMEOUT_SECONDS)),
    perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
  };
}

export function sshCommand(node: NodeConfig): string {
  return node.sshPort === 22 ? `ssh core@${node.address}` : `ssh -p ${node.sshPort} core@${node.address}`;
}
