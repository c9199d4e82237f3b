/**
 * IP addresses that are no instance's address. `0.0.0.0` is what a process binds, not where it
 * is reached: a proxy connecting to it reaches its own host (Linux), and an Envoy endpoint there
 * would send every user's traffic to whatever listens beside the proxy.
 * Checked on the address's text, not with node:net's BlockList, which costs about 8 µs an
 * address: 0.8 s of a 100,000-instance load.
 */
const UNSPECIFIED = 'an unspecified address (a proxy connecting to it reaches only its own host)';
const MULTICAST = 'a multicast address (no TCP connection reaches it)';
const BROADCAST = 'the broadcast address (no TCP connection reaches it)';

/**
 * Why `address` is no instance's address (`an unspecified address (...)`), else undefined.
 * `address` is an IP address without a zone, in parseInstance's canonical form: IPv4 dotted,
 * IPv4-mapped IPv6 as IPv4, IPv6 compressed in lower case.
 */
export function unreachableKind(address: string): string | undefined {
  if (!address.includes(':')) return ipv4Kind(address);
  if (/^[0:]+$/.test(address)) return UNSPECIFIED; // `::`, however spelled
  return /^ff[0-9a-f]{2}:/.test(address) ? MULTICAST : undefined; // ff00::/8
}

function ipv4Kind(address: string): string | undefined {
  if (address === '0.0.0.0') return UNSPECIFIED;
  if (address === '255.255.255.255') return BROADCAST;
  const first = Number(address.slice(0, address.indexOf('.')));
  return first >= 224 && first <= 239 ? MULTICAST : undefined; // 224.0.0.0/4
}
