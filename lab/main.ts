/**
 * `npm run lab`, the newcomer's main job: start the lab, `pulumi up` the lab stack against it (the
 * lab boots from the Ignition files that run writes), print the outputs and how to get in.
 */
import { labPulumi, upWithLab } from "./stack";

const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);

async function main(): Promise<void> {
  const t0 = Date.now();
  const pulumi = await labPulumi(log);
  log("pulumi up (stack lab) ...");
  const { inventory } = await upWithLab(pulumi, log, { stream: true });
  const outputs = await pulumi(["stack", "output"]);
  process.stdout.write(outputs.stdout);
  const first = inventory.nodes[0];
  process.stdout.write(
    [
      "",
      `The lab is up (${((Date.now() - t0) / 1000).toFixed(0)} s). Try:`,
      `  ssh -i ${first.privateKeyPath} -o UserKnownHostsFile=${first.knownHostsPath} core@${first.address} docker node ls`,
      "  npm run lab:pulumi -- preview     # any pulumi command against the lab stack",
      "  npm run lab:down    # remove the lab",
      "",
    ].join("\n"),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`[lab] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
