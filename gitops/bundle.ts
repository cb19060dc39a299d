/**
 * The runner as one JavaScript file (gitops/main.ts and what it imports, Node's own modules left
 * out), for the Swarm config stacks/gitops mounts: the cluster runs the runner of the commit the
 * platform deployed, never code fetched by the runner itself. esbuild (docs/dependencies.md):
 * synchronous, deterministic for a given input, and it needs no tsc build step.
 */
import * as esbuild from "esbuild";
import * as path from "path";

/** The Node.js the runner's image has at least (pulumi/pulumi-nodejs ships a current LTS). */
const TARGET = "node18";

export function bundleRunner(): string {
  const result = esbuild.buildSync({
    // main.ts starts itself when it is the program run (require.main === module), which it is in
    // the bundle: esbuild keeps an ES module at the bundle's top level (compose/gitops.test.ts
    // starts the bundle and would see a second start fail on the port).
    entryPoints: [path.join(__dirname, "main.ts")],
    bundle: true,
    platform: "node",
    target: TARGET,
    format: "cjs",
    write: false,
    logLevel: "silent",
    // Paths in the bundle relative to the project, so it is the same from any checkout.
    absWorkingDir: path.join(__dirname, ".."),
    legalComments: "none",
    charset: "utf8",
  });
  return `// homelab GitOps runner (gitops/main.ts), bundled by gitops/bundle.ts\n${result.outputFiles[0].text}`;
}
