/**
 * Renders every node's Ignition file and every listed stack without the Pulumi CLI:
 *   npm run render -- --stack homelab --out out/homelab
 *   npm run render -- --config path/to/Pulumi.x.yaml --out DIR [--authorized-key-file key.pub ...]
 * Writes DIR/ignition/<node>.ign and DIR/stacks/<stack>.yml (the compose text `pulumi up` deploys;
 * secret names end in a placeholder, since their fingerprints come from values only Pulumi holds).
 * Exits non-zero, writing nothing, when the config or a stack is invalid.
 */
import * as fs from "fs";
import * as path from "path";
import { contentFingerprint, objectName } from "../compose/names";
import { renderStack } from "../compose/render";
import { StackSource } from "../compose/types";
import { loadStackConfigFile } from "../config/load";
import { ConfigError } from "../config/reader";
import { loadStacks } from "../config/stacks";
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

const STACKS_DIR = path.join(__dirname, "..", "stacks");
/** Stands for a secret name's fingerprint (an HMAC of its value under a salt only the state holds). */
const SECRET_PLACEHOLDER = "VALUEHMAC";

/** A stack as deployed, but for secret names: their fingerprints need the values (Pulumi's). */
function renderForReading(source: StackSource, domain: string): string {
  const configs = Object.fromEntries(source.configs.map((c) => [c.key, objectName(source.name, c.key, contentFingerprint(c.content))]));
  const secrets = Object.fromEntries(source.secrets.map((s) => [s.key, `${source.name}_${s.key}-${SECRET_PLACEHOLDER}`]));
  const header = `# Rendered by \`npm run render\`: what \`pulumi up\` deploys, except that secret names end in\n# ${SECRET_PLACEHOLDER} where \`pulumi up\` puts a fingerprint of their values (only the state holds those).\n`;
  return header + renderStack(source, { configs, secrets }, { domain });
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
    // Secrets set with `pulumi config set --secret` are not visible here: `pulumi up` checks them.
    const stacks = loadStacks(config, STACKS_DIR, () => true).map((source) => [source.name, renderForReading(source, config.domain)] as const);
    const dir = path.join(args.outDir, "ignition");
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, json] of Object.entries(files)) {
      const file = path.join(dir, `${name}.ign`);
      fs.writeFileSync(file, json);
      console.log(file);
    }
    if (stacks.length > 0) fs.mkdirSync(path.join(args.outDir, "stacks"), { recursive: true });
    for (const [name, text] of stacks) {
      const file = path.join(args.outDir, "stacks", `${name}.yml`);
      fs.writeFileSync(file, text);
      console.log(file);
    }
    return 0;
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : (err as Error).message);
    return 1;
  }
}

process.exit(main(process.argv.slice(2)));
