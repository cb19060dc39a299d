import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { joinTokenPreamble, parseKeyValues, scriptCommandLine, scriptInvocation } from "./scripts";

/** Every shell file of the project: the swarm scripts, the local probe wrapper, bin/ and lab/ helpers. */
function shellFiles(): string[] {
  const root = path.join(__dirname, "..");
  const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.sh"], { cwd: root }).toString();
  return out.split("\n").filter((f) => f !== "" && fs.existsSync(path.join(root, f))).map((f) => path.join(root, f));
}

describe("node scripts", () => {
  test("every .sh file passes shellcheck", () => {
    const files = shellFiles();
    expect(files.some((f) => f.endsWith("swarm/scripts/join.sh"))).toBe(true);
    const result = spawnSync("shellcheck", ["-s", "bash", ...files], { encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  test("an invocation is bash -s with the arguments; the script, not the secret, decides the command", () => {
    const inv = scriptInvocation("join", ["10.0.0.1", "10.0.0.2"], joinTokenPreamble("SWMTKN-1-abc-def"));
    expect(inv.command).toBe("bash -s -- 10.0.0.1 10.0.0.2");
    expect(inv.stdin.startsWith("set -euo pipefail\nHOMELAB_JOIN_TOKEN='SWMTKN-1-abc-def'\n")).toBe(true);
    expect(inv.stdin).toContain("wait_for_docker()");
  });

  test("arguments that would need quoting are refused", () => {
    expect(() => scriptInvocation("remove", ["a; rm -rf /"])).toThrow(/unsafe argument/);
    expect(() => joinTokenPreamble("SWMTKN-1'; echo pwned")).toThrow(/malformed/);
  });

  test("the command-line form runs the same script with its arguments", () => {
    // A stub `docker` on PATH answers as a node outside any swarm, so remove.sh exits early.
    const dir = fs.mkdtempSync("/tmp/homelab-stub-");
    fs.writeFileSync(path.join(dir, "docker"), '#!/bin/sh\ncase "$*" in *ControlAvailable*) echo false;; *) echo inactive;; esac\n', { mode: 0o755 });
    const result = spawnSync("bash", ["-c", scriptCommandLine("remove", ["swarm-worker-1"])], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
    fs.rmSync(dir, { recursive: true });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("no longer manages a swarm");
  });

  test.each([
    ["true", "", 1, /exists with encrypted=''; the config wants encrypted=true/],
    ["false", "on", 1, /exists with encrypted='on'; the config wants encrypted=false/],
    ["true", "on", 0, /network traefik-public exists/],
    ["false", "", 0, /network traefik-public exists/],
  ])("network.sh ensure, config encrypted=%s, network encrypted='%s': exit %d", (wanted, have, status, message) => {
    // A stub `docker`: a manager whose network traefik-public exists with the given encryption option.
    const dir = fs.mkdtempSync("/tmp/homelab-stub-");
    const stub = `#!/bin/sh
case "$*" in *ControlAvailable*) echo true;; *'index .Options'*) echo '${have}';; *'.Id'*) echo net-id;; "network inspect"*) exit 0;; *) echo active;; esac
`;
    fs.writeFileSync(path.join(dir, "docker"), stub, { mode: 0o755 });
    const { command, stdin } = scriptInvocation("network", ["ensure", "traefik-public", wanted]);
    const result = spawnSync("bash", ["-c", command], { input: stdin, encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    fs.rmSync(dir, { recursive: true });
    expect(result.status).toBe(status);
    expect(result.stderr).toMatch(message);
  });

  test.each([
    ["the swarm it joined", "swarm-a", /left the swarm/, true],
    ["a swarm formed anew since", "swarm-b", /is in swarm swarm-b now, not in swarm-a it joined; staying/, false],
    ["no swarm ID at all (quorum lost: the other managers left first)", "", /left the swarm/, true],
  ])("leave.sh on a manager in %s", (_what, current, message, leaves) => {
    // A stub `docker`: an active manager whose cluster ID is `current`; `swarm leave` is recorded.
    const dir = fs.mkdtempSync("/tmp/homelab-stub-");
    const stub = `#!/bin/sh
case "$*" in *ControlAvailable*) echo true;; *Cluster.ID*) echo '${current}';; "swarm leave"*) touch ${dir}/left;; *) echo active;; esac
`;
    fs.writeFileSync(path.join(dir, "docker"), stub, { mode: 0o755 });
    const { command, stdin } = scriptInvocation("leave", ["unreachable", "swarm-a"]);
    const result = spawnSync("bash", ["-c", command], { input: stdin, encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    const left = fs.existsSync(path.join(dir, "left"));
    fs.rmSync(dir, { recursive: true });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(message);
    expect(left).toBe(leaves);
  });

  test.each([
    ["twice refused as out of sequence, then accepted", "out", 0, /drained swarm-worker-1/],
    ["refused for another reason", "other", 1, /no such node/],
  ])("drain.sh with the node update %s", (_what, failure, status, message) => {
    // A stub `docker`: a manager; `node update` fails twice (as `failure` says), then succeeds.
    const dir = fs.mkdtempSync("/tmp/homelab-stub-");
    const stub = `#!/bin/sh
case "$*" in
  *ControlAvailable*) echo true;;
  "node ls"*) echo "id1 swarm-worker-1";;
  "node update"*)
    n=$(cat ${dir}/tries 2>/dev/null || echo 0); echo $((n + 1)) >${dir}/tries
    if [ "$n" -lt 2 ]; then
      if [ "${failure}" = out ]; then echo "Error response from daemon: rpc error: code = Unknown desc = update out of sequence" >&2; else echo "Error: no such node: id1" >&2; fi
      exit 1
    fi;;
  "node ps"*) ;;
  "node inspect"*) echo worker;;
  *) echo active;;
esac
`;
    fs.writeFileSync(path.join(dir, "docker"), stub, { mode: 0o755 });
    const { command, stdin } = scriptInvocation("drain", ["swarm-worker-1"]);
    const result = spawnSync("bash", ["-c", command], { input: stdin, encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    const tries = Number(fs.readFileSync(path.join(dir, "tries"), "utf8"));
    fs.rmSync(dir, { recursive: true });
    expect(result.status).toBe(status);
    expect(result.stderr).toMatch(message);
    expect(tries).toBe(status === 0 ? 3 : 1);
  });

  test("key=value output parses", () => {
    expect(parseKeyValues("a=1\nb=x=y\n\nnoise\n")).toEqual({ a: "1", b: "x=y" });
  });
});
