import { createHash, type Hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Chunks } from './chunks';
import { encodeDeltaResource } from './codec';
import { runInSlices, runToEnd, type Steps } from '../model/slices';
import { giveBack } from './spare-buffers';
import type { ResourceType } from './types';
import { bodyOf, WildcardBody, type BodyPart } from './wildcard-body';

/**
 * After a build, the next build of the same resource rests: REST_PER_BUSY times as long as a
 * long build (LONG_BUILD_MS or more) kept the thread busy, so one large resource under steady
 * churn takes at most a quarter of the thread; and 1 ms per BYTES_PER_REST_MS it built, up to
 * MAX_SIZE_REST_MS, so a 100,000-endpoint assignment (8 MB) goes out about once a second:
 * every version costs a build, each stream grpc-js's framed copy of it (freed by the next
 * scavenge once written), and every subscribed Envoy a rebuild of its subsets. The
 * cap keeps the size's share of a rest well inside `xds.rolloutWaitMs` (a rollout's make step
 * waits for the new version's ACK). A rest under LONG_BUILD_MS is none: small resources go out
 * as soon as they change.
 */
const LONG_BUILD_MS = 10;
const REST_PER_BUSY = 3;
const BYTES_PER_REST_MS = 8 * 1024;
const MAX_SIZE_REST_MS = 1000;

/** Bytes of the 8 MiB a 100,000-endpoint assignment takes hashed per step (about a millisecond). */
const HASH_STEP_BYTES = 512 * 1024;

/**
 * One resource at one version, encoded once and shared by every stream that receives it. Once
 * the cache retires it (a newer version is served, or the resource went) and nothing holds it,
 * its bytes are given back for a later build to reuse, and reading them throws.
 */
export class CachedResource {
  private delta: Chunks | undefined;
  private bytes: Uint8Array | undefined;
  private length = 0;
  private hash: string | undefined;
  /** Writes in flight and config dumps converting it: its bytes are given back only once none is left. */
  private holds = 0;
  private retired = false;
  /** Until ready: what builds (if lazy) and hashes it, in steps; shared by `prepare` and the synchronous getters. */
  private steps: Steps<void> | undefined;
  private preparing: Promise<number> | undefined;

  constructor(
    readonly name: string,
    /** The resource as a `google.protobuf.Any`, or how to build it (in steps) when a stream first needs it. */
    source: Uint8Array | (() => Steps<Uint8Array>),
    /** When this version was made (performance.now()), for convergence times; a lazy one counts from its change. */
    readonly createdAt: number = performance.now(),
    /** Told once bytes and version are known. */
    private readonly onReady?: (resource: CachedResource) => void,
  ) {
    if (typeof source === 'function') this.steps = this.work(source);
    else this.setBytes(source);
  }

  /**
   * Keeps the bytes from reuse until `release`: a stream's write between being queued and
   * grpc-js serializing it, or a config dump converting them across turns.
   */
  hold(): void {
    this.holds++;
  }

  release(): void {
    if (--this.holds === 0 && this.retired) this.recycle();
  }

  /** No stream may be sent this version any more: its bytes go back once nothing holds them. */
  retire(): void {
    this.retired = true;
    if (this.holds === 0) this.recycle();
  }

  /** False until a stream (or the config dump) asked for it: resources nobody subscribes to are never encoded. */
  get built(): boolean {
    return this.bytes !== undefined || this.hash !== undefined;
  }

  /** Bytes of the encoded resource; 0 until built. */
  get size(): number {
    return this.length;
  }

  /** Bytes and version known: reading them costs nothing. */
  get ready(): boolean {
    return this.hash !== undefined;
  }

  /** The resource as a `google.protobuf.Any`, as SotW responses carry it (built now if need be). */
  get any(): Uint8Array {
    if (this.bytes === undefined) {
      if (this.retired) throw new Error(`${this.name}: version ${this.hash ?? '(unbuilt)'} was read after the cache retired it`);
      this.finish();
    }
    return this.bytes!;
  }

  /** Content hash: equal bytes give an equal version, across restarts and replicas. */
  get version(): string {
    if (this.hash === undefined) {
      if (this.steps) this.finish();
      else this.setHash(createHash('sha256').update(this.bytes!)); // small, eager resources
    }
    return this.hash!;
  }

  /** The Delta `Resource` wrapper, encoded on first use (SotW-only deployments never pay it). */
  get deltaBytes(): Chunks {
    this.delta ??= encodeDeltaResource(this.name, this.version, this.any);
    return this.delta;
  }

  /**
   * Builds and hashes a lazy resource in slices between event-loop turns; resolves when ready,
   * with the milliseconds the build kept the thread busy.
   */
  prepare(): Promise<number> {
    if (this.ready) return Promise.resolve(0);
    if (!this.steps) return Promise.resolve(this.version).then(() => 0); // eager: only its hash was left
    // A getter may have run the steps to the end meanwhile (`finish`): then only `hash` tells whether they succeeded.
    return (this.preparing ??= runInSlices(this.steps).then((busy) => {
      if (this.hash === undefined) throw new Error(`${this.name}: building the resource failed`);
      return busy;
    }));
  }

  /**
   * The build's remaining steps, timed: returns the milliseconds they kept the thread busy
   * (those another caller ran meanwhile not counted); throws if the build failed.
   */
  *timedSteps(): Steps<number> {
    let busy = 0;
    for (let steps = this.steps; steps && this.hash === undefined; ) {
      const start = performance.now();
      const next = steps.next();
      busy += performance.now() - start;
      if (next.done) break;
      yield;
    }
    if (this.hash === undefined) throw new Error(`${this.name}: building the resource failed`);
    return busy;
  }

  private *work(build: () => Steps<Uint8Array>): Steps<void> {
    const bytes = yield* build();
    this.setBytes(bytes);
    const hash = createHash('sha256');
    for (let at = 0; at < bytes.length; at += HASH_STEP_BYTES) {
      hash.update(bytes.subarray(at, at + HASH_STEP_BYTES));
      if (at + HASH_STEP_BYTES < bytes.length) yield;
    }
    this.setHash(hash);
  }

  private setBytes(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.length = bytes.length;
  }

  private recycle(): void {
    if (this.bytes === undefined) return;
    giveBack(this.bytes);
    this.bytes = undefined;
    this.delta = undefined;
  }

  private finish(): void {
    runToEnd(this.steps!);
    // A build that threw has ended without a result: every later read fails too, never returns nothing.
    if (this.hash === undefined) throw new Error(`${this.name}: building the resource failed`);
  }

  private setHash(hash: Hash): void {
    this.hash = hash.digest('base64url').slice(0, 16);
    this.steps = undefined;
    if (this.retired) this.recycle(); // its resource went while it built: never served
    else this.onReady?.(this);
  }
}

export interface BuildFailure {
  readonly name: string;
  readonly error: Error;
}

/**
 * Builds `names` in turn, pacing each as `prepare` does; a failed build is recorded and the next
 * goes on. Each is built at the version current when the job reaches it, as `prepare` builds the
 * version current when it starts: a job over thousands runs for many turns, and a version
 * replaced or removed meanwhile (a registration or deregistration batch) would be built for nobody.
 */
function* buildEach(table: TypeTable, names: readonly string[], failures: BuildFailure[]): Steps<void> {
  for (const name of names) {
    const resource = table.entries.get(name);
    if (!resource || resource.ready) continue; // removed, or built meanwhile (a getter ran it to the end)
    try {
      pace(table, resource, yield* resource.timedSteps());
    } catch (error) {
      failures.push({ name: resource.name, error: error as Error });
    }
  }
}

/** After a long or large build the next of the resource rests (see REST_PER_BUSY); none if it was removed meanwhile. */
function pace(table: TypeTable, resource: CachedResource, busyMs: number): void {
  if (table.entries.get(resource.name) === undefined) return;
  const rest = Math.max(busyMs >= LONG_BUILD_MS ? REST_PER_BUSY * busyMs : 0, Math.min(resource.size / BYTES_PER_REST_MS, MAX_SIZE_REST_MS));
  if (rest >= LONG_BUILD_MS) table.restUntil.set(resource.name, performance.now() + rest);
}

/** `resource` is what streams may send of `name` now; the version it replaces is retired. */
function setReady(table: TypeTable, name: string, resource: CachedResource): void {
  const replaced = table.ready.get(name);
  table.ready.set(name, resource);
  if (replaced && replaced !== resource && replaced !== table.entries.get(name)) replaced.retire();
}

/** Every resource of a type, and the wildcard body carrying them (see WildcardBody). */
export interface Everything {
  readonly resources: readonly CachedResource[];
  readonly body: Chunks;
  /** The body by bucket: a stream records as sent only the resources of parts that changed since its last such body (see bodyChanges). */
  readonly parts: readonly BodyPart[];
}

interface TypeTable {
  /** The current version of each resource, ready or not. */
  readonly entries: Map<string, CachedResource>;
  /** The newest ready version of each resource: what a stream may send while the current one builds. */
  readonly ready: Map<string, CachedResource>;
  /** The build under way per resource: one at a time. */
  readonly building: Map<string, Promise<void>>;
  /** When the next build of a resource may start, after one that earned a rest (see REST_PER_BUSY). */
  readonly restUntil: Map<string, number>;
  /** SotW `version_info`: bumped whenever any resource of the type changes. */
  version: number;
  /** Every resource as a SotW `resources` field, for wildcard streams: kept up to date once first asked for. */
  wildcard?: WildcardBody;
  /** What `everything` gave for `version`. */
  everything?: Everything & { readonly version: number };
}

/**
 * Versioned resources per type. A `put` with unchanged bytes changes nothing. A version leaves
 * `ready` (replaced by a newer one, or removed) retired: streams only send what is ready.
 */
export class ResourceCache {
  private readonly tables = new Map<ResourceType, TypeTable>();

  /** Returns true when the resource is new or its bytes changed. */
  put(type: ResourceType, name: string, any: Uint8Array): boolean {
    const table = this.table(type);
    const resource = new CachedResource(name, any);
    if (table.entries.get(name)?.version === resource.version) return false;
    table.entries.set(name, resource);
    table.wildcard?.set(name, resource);
    setReady(table, name, resource);
    table.version++;
    return true;
  }

  /**
   * Replaces a resource with one built when first read (by a stream that subscribes to it).
   * Always counts as a change; a stream that holds equal bytes sees the same version and gets nothing.
   */
  putLazy(type: ResourceType, name: string, build: () => Steps<Uint8Array>): void {
    const table = this.table(type);
    const resource = new CachedResource(name, build, performance.now(), () => {
      // Versions may finish out of order: only a newer one replaces what streams may send.
      const newest = table.ready.get(name);
      if (table.entries.get(name) === resource || (table.entries.has(name) && (!newest || newest.createdAt <= resource.createdAt))) setReady(table, name, resource);
      else resource.retire(); // overtaken while it built: never sent
    });
    table.entries.set(name, resource);
    table.wildcard?.set(name, resource);
    table.version++;
  }

  /**
   * What a stream may send of `name` now: the current version once ready, else the newest
   * ready one (undefined if none yet). Under steady change a large resource could be replaced
   * before each build ends; sending the last finished one keeps every client moving forward.
   */
  servable(type: ResourceType, name: string): CachedResource | undefined {
    const table = this.tables.get(type);
    const current = table?.entries.get(name);
    if (!current || current.ready) return current;
    return table!.ready.get(name);
  }

  /** Returns true when the resource existed. */
  remove(type: ResourceType, name: string): boolean {
    const table = this.table(type);
    // A build under way is retired too: a resource added again under the name never serves it.
    table.entries.get(name)?.retire();
    table.ready.get(name)?.retire();
    table.ready.delete(name);
    table.restUntil.delete(name);
    if (!table.entries.delete(name)) return false;
    table.wildcard?.set(name, undefined);
    table.version++;
    return true;
  }

  /**
   * Builds the current version of `name` in slices, unless a build of it is under way: then
   * resolves when that one ends (the caller checks again). One build at a time per resource:
   * under churn faster than a build, builds started per push would pile up and none would end.
   * And after a long or large build the next rests (see REST_PER_BUSY; changes meanwhile are
   * coalesced: the build takes the version current when it starts).
   */
  prepare(type: ResourceType, name: string): Promise<void> {
    const table = this.table(type);
    const underWay = table.building.get(name);
    if (underWay) return underWay;
    const current = table.entries.get(name);
    if (!current || current.ready) return Promise.resolve();
    const wait = (table.restUntil.get(name) ?? 0) - performance.now();
    const run = (resource: CachedResource) => resource.prepare().then((busyMs) => ({ resource, busyMs }));
    // Without a wait the first slice runs now while the turn's slice budget lasts (model/slices.ts): a resource built within it is ready before this returns.
    const started = wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)).then(() => {
      const latest = table.entries.get(name);
      return latest && run(latest);
    }) : run(current);
    const build = started
      .then((built) => {
        table.restUntil.delete(name);
        if (built) pace(table, built.resource, built.busyMs);
      })
      .finally(() => {
        if (table.building.get(name) === build) table.building.delete(name);
      });
    if (!current.ready) table.building.set(name, build);
    return build;
  }

  /**
   * `prepare` for many names at once (a stream subscribing to thousands of small assignments):
   * promises and callbacks per name took 4-6 µs each, tens of ms in one turn. Those never built
   * nor resting are built one after another in one sliced job, whose first slice runs now, as
   * `prepare`'s does; those resting as `prepare` builds them. `ended` is told once per job with
   * the names it built (or found ready or gone) and the builds that failed; names a job under
   * way builds already (another stream's) are told once that job ends, all together.
   */
  prepareAll(type: ResourceType, names: readonly string[], ended: (names: readonly string[], failures: readonly BuildFailure[]) => void): void {
    const table = this.table(type);
    const batch: string[] = [];
    const settled: string[] = [];
    // Names another job (another stream's) builds: told once per job, not once per name, as for a job of this call.
    const underWay = new Map<Promise<void>, string[]>();
    for (const name of names) {
      const current = table.entries.get(name);
      const building = table.building.get(name);
      if (!current || current.ready) settled.push(name);
      else if (building) {
        const waiting = underWay.get(building);
        if (waiting) waiting.push(name);
        else underWay.set(building, [name]);
      } else if (table.restUntil.has(name)) this.prepare(type, name).then(() => ended([name], []), (error: Error) => ended([], [{ name, error }]));
      else batch.push(name);
    }
    if (settled.length > 0) void Promise.resolve().then(() => ended(settled, [])); // never within the caller's loop
    for (const [building, waiting] of underWay) building.then(() => ended(waiting, []), (error: Error) => ended([], waiting.map((name) => ({ name, error }))));
    if (batch.length === 0) return;
    const failures: BuildFailure[] = [];
    const job = runInSlices(buildEach(table, batch, failures)).then(() => {
      for (const name of batch) if (table.building.get(name) === job) table.building.delete(name);
      const failed = new Set(failures.map((f) => f.name));
      ended(batch.filter((name) => !failed.has(name)), failures);
    });
    for (const name of batch) if (!table.entries.get(name)?.ready) table.building.set(name, job);
  }

  get(type: ResourceType, name: string): CachedResource | undefined {
    return this.tables.get(type)?.entries.get(name);
  }

  entries(type: ResourceType): IterableIterator<CachedResource> {
    return this.table(type).entries.values();
  }

  /**
   * Every resource of the type and their SotW `resources` field, once per type version:
   * wildcard streams (Envoy's CDS) all get the same body (see WildcardBody).
   */
  everything(type: ResourceType): Everything {
    const table = this.table(type);
    if (table.everything?.version !== table.version) {
      const parts = this.wildcardBody(type).parts();
      table.everything = { version: table.version, resources: [...table.entries.values()], body: bodyOf(parts), parts };
    }
    return table.everything;
  }

  /** The wildcard body of `type` (made at the first ask): how many of its buckets changed, and steps to re-encode them before `everything` reads it. */
  wildcardBody(type: ResourceType): WildcardBody {
    const table = this.table(type);
    table.wildcard ??= new WildcardBody(table.entries.values());
    return table.wildcard;
  }

  version(type: ResourceType): string {
    return String(this.table(type).version);
  }

  private table(type: ResourceType): TypeTable {
    let table = this.tables.get(type);
    if (!table) {
      table = { entries: new Map(), ready: new Map(), building: new Map(), restUntil: new Map(), version: 0 };
      this.tables.set(type, table);
    }
    return table;
  }
}
