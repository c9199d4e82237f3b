/**
 * IP addresses that name no one host a proxy could connect to. `0.0.0.0` is what a process
 * binds, not where it is reached: as an Envoy endpoint it would take traffic that then fails.
 * Checked on the address's text, not with node:net's BlockList, which costs about 8 µs an
 * address: 0.8 s of a 100,000-instance load.
 */
const UNSPECIFIED = 'an unspecified address';
const MULTICAST = 'a multicast address';
const BROADCAST = 'the broadcast address';

/**
 * Why `host` is no instance's address (`an unspecified address`), else undefined. `host` is an
 * IP address as parseInstance keeps it: IPv4 dotted, IPv4-mapped IPv6 as IPv4, IPv6 with any
 * zone kept as sent.
 */
export function unreachableKind(host: string): string | undefined {
  const address = host.split('%', 1)[0]!.toLowerCase(); // a zone names an interface, not the address
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
