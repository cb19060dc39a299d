/**
 * Renders every node's Ignition file without the Pulumi CLI:
 *   npm run render -- --stack homelab --out out/homelab
 *   npm run render -- --config path/to/Pulumi.x.yaml --out DIR [--authorized-key-file key.pub ...]
 * Writes DIR/ignition/<node>.ign. Exits non-zero, writing nothing, when the config is invalid.
 */
import * as fs from "fs";
import * as path from "path";
import { loadStackConfigFile } from "../config/load";
import { sshPublicKeyProblem } from "../config/sshKey";
import { renderClusterIgnition } from "../ignition/node";

interface RenderArgs {
  configPath: string;
  outDir: string;
  keyFiles: string[];
}

const USAGE = "usage: npm run render -- (--stack NAME | --config FILE) --out DIR [--authorized-key-file FILE.pub]...";

function parseArgs(argv: string[]): RenderArgs {
  let configPath: string | undefined;
  let outDir: string | undefined;
  const keyFiles: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--help" || flag === "-h") {
      console.log(USAGE);
      process.exit(0);
    }
    if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value. ${USAGE}`);
    i++;
    if (flag === "--stack") configPath = `Pulumi.${value}.yaml`;
    else if (flag === "--config") configPath = value;
    else if (flag === "--out") outDir = value;
    else if (flag === "--authorized-key-file") keyFiles.push(value);
    else throw new Error(`unknown option ${flag}. ${USAGE}`);
  }
  if (!configPath) throw new Error(`say which config: --stack NAME or --config FILE. ${USAGE}`);
  if (!outDir) throw new Error(`say where to write: --out DIR. ${USAGE}`);
  return { configPath, outDir, keyFiles };
}

function readKeyFile(file: string): string {
  const key = fs.readFileSync(file, "utf8").trim();
  const problem = sshPublicKeyProblem(key);
  if (problem) throw new Error(`--authorized-key-file ${file}: ${problem}.`);
  return key;
}

function main(argv: string[]): number {
  try {
    const args = parseArgs(argv);
    const { config, warnings } = loadStackConfigFile(args.configPath);
    for (const w of warnings) console.error(`warning: ${w.key}: ${w.message}`);
    const extraAuthorizedKeys = args.keyFiles.map(readKeyFile);
    if (config.ssh.authorizedKeys.length + extraAuthorizedKeys.length === 0) {
      throw new Error(
        "No SSH key would let anyone log in as core. Fix: set homelab:ssh.authorizedKeys in the stack config, or pass --authorized-key-file ~/.ssh/id_ed25519.pub.",
      );
    }
    const files = renderClusterIgnition(config, { extraAuthorizedKeys });
    const dir = path.join(args.outDir, "ignition");
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, json] of Object.entries(files)) {
      const file = path.join(dir, `${name}.ign`);
      fs.writeFileSync(file, json);
      console.log(file);
    }
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
}

process.exit(main(process.argv.slice(2)));
