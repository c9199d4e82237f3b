/** One change as a watcher sees it. Revisions rise with every acknowledged write (by one in the embedded store; etcd counts writes under other prefixes too). */
export interface StoreEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** Set for puts. */
  readonly value?: string;
  readonly revision: number;
}

export interface StoreEntry {
  readonly key: string;
  readonly value: string;
}

export type StoreListener = (event: StoreEvent) => void;

export interface PutOptions {
  /** Binds the key to this replica's leases (see `StoreLeases`); a store without leases ignores it. */
  readonly held?: boolean;
}

/** One write of `putAll`. */
export interface StorePut {
  readonly key: string;
  readonly value: string;
  /** As `PutOptions.held`. */
  readonly held?: boolean;
}

/**
 * Leases of each replica's own (etcd): a key put with `held` lives while the replica that put it
 * renews its leases, and every replica sees which one holds it. When a replica stops (or is cut off from
 * etcd for the lease's TTL), etcd deletes the keys it held, and the others see those deletes.
 */
export interface StoreLeases {
  /** Who holds `key`: this replica, another one, or none (absent, or put without `held`). */
  holder(key: string): 'this replica' | 'another replica' | undefined;
  /**
   * Per key: renews the lease of its own that an older metaroute bound it to (it bound each
   * ephemeral instance to one); true for a key with none, false for one that no longer exists.
   */
  refresh(keys: readonly string[]): Promise<boolean[]>;
  /**
   * Deletes `key`, and `holderKey` when this replica holds it, only while no other replica holds
   * `holderKey` (checked by the store itself, so a takeover an instant ago wins); false when it
   * deleted nothing. `holderKey` may be `key`: a key deleted only while held here or by none.
   */
  deleteUnlessHeldElsewhere(key: string, holderKey: string): Promise<boolean>;
  /**
   * When the store last found its backend out (the watch lost etcd, or a write or lease renewal
   * failed), on `performance.now()`'s clock; now while it is out; -Infinity if never.
   */
  lastOutage(): number;
}

/** The backend cannot take writes now (etcd unreachable); reads still serve the last snapshot. Answered with 503. */
export class StoreUnavailableError extends Error {}

/**
 * The persistence and fan-out seam. Registry and rules write through it and learn of
 * every change (their own included) from `watch`, so a replica behind a shared backend
 * (etcd) sees the same stream of changes as the one that wrote them. A write resolves
 * only once it is durable.
 */
export interface Store {
  /** Entries under a prefix plus the revision they reflect, so a watch can follow on without gaps. */
  list(prefix: string): Promise<{ entries: StoreEntry[]; revision: number }>;
  /** What `key` holds now (writes still on their way included), undefined when absent. */
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string, options?: PutOptions): Promise<number>;
  /**
   * Many puts with one promise, for a registration batch; of puts to one key the last stays. The
   * embedded store writes them in one group commit, all or none, with no promise per put
   * (thousands of those outlived young collections and died old); etcd writes them in
   * transactions (up to 128 puts, fewer if etcd allows fewer) and may have written some when
   * it fails. Resolves when all are durable.
   */
  putAll(puts: readonly StorePut[]): Promise<void>;
  /**
   * Puts only if the key still holds `expected` (undefined: the key does not exist), with no
   * write in between: resolves with the revision, or undefined when it held something else (its
   * watchers have then seen what it holds). For a value several replicas replace (the rules).
   */
  putIf(key: string, value: string, expected: string | undefined): Promise<number | undefined>;
  /** Resolves false when the key did not exist. */
  delete(key: string): Promise<boolean>;
  /** Deletes the key only while it holds `expected` (a record another write may have replaced meanwhile); false when it did not. */
  deleteIf(key: string, expected: string): Promise<boolean>;
  /** A number that orders the keys' last writes (etcd: the revision; embedded: the record's place in the log); undefined for an absent key. */
  revisionOf?(key: string): number | undefined;
  /** Whether writes can succeed now: false while etcd is unreachable or refuses writes, or after the embedded store closed on a failure. */
  available(): boolean;
  /** Changes under `prefix` after `afterRevision`; returns the unsubscribe function. */
  watch(prefix: string, afterRevision: number, listener: StoreListener): () => void;
  close(): Promise<void>;
  /** Present on a store several replicas share (etcd); absent for the embedded store. */
  readonly leases?: StoreLeases;
}
