import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { loadStackConfigFile } from "./load";
import { ConfigError, ConfigIssue } from "./reader";
import { parseBackupSchedule } from "./duration";
import { DEFAULT_BACKUP_REPOSITORY, DEFAULT_ZRAM_MIB, DEFAULTS } from "./schema";
import { validateConfig } from "./validate";
import { secretConfigKeys } from "./pulumi";
import { RawConfig, RawNode, STACKS, USER_KEY, newEd25519PublicKey, sshKeygenPair, stackFile, validRaw } from "../tests/fixtures";

/** The issues a config is rejected with; fails the test when it is accepted. */
function rejection(raw: Record<string, unknown>): readonly ConfigIssue[] {
  try {
    validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error("config was accepted but should have been rejected");
}

function edited(edit: (c: RawConfig) => void): RawConfig {
  const c = validRaw();
  edit(c);
  return c;
}

const node = (c: RawConfig, i: number): RawNode => c.nodes[i];
const privatePair = sshKeygenPair();
const [keyType, keyBody] = USER_KEY.split(" ");
const rsaBodyLike = newEd25519PublicKey().split(" ")[1];
const clusterSnippet = (c: RawConfig, snippet: Record<string, unknown>) => {
  c.snippets = [snippet];
};
const unit = (u: Record<string, unknown>) => ({ units: [u] });
const file = (f: Record<string, unknown>) => ({ files: [{ contents: "x\n", ...f }] });

interface BadCase {
  what: string;
  edit: (c: RawConfig) => void;
  /** The exact config key the error must name. */
  key: string;
  /** Words (case-insensitive) the message must contain besides "Fix". */
  words: readonly (string | RegExp)[];
}

const cases: BadCase[] = [
  // Topology
  { what: "duplicate node names", edit: (c) => void (node(c, 1).name = "swarm-manager-1"), key: "homelab:nodes[1].name", words: ["swarm-manager-1", "already used", "homelab:nodes[0]"] },
  { what: "duplicate addresses", edit: (c) => void (node(c, 3).address = "192.168.99.102"), key: "homelab:nodes[3].address", words: ["192.168.99.102", "already used", "homelab:nodes[1]"] },
  { what: "address outside the subnet", edit: (c) => void (node(c, 0).address = "192.168.100.101"), key: "homelab:nodes[0].address", words: ["outside", "192.168.99.0/24"] },
  { what: "address = network address", edit: (c) => void (node(c, 0).address = "192.168.99.0"), key: "homelab:nodes[0].address", words: ["network or broadcast", "host address"] },
  { what: "address = broadcast address", edit: (c) => void (node(c, 2).address = "192.168.99.255"), key: "homelab:nodes[2].address", words: ["network or broadcast"] },
  { what: "address = gateway", edit: (c) => void (node(c, 1).address = "192.168.99.1"), key: "homelab:nodes[1].address", words: ["gateway", "unused address"] },
  { what: "address with an octet over 255", edit: (c) => void (node(c, 0).address = "192.168.99.300"), key: "homelab:nodes[0].address", words: ["192.168.99.300", "not an IPv4 address"] },
  { what: "address with a prefix", edit: (c) => void (node(c, 0).address = "192.168.99.101/24"), key: "homelab:nodes[0].address", words: ["not an IPv4 address", "no prefix"] },
  { what: "address with a leading zero", edit: (c) => void (node(c, 0).address = "192.168.99.011"), key: "homelab:nodes[0].address", words: ["not an IPv4 address"] },
  { what: "address as a number", edit: (c) => void (node(c, 0).address = 3232260965), key: "homelab:nodes[0].address", words: ["expected a string"] },
  { what: "missing address", edit: (c) => void delete node(c, 2).address, key: "homelab:nodes[2].address", words: ["required"] },
  { what: "zero managers", edit: (c) => c.nodes.forEach((n) => (n.role = "worker")), key: "homelab:nodes", words: ["no node has role manager", "role: manager"] },
  { what: "empty nodes", edit: (c) => void (c.nodes = []), key: "homelab:nodes", words: ["no nodes"] },
  { what: "missing nodes", edit: (c) => void delete (c as Record<string, unknown>).nodes, key: "homelab:nodes", words: ["no nodes"] },
  { what: "nodes as a map", edit: (c) => void ((c as Record<string, unknown>).nodes = { "swarm-manager-1": "192.168.99.101" }), key: "homelab:nodes", words: ["expected a list"] },
  { what: "a node that is not a map", edit: (c) => void ((c.nodes as unknown[])[3] = "swarm-worker-1"), key: "homelab:nodes[3]", words: ["expected a map"] },
  {
    what: "8 managers with staggered reboots",
    edit: (c) => void (c.nodes = Array.from({ length: 8 }, (_, i) => ({ name: `m${i}`, role: "manager", address: `192.168.99.${10 + i}` }))),
    key: "homelab:updates.rebootStrategy",
    words: ["at most 7 managers"],
  },

  // Network
  { what: "subnet with host bits set", edit: (c) => void (c.network.subnet = "192.168.99.5/24"), key: "homelab:network.subnet", words: ["CIDR", "host bits zero"] },
  { what: "subnet /33", edit: (c) => void (c.network.subnet = "192.168.99.0/33"), key: "homelab:network.subnet", words: ["not a network in CIDR form"] },
  { what: "subnet garbage", edit: (c) => void (c.network.subnet = "my lan"), key: "homelab:network.subnet", words: ['"my lan"', "CIDR"] },
  { what: "subnet without prefix", edit: (c) => void (c.network.subnet = "192.168.99.0"), key: "homelab:network.subnet", words: ["CIDR"] },
  { what: "missing subnet", edit: (c) => void delete c.network.subnet, key: "homelab:network.subnet", words: ["required", "192.168.99.0/24"] },
  { what: "gateway outside the subnet", edit: (c) => void (c.network.gateway = "192.168.1.1"), key: "homelab:network.gateway", words: ["outside", "192.168.99.0/24"] },
  { what: "malformed gateway", edit: (c) => void (c.network.gateway = "192.168.99"), key: "homelab:network.gateway", words: ["not an IPv4 address"] },
  { what: "blank gateway", edit: (c) => void (c.network.gateway = "  "), key: "homelab:network.gateway", words: ["is required"] },
  { what: "gateway = network address", edit: (c) => void (c.network.gateway = "192.168.99.0"), key: "homelab:network.gateway", words: ["network or broadcast", "router"] },
  { what: "gateway = broadcast address", edit: (c) => void (c.network.gateway = "192.168.99.255"), key: "homelab:network.gateway", words: ["network or broadcast"] },
  { what: "malformed DNS server", edit: (c) => void (c.network.dns = ["192.168.99.1", "dns.quad9.net"]), key: "homelab:network.dns[1]", words: ["not an IPv4 address"] },
  { what: "interface pattern with spaces", edit: (c) => void (c.network.interface = "en* eth*"), key: "homelab:network.interface", words: ["spaces"] },
  { what: "network as a string", edit: (c) => void ((c as Record<string, unknown>).network = "192.168.99.0/24"), key: "homelab:network", words: ["expected a map"] },

  // Names
  { what: "uppercase hostname", edit: (c) => void (node(c, 0).name = "Swarm-Manager-1"), key: "homelab:nodes[0].name", words: ["not a valid hostname", "lowercase"] },
  { what: "hostname with underscore", edit: (c) => void (node(c, 0).name = "swarm_manager_1"), key: "homelab:nodes[0].name", words: ["not a valid hostname"] },
  { what: "hostname with leading dash", edit: (c) => void (node(c, 0).name = "-swarm"), key: "homelab:nodes[0].name", words: ["not a valid hostname", "not starting or ending"] },
  { what: "hostname of 64 characters", edit: (c) => void (node(c, 0).name = "a".repeat(64)), key: "homelab:nodes[0].name", words: ["not a valid hostname", "at most 63"] },
  { what: "hostname with a dot (an FQDN)", edit: (c) => void (node(c, 0).name = "swarm-manager-1.home.arpa"), key: "homelab:nodes[0].name", words: ["not a valid hostname"] },
  { what: "missing name", edit: (c) => void delete node(c, 1).name, key: "homelab:nodes[1].name", words: ["required"] },
  { what: "domain with underscore", edit: (c) => void (c.domain = "home_lab.arpa"), key: "homelab:domain", words: ["not a DNS domain", "home.arpa"] },
  { what: "domain with empty label", edit: (c) => void (c.domain = "home..arpa"), key: "homelab:domain", words: ["not a DNS domain"] },
  { what: "domain with leading dash", edit: (c) => void (c.domain = "-home.arpa"), key: "homelab:domain", words: ["not a DNS domain"] },
  { what: "domain as a number", edit: (c) => void (c.domain = 42), key: "homelab:domain", words: ["expected a non-empty string"] },

  // SSH keys: the message names the key's list position and never repeats secret text.
  { what: "SSH key of unknown type", edit: (c) => void (c.ssh.authorizedKeys = [`ssh-dss ${keyBody}`]), key: "homelab:ssh.authorizedKeys[0]", words: ['unknown key type "ssh-dss"', ".pub"] },
  { what: "SSH key without type", edit: (c) => void (c.ssh.authorizedKeys = [keyBody]), key: "homelab:ssh.authorizedKeys[0]", words: ["unknown key type"] },
  { what: "SSH key with bad base64", edit: (c) => void (c.ssh.authorizedKeys = [`${keyType} AAAA!!notbase64`]), key: "homelab:ssh.authorizedKeys[0]", words: ["not base64"] },
  { what: "SSH key without body", edit: (c) => void (c.ssh.authorizedKeys = [keyType]), key: "homelab:ssh.authorizedKeys[0]", words: ["not base64"] },
  { what: "SSH key body of another type", edit: (c) => void (c.ssh.authorizedKeys = [`ssh-rsa ${rsaBodyLike} me@laptop`]), key: "homelab:ssh.authorizedKeys[0]", words: ["does not match", "ssh-rsa"] },
  { what: "SSH key truncated", edit: (c) => void (c.ssh.authorizedKeys = [`${keyType} ${keyBody.slice(0, 40)} me@laptop`]), key: "homelab:ssh.authorizedKeys[0]", words: ["truncated"] },
  { what: "SSH key cut by one character", edit: (c) => void (c.ssh.authorizedKeys = [`${keyType} ${keyBody.slice(0, -1)}`]), key: "homelab:ssh.authorizedKeys[0]", words: ["truncated"] },
  { what: "second SSH key broken", edit: (c) => void (c.ssh.authorizedKeys = [USER_KEY, "ssh-ed25519"]), key: "homelab:ssh.authorizedKeys[1]", words: ["not base64"] },
  { what: "two keys on one line", edit: (c) => void (c.ssh.authorizedKeys = [`${USER_KEY}\n${USER_KEY}`]), key: "homelab:ssh.authorizedKeys[0]", words: ["single line"] },
  { what: "SSH private key pasted", edit: (c) => void (c.ssh.authorizedKeys = [privatePair.privateKey]), key: "homelab:ssh.authorizedKeys[0]", words: ["PRIVATE key", "leaked"] },
  {
    what: "one line of a private key's body pasted",
    edit: (c) => void (c.ssh.authorizedKeys = [privatePair.privateKey.split("\n")[1]]),
    key: "homelab:ssh.authorizedKeys[0]",
    words: ["PRIVATE key"],
  },
  { what: "authorizedKeys as a string", edit: (c) => void (c.ssh.authorizedKeys = USER_KEY), key: "homelab:ssh.authorizedKeys", words: ["expected a list"] },
  { what: "waitMinutes negative", edit: (c) => void (c.ssh.waitMinutes = -5), key: "homelab:ssh.waitMinutes", words: ["-5", "positive number of minutes"] },
  { what: "waitMinutes zero", edit: (c) => void (c.ssh.waitMinutes = 0), key: "homelab:ssh.waitMinutes", words: ["positive number of minutes"] },
  { what: "waitMinutes not a number", edit: (c) => void (c.ssh.waitMinutes = "soon"), key: "homelab:ssh.waitMinutes", words: ['"soon"', "minutes"] },
  { what: "waitMinutes with a unit", edit: (c) => void (c.ssh.waitMinutes = "30m"), key: "homelab:ssh.waitMinutes", words: ["minutes"] },

  // Enumerations
  { what: "unknown arch", edit: (c) => void (c.arch = "armv7"), key: "homelab:arch", words: ["armv7", "arm64, amd64"] },
  { what: "unknown role", edit: (c) => void (node(c, 3).role = "leader"), key: "homelab:nodes[3].role", words: ["leader", "manager, worker"] },
  { what: "missing role", edit: (c) => void delete node(c, 3).role, key: "homelab:nodes[3].role", words: ["required", "role: manager"] },
  { what: "bad availability", edit: (c) => void (node(c, 3).availability = "paused"), key: "homelab:nodes[3].availability", words: ["paused", "active, pause, drain"] },

  // Updates
  { what: "bad reboot strategy", edit: (c) => void (c.updates.rebootStrategy = "etcd-lock"), key: "homelab:updates.rebootStrategy", words: ["etcd-lock", "staggered, reboot, off"] },
  { what: "reboot strategy read as YAML 1.1 boolean", edit: (c) => void (c.updates.rebootStrategy = false), key: "homelab:updates.rebootStrategy", words: ["boolean false"] },
  { what: "bad update group", edit: (c) => void (c.updates.group = "edge"), key: "homelab:updates.group", words: ["stable, beta, alpha, lts"] },
  { what: "negative windowLength", edit: (c) => void (c.updates.windowLength = "-1h"), key: "homelab:updates.windowLength", words: ["not positive"] },
  { what: "zero windowLength", edit: (c) => void (c.updates.windowLength = "0m"), key: "homelab:updates.windowLength", words: ["not positive"] },
  { what: "malformed windowLength", edit: (c) => void (c.updates.windowLength = "1 hour"), key: "homelab:updates.windowLength", words: ["not a duration", "1h30m"] },
  { what: "windowLength in days", edit: (c) => void (c.updates.windowLength = "1d"), key: "homelab:updates.windowLength", words: ["not a duration"] },
  { what: "windowLength of a day", edit: (c) => void (c.updates.windowLength = "24h"), key: "homelab:updates.windowLength", words: ["too long", "shorter than a day"] },
  {
    what: "windowLength of a week with a weekday start",
    edit: (c) => Object.assign(c.updates, { rebootStrategy: "reboot", windowStart: "Sun 03:00", windowLength: "168h" }),
    key: "homelab:updates.windowLength",
    words: ["too long", "shorter than a week"],
  },
  { what: "windowStart not a time", edit: (c) => void (c.updates.windowStart = "3am"), key: "homelab:updates.windowStart", words: ['"3am"', "HH:MM"] },
  { what: "windowStart hour 24", edit: (c) => void (c.updates.windowStart = "24:00"), key: "homelab:updates.windowStart", words: ["not a time"] },
  { what: "windowStart with seconds", edit: (c) => void (c.updates.windowStart = "03:00:00"), key: "homelab:updates.windowStart", words: ["not a time"] },
  { what: "windowStart with a weekday under staggered", edit: (c) => void (c.updates.windowStart = "Mon 03:00"), key: "homelab:updates.windowStart", words: ["weekday", "own day"] },
  { what: "windowStart as a YAML 1.1 sexagesimal number", edit: (c) => void (c.updates.windowStart = 180), key: "homelab:updates.windowStart", words: ["expected a non-empty string"] },

  // Unknown keys at every level, with a suggestion for a near miss.
  { what: "unknown top-level key", edit: (c) => void (c.nodez = []), key: "homelab:nodez", words: ["unknown setting", 'did you mean "nodes"?'] },
  { what: "unknown network key", edit: (c) => void (c.network.gatway = "192.168.99.1"), key: "homelab:network.gatway", words: ['did you mean "gateway"?'] },
  { what: "unknown ssh key", edit: (c) => void (c.ssh.authorizedKey = []), key: "homelab:ssh.authorizedKey", words: ['did you mean "authorizedKeys"?'] },
  { what: "unknown updates key", edit: (c) => void (c.updates.strategy = "off"), key: "homelab:updates.strategy", words: ["unknown setting"] },
  { what: "unknown node key", edit: (c) => void (node(c, 0).adress = "192.168.99.101"), key: "homelab:nodes[0].adress", words: ['did you mean "address"?'] },
  { what: "unrelated unknown node key", edit: (c) => void (node(c, 0).gpu = true), key: "homelab:nodes[0].gpu", words: ["allowed keys:", "address"] },
  { what: "unknown snippet key", edit: (c) => clusterSnippet(c, { file: [] }), key: "homelab:snippets[0].file", words: ['did you mean "files"?'] },
  { what: "unknown snippet file key", edit: (c) => clusterSnippet(c, file({ path: "/etc/motd", contens: "x" })), key: "homelab:snippets[0].files[0].contens", words: ['did you mean "contents"?'] },
  { what: "unknown snippet unit key", edit: (c) => clusterSnippet(c, unit({ name: "a.service", enable: true })), key: "homelab:snippets[0].units[0].enable", words: ['did you mean "enabled"?'] },
  {
    what: "unknown drop-in key",
    edit: (c) => clusterSnippet(c, unit({ name: "a.service", dropins: [{ name: "10-a.conf", content: "[Service]" }] })),
    key: "homelab:snippets[0].units[0].dropins[0].content",
    words: ['did you mean "contents"?'],
  },

  // Labels, zram, ports
  { what: "label key with a space", edit: (c) => void (node(c, 3).labels = { "fast disk": "yes" }), key: "homelab:nodes[3].labels.fast disk", words: ["not a valid label key"] },
  { what: "label value with a space", edit: (c) => void (node(c, 3).labels = { storage: "solid state" }), key: "homelab:nodes[3].labels.storage", words: ["spaces", "plain word"] },
  { what: "label value with shell characters", edit: (c) => void (node(c, 3).labels = { storage: "$(reboot)" }), key: "homelab:nodes[3].labels.storage", words: ["shell characters"] },
  { what: "label value a map", edit: (c) => void (node(c, 3).labels = { storage: { kind: "ssd" } }), key: "homelab:nodes[3].labels.storage", words: ["plain text"] },
  { what: "labels as a list", edit: (c) => void (node(c, 3).labels = ["storage=ssd"]), key: "homelab:nodes[3].labels", words: ["expected a map"] },
  { what: "zram as text", edit: (c) => void (node(c, 3).zram = "yes"), key: "homelab:nodes[3].zram", words: ['"yes"', "size in MiB"] },
  { what: "zram negative", edit: (c) => void (node(c, 3).zram = -512), key: "homelab:nodes[3].zram", words: ["-512", "between 1 and"] },
  { what: "zram fractional", edit: (c) => void (node(c, 3).zram = 1.5), key: "homelab:nodes[3].zram", words: ["1.5"] },
  { what: "zram too big", edit: (c) => void (node(c, 3).zram = 100000), key: "homelab:nodes[3].zram", words: ["100000"] },
  { what: "sshPort zero", edit: (c) => void (node(c, 0).sshPort = 0), key: "homelab:nodes[0].sshPort", words: ["TCP port between 1 and 65535"] },
  { what: "sshPort too big", edit: (c) => void (node(c, 0).sshPort = 70000), key: "homelab:nodes[0].sshPort", words: ["70000"] },
  { what: "sshPort fractional", edit: (c) => void (node(c, 0).sshPort = 22.5), key: "homelab:nodes[0].sshPort", words: ["22.5"] },
  { what: "sshPort a name", edit: (c) => void (node(c, 0).sshPort = "ssh"), key: "homelab:nodes[0].sshPort", words: ['"ssh"'] },

  // Snippets
  { what: "snippet file with relative path", edit: (c) => clusterSnippet(c, file({ path: "etc/motd" })), key: "homelab:snippets[0].files[0].path", words: ["not an absolute path"] },
  { what: "snippet file with .. in path", edit: (c) => clusterSnippet(c, file({ path: "/etc/../root/x" })), key: "homelab:snippets[0].files[0].path", words: ["not an absolute path", ".."] },
  { what: "snippet file with a double slash", edit: (c) => clusterSnippet(c, file({ path: "/etc//motd" })), key: "homelab:snippets[0].files[0].path", words: ["not a simplified path", 'write "/etc/motd"'] },
  { what: "snippet file with a trailing slash", edit: (c) => clusterSnippet(c, file({ path: "/etc/motd.d/" })), key: "homelab:snippets[0].files[0].path", words: ['write "/etc/motd.d"'] },
  { what: "snippet file sneaking past a managed path", edit: (c) => clusterSnippet(c, file({ path: "/etc/./hostname" })), key: "homelab:snippets[0].files[0].path", words: ["not a simplified path"] },
  { what: "snippet file under read-only /usr", edit: (c) => clusterSnippet(c, file({ path: "/usr/local/bin/backup" })), key: "homelab:snippets[0].files[0].path", words: ["read-only", "/opt/bin"] },
  { what: "snippet file at /etc/hostname", edit: (c) => clusterSnippet(c, file({ path: "/etc/hostname" })), key: "homelab:snippets[0].files[0].path", words: ["written by homelab"] },
  { what: "snippet file at update.conf", edit: (c) => clusterSnippet(c, file({ path: "/etc/flatcar/update.conf" })), key: "homelab:snippets[0].files[0].path", words: ["written by homelab"] },
  { what: "snippet file at the docker wants link", edit: (c) => clusterSnippet(c, file({ path: "/etc/systemd/system/multi-user.target.wants/docker.service" })), key: "homelab:snippets[0].files[0].path", words: ["written by homelab"] },
  { what: "snippet file mode unquoted (YAML number)", edit: (c) => clusterSnippet(c, file({ path: "/etc/motd", mode: 644 })), key: "homelab:snippets[0].files[0].mode", words: ["644", "quote it", '"0644"'] },
  { what: "snippet file mode not octal", edit: (c) => clusterSnippet(c, file({ path: "/etc/motd", mode: "0999" })), key: "homelab:snippets[0].files[0].mode", words: ["not an octal mode"] },
  { what: "snippet file mode symbolic", edit: (c) => clusterSnippet(c, file({ path: "/etc/motd", mode: "rw-r--r--" })), key: "homelab:snippets[0].files[0].mode", words: ["not an octal mode"] },
  { what: "snippet file without contents", edit: (c) => clusterSnippet(c, { files: [{ path: "/etc/motd" }] }), key: "homelab:snippets[0].files[0].contents", words: ["contents: |"] },
  { what: "snippet file without path", edit: (c) => clusterSnippet(c, { files: [{ contents: "x" }] }), key: "homelab:snippets[0].files[0].path", words: ["required"] },
  { what: "snippet overwrite not boolean", edit: (c) => clusterSnippet(c, file({ path: "/etc/motd", overwrite: "sometimes" })), key: "homelab:snippets[0].files[0].overwrite", words: ["true or false"] },
  { what: "snippet unit with bad name", edit: (c) => clusterSnippet(c, unit({ name: "backup", enabled: true })), key: "homelab:snippets[0].units[0].name", words: ['"backup"', "not a systemd unit name"] },
  { what: "snippet unit with nothing to do", edit: (c) => clusterSnippet(c, unit({ name: "backup.timer" })), key: "homelab:snippets[0].units[0]", words: ["does nothing"] },
  { what: "snippet replacing docker.service", edit: (c) => clusterSnippet(c, unit({ name: "docker.service", contents: "[Service]\n" })), key: "homelab:snippets[0].units[0].contents", words: ["managed by homelab", "drop-in"] },
  { what: "snippet masking docker.service", edit: (c) => clusterSnippet(c, unit({ name: "docker.service", mask: true })), key: "homelab:snippets[0].units[0].mask", words: ["every swarm node"] },
  { what: "snippet disabling docker.service", edit: (c) => clusterSnippet(c, unit({ name: "docker.service", enabled: false })), key: "homelab:snippets[0].units[0].enabled", words: ["every swarm node"] },
  {
    what: "snippet unit enabled without [Install]",
    edit: (c) => clusterSnippet(c, unit({ name: "backup.service", enabled: true, contents: "[Service]\nExecStart=/opt/bin/backup\n" })),
    key: "homelab:snippets[0].units[0].enabled",
    words: ["no [Install] section", "WantedBy=multi-user.target"],
  },
  { what: "snippet drop-in not .conf", edit: (c) => clusterSnippet(c, unit({ name: "docker.service", dropins: [{ name: "10-limits", contents: "[Service]" }] })), key: "homelab:snippets[0].units[0].dropins[0].name", words: [".conf"] },
  { what: "snippet drop-in without contents", edit: (c) => clusterSnippet(c, unit({ name: "docker.service", dropins: [{ name: "10-limits.conf" }] })), key: "homelab:snippets[0].units[0].dropins[0].contents", words: ["required"] },
  { what: "snippets as a map", edit: (c) => void (c.snippets = { files: [] }), key: "homelab:snippets", words: ["expected a list"] },

  // Platform
  { what: "memoryMiB too small", edit: (c) => void (node(c, 1).memoryMiB = 128), key: "homelab:nodes[1].memoryMiB", words: ["RAM in MiB", "2048"] },
  { what: "memoryMiB with a unit", edit: (c) => void (node(c, 1).memoryMiB = "2G"), key: "homelab:nodes[1].memoryMiB", words: ["2G"] },
  { what: "network without a name", edit: (c) => void ((c as any).platform = { networks: [{ encrypted: true }] }), key: "homelab:platform.networks[0].name", words: ["required", "traefik-public"] },
  { what: "network name with capitals", edit: (c) => void ((c as any).platform = { networks: [{ name: "Traefik" }] }), key: "homelab:platform.networks[0].name", words: ["Traefik", "lower-case"] },
  { what: "network listed twice", edit: (c) => void ((c as any).platform = { networks: [{ name: "a" }, { name: "a" }] }), key: "homelab:platform.networks[1].name", words: ["twice"] },
  { what: "network encryption not a boolean", edit: (c) => void ((c as any).platform = { networks: [{ name: "a", encrypted: "yes" }] }), key: "homelab:platform.networks[0].encrypted", words: ["true or false"] },
  { what: "stack listed twice", edit: (c) => void ((c as any).platform = { stacks: ["whoami", "whoami"] }), key: "homelab:platform.stacks[1]", words: ["twice"] },
  { what: "stack name with a slash", edit: (c) => void ((c as any).platform = { stacks: ["../etc"] }), key: "homelab:platform.stacks[0]", words: ["folder of stacks/"] },
  { what: "internal range not a CIDR", edit: (c) => void ((c as any).platform = { traefik: { internalRanges: ["10.1.0.0"] } }), key: "homelab:platform.traefik.internalRanges[0]", words: ["CIDR"] },
  { what: "dashboard host with a dot", edit: (c) => void ((c as any).platform = { traefik: { dashboardHost: "traefik.lab" } }), key: "homelab:platform.traefik.dashboardHost", words: ["one DNS label"] },
  { what: "DNS upstream with a space", edit: (c) => void ((c as any).platform = { dns: { upstreams: ["9.9.9.9 1.1.1.1"] } }), key: "homelab:platform.dns.upstreams[0]", words: ["resolver"] },
  { what: "no DNS upstream", edit: (c) => void ((c as any).platform = { dns: { upstreams: [] } }), key: "homelab:platform.dns.upstreams", words: ["at least one resolver"] },
  { what: "retention time without a unit", edit: (c) => void ((c as any).platform = { monitoring: { retention: { time: "30" } } }), key: "homelab:platform.monitoring.retention.time", words: ["Prometheus duration", "30d"] },
  { what: "retention size in GiB", edit: (c) => void ((c as any).platform = { monitoring: { retention: { size: "4GiB" } } }), key: "homelab:platform.monitoring.retention.size", words: ["4GiB", "4GB"] },
  { what: "ntfy server with the topic in it", edit: (c) => void ((c as any).platform = { monitoring: { ntfy: { server: "https://ntfy.sh/mytopic?x=1" } } }), key: "homelab:platform.monitoring.ntfy.server", words: ["homelab:ntfyTopic"] },
  { what: "ntfy server not a URL", edit: (c) => void ((c as any).platform = { monitoring: { ntfy: { server: "ntfy.sh" } } }), key: "homelab:platform.monitoring.ntfy.server", words: ["https://ntfy.sh"] },
  { what: "JIT as a list", edit: (c) => void ((c as any).platform = { jit: ["mealie/mealie"] }), key: "homelab:platform.jit", words: ["<stack>/<service>"] },
  { what: "JIT entry without a stack", edit: (c) => void ((c as any).platform = { jit: { mealie: { idle: "1h" } } }), key: "homelab:platform.jit.mealie", words: ["<stack>/<service>"] },
  { what: "JIT idle too short", edit: (c) => void ((c as any).platform = { jit: { "mealie/mealie": { idle: "10s" } } }), key: "homelab:platform.jit.mealie/mealie.idle", words: ["a minute or more"] },
  { what: "backup schedule not a time", edit: (c) => void ((c as any).platform = { backup: { schedule: "25:00" } }), key: "homelab:platform.backup.schedule", words: ['expected HH:MM (24 h) or a duration such as 6h, got "25:00"', '"03:00"'] },
  { what: "backup schedule as a number", edit: (c) => void ((c as any).platform = { backup: { schedule: 3 } }), key: "homelab:platform.backup.schedule", words: ["expected a non-empty string", "6h"] },
  { what: "backup every 5 minutes", edit: (c) => void ((c as any).platform = { backup: { schedule: "5m" } }), key: "homelab:platform.backup.schedule", words: ["every 5m is too often", "15m to 168h"] },
  { what: "backup every 200 hours", edit: (c) => void ((c as any).platform = { backup: { schedule: "200h" } }), key: "homelab:platform.backup.schedule", words: ["every 200h is too rare"] },
  { what: "backup repository not restic's", edit: (c) => void ((c as any).platform = { backup: { repository: "minio.home.arpa/backups" } }), key: "homelab:platform.backup.repository", words: ['"minio.home.arpa/backups" is not a restic repository the backups support', "s3:https://", "leave it out for the cluster's MinIO"] },
  { what: "backup retention negative", edit: (c) => void ((c as any).platform = { backup: { retention: { daily: -1 } } }), key: "homelab:platform.backup.retention.daily", words: ["number -1 is not valid", "whole number of daily snapshots"] },
  { what: "backup retention fractional", edit: (c) => void ((c as any).platform = { backup: { retention: { monthly: 1.5 } } }), key: "homelab:platform.backup.retention.monthly", words: ["1.5 is not valid", "e.g. 6"] },
  { what: "backup retention all zero", edit: (c) => void ((c as any).platform = { backup: { retention: { daily: 0, weekly: 0, monthly: 0 } } }), key: "homelab:platform.backup.retention", words: ["keeps no snapshot", "daily: 7", "homelab:platform.backup to false"] },
  { what: "backup retention unknown kind", edit: (c) => void ((c as any).platform = { backup: { retention: { yearly: 2 } } }), key: "homelab:platform.backup.retention.yearly", words: ["unknown setting"] },
  { what: "backup repository a local path", edit: (c) => void ((c as any).platform = { backup: { repository: "/srv/restic" } }), key: "homelab:platform.backup.repository", words: ["is a local path", "a different repository on every node", "sftp:backup@nas.home.arpa:/srv/restic"] },
  { what: "backup repository of a backend without credentials support", edit: (c) => void ((c as any).platform = { backup: { repository: "b2:bucket:path" } }), key: "homelab:platform.backup.repository", words: ["(s3:, sftp: or rest:)"] },
  { what: "backup REST URL with a password", edit: (c) => void ((c as any).platform = { backup: { repository: "rest:https://u:hunter2@nas:8000/" } }), key: "homelab:platform.backup.repository", words: ["password in the URL", "plain config"] },
  { what: "backup sftp without known hosts", edit: (c) => void ((c as any).platform = { backup: { repository: "sftp:b@nas:/r" } }), key: "homelab:platform.backup.knownHosts", words: ["is needed for an sftp: repository", "ssh-keyscan -t ed25519"] },
  { what: "backup known hosts not a key line", edit: (c) => void ((c as any).platform = { backup: { repository: "sftp:b@nas:/r", knownHosts: ["nas"] } }), key: "homelab:platform.backup.knownHosts[0]", words: ["is not a known_hosts line", "ssh-keyscan"] },
  { what: "backup known hosts without sftp", edit: (c) => void ((c as any).platform = { backup: { knownHosts: ["nas ssh-ed25519 AAAA"] } }), key: "homelab:platform.backup.knownHosts", words: ["only for an sftp: repository"] },
  { what: "backup exclude without its stack", edit: (c) => void ((c as any).platform = { backup: { exclude: ["data"] } }), key: "homelab:platform.backup.exclude[0]", words: ['"data" is not a volume as Swarm names it', "<stack>_<volume>", "mealie_data"] },
  { what: "backup exclude listed twice", edit: (c) => void ((c as any).platform = { backup: { exclude: ["mealie_data", "mealie_data"] } }), key: "homelab:platform.backup.exclude[1]", words: ['"mealie_data" is listed twice'] },
  { what: "backup exclude not a list", edit: (c) => void ((c as any).platform = { backup: { exclude: "mealie_data" } }), key: "homelab:platform.backup.exclude", words: ["expected a list", "[mealie_data]"] },
  { what: "backup as a word", edit: (c) => void ((c as any).platform = { backup: "daily" }), key: "homelab:platform.backup", words: ["expected a map of settings"] },
  { what: "unknown backup key", edit: (c) => void ((c as any).platform = { backup: { keep: 7 } }), key: "homelab:platform.backup.keep", words: ["unknown setting"] },
  { what: "gitops without a repository", edit: (c) => void ((c as any).platform = { gitops: { backend: "s3://state" } }), key: "homelab:platform.gitops.repository", words: ["is required", "https://"] },
  { what: "gitops over ssh", edit: (c) => void ((c as any).platform = { gitops: { repository: "git@github.com:me/homelab.git", backend: "s3://state" } }), key: "homelab:platform.gitops.repository", words: ["is not an https:// URL", "no ssh client", "homelab:gitopsToken"] },
  { what: "gitops token in the URL", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://me:ghp_x@github.com/me/homelab.git", backend: "s3://state" } }), key: "homelab:platform.gitops.repository", words: ["holds a user or token in the URL", "pulumi config set --secret homelab:gitopsToken"] },
  { what: "gitops branch with a space", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://h/r.git", branch: "my branch", backend: "s3://state" } }), key: "homelab:platform.gitops.branch", words: ['"my branch" is not a branch name'] },
  { what: "gitops polls every 10 s", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://h/r.git", interval: "10s", backend: "s3://state" } }), key: "homelab:platform.gitops.interval", words: ["from 1m to 24h", '"10s"', "webhooks start a run at once"] },
  { what: "gitops state in a file", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://h/r.git", backend: "file:///home/me/.pulumi" } }), key: "homelab:platform.gitops.backend", words: ["is not an s3:// backend", "lives on one machine only"] },
  { what: "gitops without a backend", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://h/r.git" } }), key: "homelab:platform.gitops.backend", words: ["is required", "s3://homelab-pulumi"] },
  { what: "gitops backend with its key", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://h/r.git", backend: "s3://state?endpoint=nas:9000&secret_key=x" } }), key: "homelab:platform.gitops.backend", words: ["holds a credential", "homelab:gitopsBackendSecretAccessKey"] },
  { what: "unknown gitops key", edit: (c) => void ((c as any).platform = { gitops: { repository: "https://h/r.git", backend: "s3://state", url: "x" } }), key: "homelab:platform.gitops.url", words: ["unknown setting"] },
  { what: "unknown platform key", edit: (c) => void ((c as any).platform = { stack: ["whoami"] }), key: "homelab:platform.stack", words: ["unknown setting", "stacks"] },
  {
    what: "node snippet with relative path",
    edit: (c) => void (node(c, 2).snippets = [file({ path: "motd" })]),
    key: "homelab:nodes[2].snippets[0].files[0].path",
    words: ["not an absolute path"],
  },
];

describe("validateConfig rejects", () => {
  test.each(cases)("$what", ({ edit, key, words }) => {
    const issues = rejection(edited(edit));
    const issue = issues.find((i) => i.key === key);
    if (!issue) throw new Error(`no issue for ${key}; got:\n${issues.map((i) => `${i.key}: ${i.message}`).join("\n")}`);
    expect(issue.message).toMatch(/Fix: /);
    for (const word of words) {
      const pattern = typeof word === "string" ? new RegExp(word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i") : word;
      expect(issue.message).toMatch(pattern);
    }
    // Every problem reported alongside must also tell the owner what to do.
    for (const other of issues) expect(other.message).toMatch(/Fix: /);
  });
});

describe("validateConfig on secrets", () => {
  test("a pasted private key is never echoed, in the issue or in the error text", () => {
    const raw = edited((c) => void (c.ssh.authorizedKeys = [privatePair.privateKey]));
    let caught: unknown;
    try {
      validateConfig(raw);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const text = `${(caught as ConfigError).message}\n${JSON.stringify((caught as ConfigError).issues)}`;
    const body = privatePair.privateKey.split("\n").filter((line) => line !== "" && !line.startsWith("-----"));
    expect(body.length).toBeGreaterThan(0);
    for (const line of body) expect(text).not.toContain(line);
    for (const line of body) expect(text).not.toContain(line.slice(0, 20));
  });

  test("keys made by ssh-keygen and by node's crypto are accepted", () => {
    const { config } = validateConfig(edited((c) => void (c.ssh.authorizedKeys = [sshKeygenPair().publicKey, USER_KEY])));
    expect(config.ssh.authorizedKeys).toEqual([sshKeygenPair().publicKey, USER_KEY]);
  });
});

describe("validateConfig", () => {
  test("reports several problems at once, each under its own key", () => {
    const issues = rejection(
      edited((c) => {
        c.domain = "Bad_Domain";
        c.network.gateway = "10.0.0.1";
        node(c, 1).address = "192.168.99.300";
        node(c, 2).name = "swarm-manager-1";
        c.updates.windowLength = "forever";
      }),
    );
    expect(issues.map((i) => i.key).sort()).toEqual(
      ["homelab:domain", "homelab:network.gateway", "homelab:nodes[1].address", "homelab:nodes[2].name", "homelab:updates.windowLength"].sort(),
    );
  });

  test("the error text lists every key and says nothing was changed", () => {
    let message = "";
    try {
      validateConfig(edited((c) => ((c.arch = "riscv"), (node(c, 0).role = "boss"))));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/\(2 problems\); nothing was rendered or changed/);
    expect(message).toContain("homelab:arch");
    expect(message).toContain("homelab:nodes[0].role");
  });

  test("an even number of managers is a warning, not an error", () => {
    const { config, warnings } = validateConfig(edited((c) => void (node(c, 3).role = "manager")));
    expect(config.nodes.filter((n) => n.role === "manager")).toHaveLength(4);
    expect(warnings).toEqual([{ key: "homelab:nodes", message: expect.stringMatching(/4 managers.*even number.*Consider 3 or 5/) }]);
  });

  test("a .local domain is a warning (mDNS), not an error", () => {
    const { config, warnings } = validateConfig(edited((c) => void (c.domain = "homelab.local")));
    expect(config.domain).toBe("homelab.local");
    expect(warnings).toEqual([{ key: "homelab:domain", message: expect.stringMatching(/mDNS.*home\.arpa/) }]);
  });

  test("the valid fixture has no warnings", () => {
    expect(validateConfig(validRaw()).warnings).toEqual([]);
  });

  test("applies the documented defaults to a minimal config", () => {
    const { config, warnings } = validateConfig({
      network: { subnet: "10.0.0.0/24", gateway: "10.0.0.1" },
      nodes: [{ name: "pi", role: "manager", address: "10.0.0.2" }],
    });
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      domain: DEFAULTS.domain,
      arch: DEFAULTS.arch,
      network: { subnet: "10.0.0.0/24", gateway: "10.0.0.1", dns: ["10.0.0.1"], interfaceMatch: DEFAULTS.interfaceMatch, ntp: [] },
      ssh: { authorizedKeys: [], waitMinutes: DEFAULTS.waitMinutes },
      updates: { rebootStrategy: DEFAULTS.rebootStrategy, windowStart: DEFAULTS.windowStart, windowLength: DEFAULTS.windowLength, group: DEFAULTS.group },
      snippets: [],
      nodes: [{ name: "pi", role: "manager", address: "10.0.0.2", sshPort: DEFAULTS.sshPort, availability: DEFAULTS.availability, labels: {}, zramMiB: 0, snippets: [], memoryMiB: 2048 }],
      platform: {
        networks: [
          { name: "traefik-public", encrypted: false },
          { name: "monitoring", encrypted: false },
        ],
        stacks: ["traefik", "dns", "monitoring", "vaultwarden", "forgejo", "mealie", "minio", "homeassistant"],
        traefik: { internalRanges: [], publicLane: false, dashboardHost: "traefik" },
        dns: { upstreams: ["9.9.9.9", "149.112.112.112"] },
        monitoring: { retention: { time: "30d", size: "4GB" }, ntfyServer: "https://ntfy.sh" },
        jit: [
          { service: "vaultwarden/vaultwarden", idle: "30m" },
          { service: "forgejo/forgejo", idle: "60m" },
          { service: "mealie/mealie", idle: "60m" },
          { service: "minio/minio", idle: "30m" },
        ],
        backup: { schedule: "03:00", repository: DEFAULT_BACKUP_REPOSITORY, retention: { daily: 7, weekly: 4, monthly: 6 }, exclude: [], knownHosts: [] },
        gitops: false,
      },
    });
    // The defaults themselves are what the docs promise.
    expect(DEFAULTS).toEqual({
      domain: "home.arpa",
      arch: "arm64",
      interfaceMatch: "en*",
      waitMinutes: 30,
      rebootStrategy: "staggered",
      windowStart: "03:00",
      windowLength: "1h",
      group: "stable",
      sshPort: 22,
      memoryMiB: 2048,
      dashboardHost: "traefik",
      availability: "active",
    });
  });

  test("JIT entries add to the seed's four, replace one's timeout, or keep one always on", () => {
    const { config } = validateConfig(edited((c) => void ((c as any).platform = { jit: { "mealie/mealie": false, "minio/minio": { idle: "2h" }, "whoami/whoami": { idle: "5m" } } })));
    expect(config.platform.jit).toEqual([
      { service: "vaultwarden/vaultwarden", idle: "30m" },
      { service: "forgejo/forgejo", idle: "60m" },
      { service: "minio/minio", idle: "2h" },
      { service: "whoami/whoami", idle: "5m" },
    ]);
  });

  test("gitops: off unless set; a map fills in the branch and the interval", () => {
    const gitops = (value: unknown) => validateConfig(edited((c) => void ((c as any).platform = { gitops: value }))).config.platform.gitops;
    expect(gitops(undefined)).toBe(false);
    expect(gitops(false)).toBe(false);
    expect(gitops({ repository: "https://forgejo.home.arpa/me/homelab.git", backend: "s3://homelab-pulumi?endpoint=nas:9000&s3ForcePathStyle=true" })).toEqual({
      repository: "https://forgejo.home.arpa/me/homelab.git",
      branch: "main",
      interval: "5m",
      backend: "s3://homelab-pulumi?endpoint=nas:9000&s3ForcePathStyle=true",
    });
  });

  test("backup: false switches backups off, true takes the defaults, a partial map fills in the rest", () => {
    const backup = (value: unknown) => validateConfig(edited((c) => void ((c as any).platform = { backup: value }))).config.platform.backup;
    expect(backup(false)).toBe(false);
    expect(backup(true)).toEqual({ schedule: "03:00", repository: DEFAULT_BACKUP_REPOSITORY, retention: { daily: 7, weekly: 4, monthly: 6 }, exclude: [], knownHosts: [] });
    expect(backup({ schedule: "6h", repository: "s3:https://s3.example.org/homelab", retention: { daily: 0, monthly: 12 }, exclude: ["mealie_data", "monitoring_prometheus-data"] })).toEqual({
      schedule: "6h",
      repository: "s3:https://s3.example.org/homelab",
      retention: { daily: 0, weekly: 4, monthly: 12 },
      exclude: ["mealie_data", "monitoring_prometheus-data"],
      knownHosts: [],
    });
    expect(backup({ repository: "sftp:backup@nas:/srv/restic", knownHosts: ["nas ssh-ed25519 AAAAC3Nza "] })).toMatchObject({ schedule: "03:00", repository: "sftp:backup@nas:/srv/restic", knownHosts: ["nas ssh-ed25519 AAAAC3Nza"] });
  });

  test("a backup schedule is a daily time or an interval", () => {
    expect(parseBackupSchedule("03:00")).toEqual({ kind: "daily", hour: 3, minute: 0 });
    expect(parseBackupSchedule("23:59")).toEqual({ kind: "daily", hour: 23, minute: 59 });
    expect(parseBackupSchedule("6h")).toEqual({ kind: "every", seconds: 6 * 3600 });
    expect(parseBackupSchedule("1h30m")).toEqual({ kind: "every", seconds: 5400 });
    for (const bad of ["24:00", "3:00", "03:60", "daily", ""]) expect(parseBackupSchedule(bad)).toBeUndefined();
  });

  test("reads zram, labels, sshPort and snippets as written", () => {
    const { config } = validateConfig(
      edited((c) => {
        Object.assign(node(c, 3), { zram: 512, labels: { storage: "ssd", "homelab.volume": 1 }, sshPort: "2222", availability: "drain" });
        node(c, 2).zram = true;
        c.snippets = [{ files: [{ path: "/etc/motd.d/homelab.conf", contents: "hi\n", mode: "0600" }], units: [{ name: "docker.service", dropins: [{ name: "10-x.conf", contents: "[Service]\nLimitNOFILE=1048576\n" }] }] }];
      }),
    );
    expect(config.nodes[3]).toMatchObject({ zramMiB: 512, labels: { storage: "ssd", "homelab.volume": "1" }, sshPort: 2222, availability: "drain" });
    expect(config.nodes[2].zramMiB).toBe(DEFAULT_ZRAM_MIB);
    expect(config.snippets[0].files[0]).toEqual({ path: "/etc/motd.d/homelab.conf", contents: "hi\n", mode: 0o600, overwrite: true });
    expect(config.snippets[0].units[0]).toEqual({ name: "docker.service", contents: undefined, enabled: undefined, mask: undefined, dropins: [{ name: "10-x.conf", contents: "[Service]\nLimitNOFILE=1048576" }] });
  });

  test("an unquoted YAML mode is rejected even though it parses", () => {
    const snippet = YAML.parse("files:\n  - path: /etc/motd\n    contents: hi\n    mode: 0644\n") as Record<string, unknown>;
    const issues = rejection(edited((c) => clusterSnippet(c, snippet)));
    expect(issues).toEqual([{ key: "homelab:snippets[0].files[0].mode", message: expect.stringContaining("quote it") }]);
  });
});

describe("loadStackConfigFile", () => {
  const expected = {
    homelab: ["192.168.99.101", "192.168.99.102", "192.168.99.103", "192.168.99.111"],
    lab: ["10.213.99.101", "10.213.99.102", "10.213.99.103", "10.213.99.111"],
  };

  test.each(STACKS)("loads the committed Pulumi.%s.yaml: 3 managers and 1 worker", (stack) => {
    const { config, warnings } = loadStackConfigFile(stackFile(stack));
    expect(warnings).toEqual([]);
    expect(config.nodes.map((n) => [n.name, n.role, n.address])).toEqual([
      ["swarm-manager-1", "manager", expected[stack][0]],
      ["swarm-manager-2", "manager", expected[stack][1]],
      ["swarm-manager-3", "manager", expected[stack][2]],
      ["swarm-worker-1", "worker", expected[stack][3]],
    ]);
  });

  test("a YAML syntax error names the line but does not quote a pasted private key", () => {
    const { privateKey } = sshKeygenPair();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-yaml-"));
    try {
      const file = path.join(dir, "Pulumi.broken.yaml");
      fs.writeFileSync(file, `config:\n  homelab:ssh:\n    authorizedKeys:\n      - ${privateKey}`);
      let message = "";
      try {
        loadStackConfigFile(file);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/is not valid YAML: .* at line \d+, column \d+\. Fix: /);
      for (const line of privateKey.split("\n").filter((l) => l !== "" && !l.startsWith("-----"))) expect(message).not.toContain(line);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a missing file names the flag to use", () => {
    expect(() => loadStackConfigFile("/nonexistent/Pulumi.x.yaml")).toThrow(/Fix: pass --stack NAME/);
  });
});

describe("config secrets beside the settings", () => {
  test("a key held as a secret is not an unknown setting; the same key in plain text is", () => {
    const withKey = edited((c) => void ((c as any).backupSshKey = "-----BEGIN OPENSSH PRIVATE KEY-----"));
    expect(() => validateConfig(withKey, ["backupSshKey"])).not.toThrow();
    expect(rejection(withKey)).toEqual([{ key: "homelab:backupSshKey", message: expect.stringContaining("unknown setting") }]);
  });

  test("the language host's PULUMI_CONFIG_SECRET_KEYS names them; a stack config file marks them secure:", () => {
    expect(secretConfigKeys({ PULUMI_CONFIG_SECRET_KEYS: '["homelab:backupSshKey","aws:secretKey","homelab:ntfyTopic"]' })).toEqual(["backupSshKey", "ntfyTopic"]);
    expect(secretConfigKeys({})).toEqual([]);
    expect(secretConfigKeys({ PULUMI_CONFIG_SECRET_KEYS: "not json" })).toEqual([]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "secret-keys-"));
    try {
      const file = path.join(dir, "Pulumi.x.yaml");
      const doc = YAML.parse(fs.readFileSync(stackFile("homelab"), "utf8"));
      doc.config["homelab:backupSshKey"] = { secure: "v1:abc:def" };
      fs.writeFileSync(file, YAML.stringify(doc));
      expect(() => loadStackConfigFile(file)).not.toThrow();
      doc.config["homelab:backupSshKey"] = "plain text";
      fs.writeFileSync(file, YAML.stringify(doc));
      expect(() => loadStackConfigFile(file)).toThrow(/homelab:backupSshKey: unknown setting/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
