/** One change as a watcher sees it. Revisions increase by one per acknowledged write. */
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

/**
 * The persistence and fan-out seam. Registry and rules write through it and learn of
 * every change (their own included) from `watch`, so a replica behind a shared backend
 * (etcd) sees the same stream of changes as the one that wrote them. A write resolves
 * only once it is durable.
 */
export interface Store {
  /** Entries under a prefix plus the revision they reflect, so a watch can follow on without gaps. */
  list(prefix: string): Promise<{ entries: StoreEntry[]; revision: number }>;
  put(key: string, value: string): Promise<number>;
  /** Resolves false when the key did not exist. */
  delete(key: string): Promise<boolean>;
  /** Changes under `prefix` after `afterRevision`; returns the unsubscribe function. */
  watch(prefix: string, afterRevision: number, listener: StoreListener): () => void;
  close(): Promise<void>;
}
