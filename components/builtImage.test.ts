/**
 * The image step (swarm/scripts/image.sh, components/builtImage.ts): the script run for real on
 * this host's dockerd as a node runs it (bash -s with the preamble on stdin), and what the program
 * reads from its output. Not covered here: over SSH on a swarm node (tests/e2e/gitops-cluster).
 */
import { spawnSync } from "child_process";
import { parseImageResult } from "./builtImage";
import { scriptInvocation } from "../swarm/scripts";

const TAG = `homelab-test/built-image:${process.pid}`;

function imageScript(dockerfile: string): { status: number | null; stdout: string; stderr: string } {
  const script = scriptInvocation("image", [TAG], `HOMELAB_IMAGE_DOCKERFILE='${Buffer.from(dockerfile).toString("base64")}'`);
  const r = spawnSync("bash", ["-s", "--", TAG], { input: script.stdin, encoding: "utf8", env: { ...process.env, DOCKER_BUILDKIT: "0" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const docker = (...args: string[]) => spawnSync("docker", args, { encoding: "utf8" });

afterAll(() => docker("rmi", "-f", TAG));

describe("image.sh on a real dockerd", () => {
  beforeAll(() => docker("rmi", "-f", TAG));

  test("builds the tag from the Dockerfile once, then finds it present; a failed build says why and exits 0", () => {
    // FROM scratch needs no registry, which this host cannot reach.
    const first = imageScript("FROM scratch\nLABEL org.example.purpose=test\n");
    expect([first.status, first.stdout]).toEqual([0, "image=built\n"]);
    expect(docker("image", "inspect", "--format", '{{index .Config.Labels "homelab.built"}} {{index .Config.Labels "org.example.purpose"}}', TAG).stdout.trim()).toBe("true test");
    const again = imageScript("FROM scratch\nLABEL org.example.purpose=test\n");
    expect([again.status, again.stdout]).toEqual([0, "image=present\n"]);
    docker("rmi", "-f", TAG);
    // scratch has no shell for RUN.
    const failed = imageScript("FROM scratch\nRUN true\n");
    expect(failed.status).toBe(0);
    expect(parseImageResult(`reachable=true\n${failed.stdout}`)).toEqual({ image: "failed", reason: expect.stringMatching(/\S/) });
    expect(docker("image", "inspect", TAG).status).not.toBe(0);
  }, 60_000);
});

describe("what the program reads", () => {
  test("present, built, failed with its reason, and a node that did not answer", () => {
    expect(parseImageResult("reachable=true\nimage=present\n")).toEqual({ image: "present" });
    expect(parseImageResult("reachable=true\nimage=built\n")).toEqual({ image: "built" });
    expect(parseImageResult("reachable=true\nimage=failed\nreason=pull access denied \n")).toEqual({ image: "failed", reason: "pull access denied" });
    expect(parseImageResult("reachable=true\n")).toEqual({ image: "failed", reason: "image.sh printed no result" });
    expect(parseImageResult("reachable=false\n")).toEqual({ image: "unreachable" });
  });
});
