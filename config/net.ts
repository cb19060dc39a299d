/** IPv4 helpers for config validation: small enough that a dependency would cost more than it saves. */

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

/** Parses `a.b.c.d/n`; undefined if malformed or if host bits are set (e.g. 192.168.99.5/24). */
export function parseCidr(text: string): Ipv4Cidr | undefined {
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const address = parseIpv4(match[1]);
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32) return undefined;
  if (address % 2 ** (32 - prefix) !== 0) return undefined;
  return { network: address, prefix };
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  const size = 2 ** (32 - cidr.prefix);
  return address >= cidr.network && address < cidr.network + size;
}

/** True for the network and broadcast addresses of subnets that have them (prefix < 31). */
export function isNetworkOrBroadcast(cidr: Ipv4Cidr, address: number): boolean {
  if (cidr.prefix >= 31) return false;
  const size = 2 ** (32 - cidr.prefix);
  return address === cidr.network || address === cidr.network + size - 1;
}
