/** IPv4 maths for config validation and the lab: small enough that a dependency would cost more than it saves. */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export interface Ipv4Cidr {
  readonly network: number;
  readonly prefix: number;
}

/** Parses a dotted-quad IPv4 address to an unsigned 32-bit number, or undefined if malformed. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

const blockSize = (prefix: number): number => 2 ** (32 - prefix);

/** `a.b.c.d/n` as an address and a prefix length (host bits may be set); undefined if malformed. */
function parsePrefixed(text: string): { address: number; prefix: number } | undefined {
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const address = parseIpv4(match[1]);
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32) return undefined;
  return { address, prefix };
}

/** Parses `a.b.c.d/n`; undefined if malformed or if host bits are set (e.g. 192.168.99.5/24). */
export function parseCidr(text: string): Ipv4Cidr | undefined {
  const parsed = parsePrefixed(text);
  if (parsed === undefined || parsed.address % blockSize(parsed.prefix) !== 0) return undefined;
  return { network: parsed.address, prefix: parsed.prefix };
}

/** The network an interface address such as 10.213.99.1/24 (as `ip addr` shows it) is on; undefined if malformed. */
export function networkOf(text: string): Ipv4Cidr | undefined {
  const parsed = parsePrefixed(text);
  if (parsed === undefined) return undefined;
  return { network: parsed.address - (parsed.address % blockSize(parsed.prefix)), prefix: parsed.prefix };
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return address >= cidr.network && address < cidr.network + blockSize(cidr.prefix);
}

/** Two networks share addresses exactly when one holds the other's network address. */
export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return cidrContains(a, b.network) || cidrContains(b, a.network);
}

/** True for the network and broadcast addresses of subnets that have them (prefix < 31). */
export function isNetworkOrBroadcast(cidr: Ipv4Cidr, address: number): boolean {
  if (cidr.prefix >= 31) return false;
  return address === cidr.network || address === cidr.network + blockSize(cidr.prefix) - 1;
}
