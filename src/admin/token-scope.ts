import { BlockList, isIP } from 'node:net';
import { LOCALITY_LABELS, type Instance, type Labels, type Locality } from '../model/instance';

/** What a registration token may register: services, every label, addresses, how many. */
export interface TokenScope {
  /** Services it may register, heartbeat and deregister: `*`, `ns/*`, `ns/svc`, or `svc` (that name in any namespace). */
  readonly services: readonly string[];
  /** Label keys its instances MUST carry, each with the values allowed (`*`: any value). */
  readonly labels: Readonly<Record<string, readonly string[]>>;
  /** Label keys its instances MAY carry (`*` as a key: any other key). A key named nowhere is refused. */
  readonly optionalLabels: Readonly<Record<string, readonly string[]>>;
  /** CIDRs its instances' hosts must lie in; empty: any address but link-local and unspecified ones. */
  readonly addresses: readonly string[];
  /** How many instances within its scope may be registered at once; undefined: no limit. */
  readonly maxInstances: number | undefined;
}

/** What a registration-API call touches: the instance, or only its service when it is not registered. */
export interface RegistrationTarget {
  readonly namespace: string;
  readonly service: string;
  readonly metadata?: Labels;
  readonly locality?: Locality;
  readonly host?: string;
}

/**
 * Link-local addresses, cloud metadata endpoints (169.254.169.254) among them, which no token may
 * register even where its networks include them (the unspecified address no registration may).
 */
const NEVER = new BlockList();
NEVER.addSubnet('169.254.0.0', 16, 'ipv4');
NEVER.addSubnet('fe80::', 10, 'ipv6');

export const CIDR = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/;

/** A BlockList of `cidrs`, which parseAuthConfig has checked. */
export function addressList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [, address, bits] = CIDR.exec(cidr)!;
    list.addSubnet(address!, Number(bits), isIP(address!) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Why `scope` does not cover `target` (e.g. `service default/shop`, `version=gray`), or undefined. */
export function outOfScope(scope: TokenScope, allowed: BlockList | undefined, target: RegistrationTarget): string | undefined {
  if (!coversService(scope, target.namespace, target.service)) return `service ${target.namespace}/${target.service}`;
  if (target.metadata) {
    const labels = { ...target.metadata, ...localityLabels(target.locality ?? {}) };
    // Own keys only: a label named `constructor` must not find Object.prototype's.
    for (const key of Object.keys(scope.labels)) if (!Object.hasOwn(labels, key)) return `an instance without label ${key}`;
    for (const [key, value] of Object.entries(labels)) {
      const values = ownValue(scope.labels, key) ?? ownValue(scope.optionalLabels, key) ?? ownValue(scope.optionalLabels, '*');
      if (!values) return `label ${key}`;
      if (!values.includes('*') && !values.includes(value)) return `${key}=${value}`;
    }
  }
  if (target.host !== undefined) {
    const family = isIP(target.host);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (allowed && (family === 0 || !allowed.check(target.host, type))) return `host ${target.host} (allowed: ${scope.addresses.join(', ')})`;
    if (family !== 0 && NEVER.check(target.host, type)) return `host ${target.host}`;
  }
  return undefined;
}

function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function localityLabels(locality: Locality): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, key] of Object.entries(LOCALITY_LABELS)) {
    const value = locality[field as keyof Locality];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Whether `scope` may register instances of this service at all. */
export function coversService(scope: TokenScope, namespace: string, service: string): boolean {
  return scope.services.some((s) => serviceMatches(s, namespace, service));
}

function serviceMatches(pattern: string, namespace: string, service: string): boolean {
  if (pattern === '*') return true;
  const slash = pattern.indexOf('/');
  if (slash < 0) return pattern === service;
  const ns = pattern.slice(0, slash);
  const svc = pattern.slice(slash + 1);
  return ns === namespace && (svc === '*' || svc === service);
}

/** Instances `scope` covers among `instances`: what its quota counts. */
export function countInScope(scope: TokenScope, allowed: BlockList | undefined, instances: Iterable<Instance>): number {
  let n = 0;
  for (const instance of instances) if (!outOfScope(scope, allowed, instance)) n++;
  return n;
}
