import type { Store, StoreEntry, StoreEvent, StoreListener } from '../store/store';

const refuseWrite = (): Promise<never> => Promise.reject(new Error('an ext_proc worker does not write; the primary process does'));

/**
 * An ext_proc worker's read-only copy of the primary's store: filled from the primary's
 * snapshot (`load`) and kept current by the primary's forwarded watch events (`apply`), so
 * the worker's registry, rules and router configs follow the same store path as the primary's.
 * Writes are refused: only the primary (admin API, rules file) writes.
 *
 * The worker's readers list once, at start; after `endListing` the values are dropped and
 * changes only pass through to the watchers, so the worker does not hold every stored value
 * beside the records its registry made of them (at 100,000 instances about a fifth of its heap).
 */
export class MirrorStore implements Store {
  private data: Map<string, string> | undefined = new Map();
  private readonly watchers = new Set<{ prefix: string; listener: StoreListener }>();
  private revision = 0;

  load(entries: readonly StoreEntry[], revision: number): void {
    for (const { key, value } of entries) this.data?.set(key, value);
    this.revision = revision;
  }

  /** Events come after the snapshot (`ExtProcWorkers.sendSnapshot`), their revision lower too after an etcd reset. */
  apply(event: StoreEvent): void {
    this.revision = event.revision;
    if (event.type === 'delete') this.data?.delete(event.key);
    else this.data?.set(event.key, event.value!);
    for (const w of this.watchers) if (event.key.startsWith(w.prefix)) w.listener(event);
  }

  /** Every reader has listed and watches: values need not be kept any more. */
  endListing(): void {
    this.data = undefined;
  }

  async list(prefix: string): Promise<{ entries: StoreEntry[]; revision: number }> {
    if (!this.data) throw new Error('an ext_proc worker lists its store only while it starts');
    const entries: StoreEntry[] = [];
    for (const [key, value] of this.data) if (key.startsWith(prefix)) entries.push({ key, value });
    return { entries, revision: this.revision };
  }
  /** Never asked: only the process that owns the store deletes what a registration displaced. */
  get(): Promise<string | undefined> {
    return Promise.reject(new Error('an ext_proc worker reads its store only by list, while it starts'));
  }

  put(): Promise<number> {
    return refuseWrite();
  }

  putAll(): Promise<void> {
    return refuseWrite();
  }

  putIf(): Promise<number | undefined> {
    return refuseWrite();
  }

  delete(): Promise<boolean> {
    return refuseWrite();
  }

  deleteIf(): Promise<boolean> {
    return refuseWrite();
  }

  /** Never written to: only the primary's store matters (its /metrics). */
  available(): boolean {
    return true;
  }

  watch(prefix: string, _afterRevision: number, listener: StoreListener): () => void {
    const watcher = { prefix, listener };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }
}
