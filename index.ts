/**
 * homelab: one stack config → Ignition for every node → a Docker Swarm over SSH.
 * The config is validated before anything is registered; a bad key stops the run with its fix.
 */
import * as pulumi from "@pulumi/pulumi";
import { Homelab } from "./components/homelab";
import { loadPulumiConfig } from "./config/pulumi";
import { PreviousRun } from "./swarm/plan";

const { config } = loadPulumiConfig();
const stack = pulumi.getStack();
// This stack's own outputs from its last run: the swarm leader stays put while it is healthy (so a
// manager coming back does not move, and re-run, every step driven from it), and a swarm that
// vanished is noticed and formed again.
const lastRun = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`);
const previous = pulumi
  .all([lastRun.getOutput("swarmLeader"), lastRun.getOutput("swarmClusterId"), lastRun.getOutput("swarmReformedAfter")])
  .apply(([leader, clusterId, reformedAfter]) => ({ leader, clusterId, reformedAfter }) as PreviousRun);
// Not out/<stack>/: that is where `npm run render` and the lab write their own copies.
const homelab = new Homelab("homelab", { config, ignitionDir: `out/stacks/${stack}/ignition`, previous });

/** For the operator: what runs where, and how to get in. */
export const nodes = homelab.nodes;
export const ignitionFiles = Object.fromEntries(Object.entries(homelab.nodes).map(([name, n]) => [name, n.ignitionPath]));
export const sshCommands = Object.fromEntries(Object.entries(homelab.nodes).map(([name, n]) => [name, n.sshCommand]));
export const deployPublicKey = homelab.deployPublicKey;
/** For the swarm: which manager drives it, and tokens for adding a node by hand (secret, rotated after every join). */
export const swarmLeader = homelab.leader;
export const swarmClusterId = homelab.clusterId;
export const joinTokens = homelab.joinTokens;
/** Read back by the next run: the swarm this stack lost and formed again, if any (see swarm/plan.ts). */
export const swarmReformedAfter = homelab.reformedAfter;
