/** The subset of the Ignition 3.3.0 spec we emit (https://coreos.github.io/ignition/configuration-v3_3/). */

export const IGNITION_VERSION = "3.3.0";

export interface IgnitionFile {
  path: string;
  mode: number;
  overwrite: boolean;
  contents: { source: string };
}

export interface IgnitionLink {
  path: string;
  target: string;
  hard: boolean;
  overwrite: boolean;
}

export interface IgnitionDropin {
  name: string;
  contents: string;
}

export interface IgnitionUnit {
  name: string;
  enabled?: boolean;
  mask?: boolean;
  contents?: string;
  dropins?: IgnitionDropin[];
}

export interface IgnitionUser {
  name: string;
  sshAuthorizedKeys: string[];
}

export interface IgnitionConfig {
  ignition: { version: typeof IGNITION_VERSION };
  kernelArguments?: { shouldExist: string[] };
  passwd: { users: IgnitionUser[] };
  storage: { files: IgnitionFile[]; links: IgnitionLink[] };
  systemd: { units: IgnitionUnit[] };
}

/** RFC 2397 data URL; percent-encoded so the rendered JSON stays readable in a diff. */
function dataUrl(text: string): string {
  return `data:,${encodeURIComponent(text)}`;
}

export function textFile(path: string, text: string, mode = 0o644): IgnitionFile {
  return { path, mode, overwrite: true, contents: { source: dataUrl(text) } };
}

/** Joins config-file lines with a trailing newline, as tools expect. */
export function lines(...content: string[]): string {
  return content.join("\n") + "\n";
}
