/**
 * lab:down removes everything lab:up made (containers, network and its bridge, firewall rules, node
 * data, out/lab), twice in a row without error, and keeps the image cache; lab:up afterwards gives
 * fresh nodes within seconds. Runs last (tests/lab/sequencer.js) and leaves a fresh lab running for
 * whatever comes next (bin/test-all.sh tears it down at the end).
 */
import * as fs from "fs";
import { LAB, labPaths } from "../../lab/config";
import { run } from "../../lab/exec";
import { imageTag, labDown } from "../../lab/lab";
import { ensureLab, seconds } from "./helpers";

async function leftovers(): Promise<Record<string, string[]>> {
  const lines = (s: string) => s.split("\n").map((l) => l.trim()).filter(Boolean);
  const containers = await run("docker", ["ps", "-a", "--filter", `label=${LAB.label}=node`, "--format", "{{.Names}}"]);
  const networks = await run("docker", ["network", "ls", "--filter", `name=^${LAB.network}$`, "--format", "{{.Name}}"]);
  const links = await run("ip", ["-o", "link", "show"]);
  const addrs = await run("ip", ["-o", "-4", "addr", "show"]);
  const rules = await run("iptables-save", []);
  const routes = await run("ip", ["-4", "route", "show"]);
  const p = labPaths();
  return {
    containers: lines(containers.stdout),
    networks: lines(networks.stdout),
    links: lines(links.stdout).filter((l) => l.includes(LAB.bridge)),
    addresses: lines(addrs.stdout).filter((l) => l.includes("10.213.99.")),
    routes: lines(routes.stdout).filter((l) => l.includes("10.213.99.")),
    iptables: lines(rules.stdout).filter((l) => /HOMELAB-LAB|hl-lab0|10\.213\.99\./.test(l)),
    paths: [p.state, p.out].filter((d) => fs.existsSync(d)),
  };
}

const nothing = { containers: [], networks: [], links: [], addresses: [], routes: [], iptables: [], paths: [] };

test("lab:down leaves nothing behind, is idempotent, keeps the image; lab:up comes back fresh", async () => {
  await ensureLab();
  const before = await leftovers();
  expect(before.containers).toHaveLength(4);
  expect(before.iptables.length).toBeGreaterThan(0);

  let t0 = Date.now();
  await labDown();
  process.stderr.write(`[lab] lab:down: ${seconds(t0).toFixed(1)} s\n`);
  expect(await leftovers()).toEqual(nothing);
  await labDown(); // again: nothing to do, no error
  expect(await leftovers()).toEqual(nothing);
  expect((await run("docker", ["image", "inspect", imageTag()], { allowFail: true })).code).toBe(0);

  t0 = Date.now();
  const inv = await ensureLab();
  const up = seconds(t0);
  process.stderr.write(`[lab] lab:up after lab:down (image cached): ${up.toFixed(1)} s\n`);
  expect(inv.nodes).toHaveLength(4);
  expect(up).toBeLessThan(60);
});
