import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { encodeDeltaResource, encodeSotwResources } from './codec';
import type { ResourceType } from './types';

/** One resource at one version, encoded once and shared by every stream that receives it. */
export class CachedResource {
  private delta: Uint8Array | undefined;
  private bytes: Uint8Array | undefined;
  private hash: string | undefined;

  constructor(
    readonly name: string,
    /** The resource as a `google.protobuf.Any`, or how to build it when a stream first needs it. */
    source: Uint8Array | (() => Uint8Array),
    /** When this version was made (performance.now()), for convergence times; a lazy one counts from its change. */
    readonly createdAt: number = performance.now(),
  ) {
    if (typeof source === 'function') this.build = source;
    else this.bytes = source;
  }

  private build: (() => Uint8Array) | undefined;

  /** False until a stream (or the config dump) asked for it: resources nobody subscribes to are never encoded. */
  get built(): boolean {
    return this.bytes !== undefined;
  }

  /** The resource as a `google.protobuf.Any`, as SotW responses carry it. */
  get any(): Uint8Array {
    if (this.bytes === undefined) {
      this.bytes = this.build!();
      this.build = undefined;
    }
    return this.bytes;
  }

  /** Content hash: equal bytes give an equal version, across restarts and replicas. */
  get version(): string {
    this.hash ??= createHash('sha256').update(this.any).digest('base64url').slice(0, 16);
    return this.hash;
  }

  /** The Delta `Resource` wrapper, encoded on first use (SotW-only deployments never pay it). */
  get deltaBytes(): Uint8Array {
    this.delta ??= encodeDeltaResource(this.name, this.version, this.any);
    return this.delta;
  }
}

interface TypeTable {
  readonly entries: Map<string, CachedResource>;
  /** SotW `version_info`: bumped whenever any resource of the type changes. */
  version: number;
  /** Every resource as one SotW `resources` field, for wildcard streams; built on first use per version. */
  everything?: { readonly version: number; readonly resources: readonly CachedResource[]; readonly body: Buffer };
}

/** Versioned resources per type. A `put` with unchanged bytes changes nothing. */
export class ResourceCache {
  private readonly tables = new Map<ResourceType, TypeTable>();

  /** Returns true when the resource is new or its bytes changed. */
  put(type: ResourceType, name: string, any: Uint8Array): boolean {
    const table = this.table(type);
    const resource = new CachedResource(name, any);
    if (table.entries.get(name)?.version === resource.version) return false;
    table.entries.set(name, resource);
    table.version++;
    return true;
  }

  /**
   * Replaces a resource with one built when first read (by a stream that subscribes to it).
   * Always counts as a change; a stream that holds equal bytes sees the same version and gets nothing.
   */
  putLazy(type: ResourceType, name: string, build: () => Uint8Array): void {
    const table = this.table(type);
    table.entries.set(name, new CachedResource(name, build));
    table.version++;
  }

  /** Returns true when the resource existed. */
  remove(type: ResourceType, name: string): boolean {
    const table = this.table(type);
    if (!table.entries.delete(name)) return false;
    table.version++;
    return true;
  }

  get(type: ResourceType, name: string): CachedResource | undefined {
    return this.tables.get(type)?.entries.get(name);
  }

  entries(type: ResourceType): IterableIterator<CachedResource> {
    return this.table(type).entries.values();
  }

  /**
   * Every resource of the type and their SotW `resources` field, encoded once per type
   * version: wildcard streams (Envoy's CDS) all get the same body.
   */
  everything(type: ResourceType): { readonly resources: readonly CachedResource[]; readonly body: Buffer } {
    const table = this.table(type);
    if (table.everything?.version !== table.version) {
      const resources = [...table.entries.values()];
      table.everything = { version: table.version, resources, body: encodeSotwResources(resources.map((r) => r.any)) };
    }
    return table.everything;
  }

  version(type: ResourceType): string {
    return String(this.table(type).version);
  }

  private table(type: ResourceType): TypeTable {
    let table = this.tables.get(type);
    if (!table) {
      table = { entries: new Map(), version: 0 };
      this.tables.set(type, table);
    }
    return table;
  }
}
