import { cidrContains, cidrsOverlap, isNetworkOrBroadcast, networkOf, parseCidr, parseIpv4 } from "./net";

const cidr = (text: string) => {
  const parsed = parseCidr(text);
  if (parsed === undefined) throw new Error(`test setup: ${text} is not a CIDR`);
  return parsed;
};

test("parseIpv4 reads dotted quads as unsigned numbers and nothing else", () => {
  expect(parseIpv4("0.0.0.0")).toBe(0);
  expect(parseIpv4("255.255.255.255")).toBe(2 ** 32 - 1);
  expect(parseIpv4("192.168.99.101")).toBe(((192 * 256 + 168) * 256 + 99) * 256 + 101);
  for (const bad of ["", "1.2.3", "1.2.3.4.5", "1.2.3.256", "1.2.3.04", "1.2.3.-1", "1.2.3.4/24", " 1.2.3.4"]) {
    expect(parseIpv4(bad)).toBeUndefined();
  }
});

test("parseCidr wants a network address: host bits set or a prefix over 32 are refused", () => {
  expect(parseCidr("192.168.99.0/24")).toEqual({ network: parseIpv4("192.168.99.0"), prefix: 24 });
  expect(parseCidr("0.0.0.0/0")).toEqual({ network: 0, prefix: 0 });
  expect(parseCidr("10.0.0.7/32")).toEqual({ network: parseIpv4("10.0.0.7"), prefix: 32 });
  for (const bad of ["192.168.99.5/24", "192.168.99.0/33", "192.168.99.0", "192.168.99.0/", "my lan/24", "192.168.99.0/024"]) {
    expect(parseCidr(bad)).toBeUndefined();
  }
});

test("networkOf takes an interface address (host bits set) to its network", () => {
  expect(networkOf("10.213.99.1/24")).toEqual(cidr("10.213.99.0/24"));
  expect(networkOf("172.17.0.2/16")).toEqual(cidr("172.17.0.0/16"));
  expect(networkOf("10.0.0.1/32")).toEqual(cidr("10.0.0.1/32"));
  expect(networkOf("10.0.0.1")).toBeUndefined();
  expect(networkOf("10.0.0.1/40")).toBeUndefined();
});

test("cidrContains and isNetworkOrBroadcast see the edges of a subnet", () => {
  const lan = cidr("192.168.99.0/24");
  expect(cidrContains(lan, parseIpv4("192.168.99.0")!)).toBe(true);
  expect(cidrContains(lan, parseIpv4("192.168.99.255")!)).toBe(true);
  expect(cidrContains(lan, parseIpv4("192.168.100.0")!)).toBe(false);
  expect(cidrContains(lan, parseIpv4("192.168.98.255")!)).toBe(false);
  expect(isNetworkOrBroadcast(lan, parseIpv4("192.168.99.0")!)).toBe(true);
  expect(isNetworkOrBroadcast(lan, parseIpv4("192.168.99.255")!)).toBe(true);
  expect(isNetworkOrBroadcast(lan, parseIpv4("192.168.99.1")!)).toBe(false);
  // RFC 3021: both addresses of a /31 are hosts.
  expect(isNetworkOrBroadcast(cidr("10.0.0.0/31"), parseIpv4("10.0.0.0")!)).toBe(false);
});

test("cidrsOverlap: nested or equal networks overlap, neighbours do not, either way round", () => {
  const lab = cidr("10.213.99.0/24");
  const pairs: [string, boolean][] = [
    ["10.213.99.0/24", true],
    ["10.213.99.128/25", true],
    ["10.213.99.7/32", true],
    ["10.0.0.0/8", true],
    ["0.0.0.0/0", true],
    ["10.213.98.0/24", false],
    ["10.213.100.0/24", false],
    ["10.213.98.0/32", false],
    ["172.17.0.0/16", false],
  ];
  for (const [other, overlaps] of pairs) {
    expect([other, cidrsOverlap(lab, cidr(other))]).toEqual([other, overlaps]);
    expect([other, cidrsOverlap(cidr(other), lab)]).toEqual([other, overlaps]);
  }
});
