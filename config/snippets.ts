import * as posixPath from "path/posix";
import { MANAGED_PATHS, MANAGED_UNITS } from "./managed";
import { Snippet, SnippetFile, SnippetUnit } from "./schema";
import { IssueList, MapReader, describe } from "./reader";

const UNIT_NAME = /^[A-Za-z0-9:_.@-]+\.(service|socket|timer|path|mount|automount|target|slice|swap)$/;
const DROPIN_NAME = /^[A-Za-z0-9:_.@-]+\.conf$/;

function parseMode(issues: IssueList, key: string, raw: unknown): number {
  if (raw === undefined || raw === null) return 0o644;
  if (typeof raw !== "string" || !/^0?[0-7]{3,4}$/.test(raw)) {
    issues.error(key, `${describe(raw)} is not an octal mode string. Fix: quote it, e.g. mode: "0644" (a bare 0644 in YAML is read as decimal 644).`);
    return 0o644;
  }
  return parseInt(raw, 8);
}

function parseFile(issues: IssueList, key: string, value: unknown): SnippetFile | undefined {
  const r = MapReader.of(issues, key, value);
  const path = r.requiredString("path", "give an absolute path, e.g. /etc/motd.d/homelab.conf");
  const contents = r.raw("contents");
  if (typeof contents !== "string") {
    issues.error(r.child("contents"), `expected the file's text, got ${describe(contents)}. Fix: write contents: | followed by the text.`);
  }
  const mode = parseMode(issues, r.child("mode"), r.raw("mode"));
  const overwrite = r.boolean("overwrite", true);
  r.rejectUnknownKeys();
  if (path === undefined) return undefined;
  const simplified = posixPath.normalize(path).replace(/(.)\/$/, "$1");
  if (!path.startsWith("/") || path.split("/").includes("..")) {
    issues.error(r.child("path"), `"${path}" is not an absolute path. Fix: start it with / and leave out "..".`);
  } else if (simplified !== path) {
    // Ignition refuses the whole config at first boot ("path is not fully simplified").
    issues.error(r.child("path"), `"${path}" is not a simplified path (Ignition rejects it). Fix: write "${simplified}".`);
  } else if (path === "/usr" || path.startsWith("/usr/")) {
    // /usr is Flatcar's read-only, dm-verity protected partition: writing there fails Ignition and the node never comes up.
    issues.error(r.child("path"), `${path} is under /usr, which is read-only on Flatcar (first boot would fail). Fix: put programs in /opt/bin and settings under /etc.`);
  } else if (MANAGED_PATHS.includes(path)) {
    issues.error(r.child("path"), `${path} is written by homelab itself. Fix: use the matching homelab setting instead of a snippet.`);
  }
  return typeof contents === "string" ? { path, contents, mode, overwrite } : undefined;
}

function parseUnit(issues: IssueList, key: string, value: unknown): SnippetUnit | undefined {
  const r = MapReader.of(issues, key, value);
  const name = r.requiredString("name", "name the unit, e.g. backup.timer");
  const contents = r.raw("contents");
  if (contents !== undefined && typeof contents !== "string") {
    issues.error(r.child("contents"), `expected the unit file's text, got ${describe(contents)}. Fix: contents: | then the unit.`);
  }
  const enabled = r.raw("enabled") === undefined ? undefined : r.boolean("enabled", false);
  const mask = r.raw("mask") === undefined ? undefined : r.boolean("mask", false);
  const dropins = r.list("dropins", "list drop-ins as {name: 10-x.conf, contents: ...}").flatMap((item) => {
    const d = MapReader.of(issues, item.key, item.value);
    const dropinName = d.requiredString("name", "name the drop-in, e.g. 10-limits.conf");
    const text = d.requiredString("contents", "give the drop-in's text");
    d.rejectUnknownKeys();
    if (dropinName !== undefined && !DROPIN_NAME.test(dropinName)) {
      issues.error(d.child("name"), `"${dropinName}" is not a drop-in file name. Fix: end it in .conf, e.g. 10-limits.conf.`);
    }
    return dropinName !== undefined && text !== undefined ? [{ name: dropinName, contents: text }] : [];
  });
  r.rejectUnknownKeys();
  if (name === undefined) return undefined;
  if (!UNIT_NAME.test(name)) {
    issues.error(r.child("name"), `"${name}" is not a systemd unit name. Fix: use a name like backup.service or backup.timer.`);
  } else if (MANAGED_UNITS.includes(name) && contents !== undefined) {
    issues.error(r.child("contents"), `${name} is managed by homelab. Fix: add a drop-in instead of replacing the unit.`);
  }
  if (MANAGED_UNITS.includes(name) && (enabled === false || mask === true)) {
    // Every node needs docker at boot to join the swarm; a snippet must not switch it off.
    issues.error(r.child(mask === true ? "mask" : "enabled"), `${name} must run on every swarm node. Fix: remove this setting (use a drop-in to change how it runs).`);
  }
  if (typeof contents === "string" && enabled === true && !/^\s*\[Install\]/m.test(contents)) {
    // Ignition only warns, and systemctl enable then does nothing: the unit would never start.
    issues.error(r.child("enabled"), `${name} is enabled but its contents have no [Install] section, so it would never start. Fix: add [Install] with e.g. WantedBy=multi-user.target.`);
  }
  if (contents === undefined && enabled === undefined && mask === undefined && dropins.length === 0) {
    issues.error(key, `unit ${name} does nothing. Fix: give contents, enabled, mask or dropins.`);
  }
  return { name, contents: typeof contents === "string" ? contents : undefined, enabled, mask, dropins };
}

/** Parses a list of snippets (`homelab:snippets` or a node's `snippets`). */
export function parseSnippets(issues: IssueList, parent: MapReader, name: string): Snippet[] {
  return parent.list(name, "list snippets, each with files: and/or units:").map((item) => {
    const r = MapReader.of(issues, item.key, item.value);
    const files = r.list("files", "list files as {path, contents, mode}").flatMap((f) => parseFile(issues, f.key, f.value) ?? []);
    const units = r.list("units", "list units as {name, contents, enabled}").flatMap((u) => parseUnit(issues, u.key, u.value) ?? []);
    r.rejectUnknownKeys();
    return { files, units };
  });
}
