import { PreviewStep, gatePreview } from "./gate";

const URN = "urn:pulumi:homelab::homelab::";
const NODES = ["swarm-manager-1", "swarm-manager-2", "swarm-worker-1"];
const STATEFUL = ["vaultwarden", "monitoring"];
const step = (op: string, types: string, name: string, type?: string): PreviewStep => ({ op, urn: `${URN}${types}::${name}`, ...(type ? { type } : {}) });
const gate = (steps: PreviewStep[]) => gatePreview({ exitCode: 0, json: { steps } }, NODES, STATEFUL);
const SWARM = "homelab:index:Homelab$homelab:swarm:Swarm$command:remote:Command";
const STACK = "homelab:index:Homelab$homelab:platform:Platform$homelab:platform:Stack$command:remote:Command";

test("a changed stack, a rotated secret, a new stack: applied, with a summary of the steps", () => {
  expect(
    gate([
      step("same", STACK, "homelab-platform-dns-deploy"),
      step("update", STACK, "homelab-platform-vaultwarden-deploy"),
      step("replace", STACK, "homelab-platform-vaultwarden-secret-admin_token"),
      step("create", STACK, "homelab-platform-mealie-deploy"),
      // A stateless stack removed is an ordinary change.
      step("delete", STACK, "homelab-platform-whoami-deploy"),
    ]),
  ).toEqual({ verdict: "apply", summary: "1 to update, 1 to replace, 1 to create, 1 to delete" });
  expect(gate([step("same", STACK, "x")])).toEqual({ verdict: "apply", summary: "no changes" });
});

test("a node removed, rejoined or reflashed, the swarm formed anew, the deploy key or the CA replaced, a stateful stack removed: held, each named", () => {
  const held = gate([
    step("delete", SWARM, "homelab-swarm-swarm-worker-1-membership"),
    step("delete", "homelab:index:Homelab$homelab:swarm:Swarm$command:local:Command", "homelab-swarm-swarm-worker-1-departure"),
    step("replace", SWARM, "homelab-swarm-swarm-manager-2-join"),
    step("delete", "homelab:index:Homelab$homelab:node:Node$command:local:Command", "homelab-swarm-manager-1-ignition"),
    step("replace", SWARM, "homelab-swarm-init"),
    step("replace", "homelab:index:Homelab$tls:index/privateKey:PrivateKey", "homelab-deploy-key", "tls:index/privateKey:PrivateKey"),
    step("replace", "homelab:index:Homelab$homelab:platform:Platform$homelab:platform:Tls$tls:index/privateKey:PrivateKey", "homelab-platform-tls-ca-key", "tls:index/privateKey:PrivateKey"),
    step("delete", STACK, "homelab-platform-vaultwarden-deploy"),
  ]);
  expect(held.verdict).toBe("hold");
  expect(held.verdict !== "apply" && held.reasons).toEqual([
    "node swarm-worker-1: delete of homelab-swarm-swarm-worker-1-membership (the Pi would be drained, leave or rejoin the swarm)",
    "node swarm-worker-1: delete of homelab-swarm-swarm-worker-1-departure (the Pi would be drained, leave or rejoin the swarm)",
    "node swarm-manager-2: replace of homelab-swarm-swarm-manager-2-join (the Pi would be drained, leave or rejoin the swarm)",
    "node swarm-manager-1: delete of homelab-swarm-manager-1-ignition (the node itself or its Ignition: a Pi removed or to be reflashed)",
    "the swarm: replace of homelab-swarm-init (it would be formed anew)",
    "the deploy key: replace of homelab-deploy-key (every node would have to be reflashed)",
    "the homelab CA: replace of homelab-platform-tls-ca-key (every device would have to trust a new CA)",
    "stack vaultwarden: removed (its services keep data in volumes; the volumes stay, the app goes)",
  ]);
  // The wildcard certificate's key is rotated freely: no device trusts it directly.
  expect(gate([step("replace", "homelab:index:Homelab$homelab:platform:Platform$homelab:platform:Tls$tls:index/privateKey:PrivateKey", "homelab-platform-tls-wildcard-key", "tls:index/privateKey:PrivateKey")]).verdict).toBe("apply");
  // Updates of a node's steps (a label change) are applied.
  expect(gate([step("update", SWARM, "homelab-swarm-swarm-worker-1-membership")]).verdict).toBe("apply");
});

test("a node's resources are held back even when its name is not known (preview --json lists only changing steps)", () => {
  const held = gatePreview({ exitCode: 0, json: { steps: [step("replace", "homelab:node:Node$command:local:Command", "fixture-w9-ignition"), step("delete", SWARM, "homelab-swarm-w9-join")] } }, [], STATEFUL);
  expect(held).toEqual({
    verdict: "hold",
    summary: "1 to replace, 1 to delete",
    reasons: ["a node: replace of fixture-w9-ignition (the node itself or its Ignition: a Pi removed or to be reflashed)", "a node: delete of homelab-swarm-w9-join (the Pi would be drained, leave or rejoin the swarm)"],
  });
});

test("a preview that failed, or reported an error, is refused with its message", () => {
  expect(gatePreview({ exitCode: 255, stderr: "error: Invalid stack config (1 problem)\n  - homelab:nodes[0].address: …" }, NODES, STATEFUL)).toEqual({
    verdict: "refuse",
    summary: "the preview failed",
    reasons: ["error: Invalid stack config (1 problem)\n  - homelab:nodes[0].address: …"],
  });
  expect(gatePreview({ exitCode: 0, json: { steps: [], diagnostics: [{ severity: "warning", message: "w" }, { severity: "error", message: "stack dns was not deployed" }] } }, NODES, STATEFUL)).toMatchObject({ verdict: "refuse", reasons: ["stack dns was not deployed"] });
  expect(gatePreview({ exitCode: 0 }, NODES, STATEFUL)).toMatchObject({ verdict: "refuse", reasons: ["pulumi preview exited 0"] });
});
