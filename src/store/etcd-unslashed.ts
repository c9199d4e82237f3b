import { EtcdLeaseInvalidError, EtcdPermissionDeniedError, type Etcd3, type ICompare, type IKeyValue, type IRequestOp } from 'etcd3';
import type { Logger } from '../log/logger';

/** Keys read per range call (a million instances must not be one answer). */
const PAGE = 1000;
/** Copies per transaction, under etcd's default `--max-txn-ops` (128). */
const PER_TXN = 64;

/** A prefix names a path segment: `/mr` and `/mr/` are one, and neither takes in `/mr-staging/`. */
export function prefixSegment(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** The smallest key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * Earlier versions joined a prefix configured without its trailing `/` to keys as written
 * (`/mr` + `rules` = `/mrrules`), so a deployment under `/mr-staging/` fell inside theirs. Keys
 * are now under the segment (`/mr/rules`). At the first start on a segment that holds no data of
 * this version yet (no `historyKey` there), this copies the keys metaroute wrote the old way
 * under it, each bound to its own lease still (an ephemeral instance expires as before, and its
 * heartbeats renew both): `ownKeys` names them, a name ending in `/` standing for every key
 * under it; nothing else under the old spelling is metaroute's to copy. The old keys stay for
 * replicas of the older version still running (they neither see writes made here nor are seen);
 * the log line says how to delete them once none runs.
 */
export async function copyUnslashedKeys(client: Etcd3, unslashed: string, ownKeys: readonly string[], historyKey: string, log: Logger): Promise<void> {
  const segment = prefixSegment(unslashed);
  if (unslashed === segment || ownKeys.length === 0) return;
  const history = Buffer.from(segment + historyKey);
  if (await exists(client, history)) return;
  const copier = new Copier(client, Buffer.byteLength(unslashed), segment, history);
  try {
    copying: for (const name of ownKeys) {
      for await (const page of pages(client, Buffer.from(unslashed + name), name.endsWith('/'))) {
        for (let from = 0; from < page.length; from += PER_TXN) if (!(await copier.copy(page.slice(from, from + PER_TXN)))) break copying;
      }
    }
  } catch (error) {
    // A role granted the segment only (`/mr/`) was never written the old way.
    if (!(error instanceof EtcdPermissionDeniedError) || copier.copied > 0) throw error;
  }
  const copied = copier.copied;
  if (copied === 0) return;
  const deletes = ownKeys.map((name) => (name.endsWith('/') ? `etcdctl del --prefix '${unslashed}${name}'` : `etcdctl del '${unslashed}${name}'`));
  log.warn(
    { event: 'store' },
    `store: copied ${copied} keys stored as ${unslashed}<key> (a prefix without its trailing /, as older versions wrote them) to ${segment}<key>; replicas of an older version still use the old keys, so replace them all, then delete the old keys: ${[...deletes, `etcdctl del '${unslashed}${historyKey}'`].join('; ')}`,
  );
}

/** The key itself, or every key under it, a page at a time. */
async function* pages(client: Etcd3, key: Buffer, under: boolean): AsyncGenerator<IKeyValue[]> {
  if (!under) {
    yield (await client.kv.range({ key })).kvs;
    return;
  }
  const rangeEnd = prefixEnd(key);
  let revision: string | undefined;
  for (let from = key; ; ) {
    const page = await client.kv.range({ key: from, range_end: rangeEnd, limit: PAGE, revision });
    revision ??= page.header.revision;
    yield page.kvs;
    if (!page.more || page.kvs.length === 0) return;
    from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
  }
}

async function exists(client: Etcd3, key: Buffer): Promise<boolean> {
  return (await client.kv.range({ key, count_only: true })).count !== '0';
}

/**
 * Puts old keys' values and leases under the segment, where nothing is stored there yet (a
 * replica starting beside this one may be copying too), and only while no replica has written
 * under the segment (its history key absent): a replica already serving may have deleted a key
 * since, which a late copy would bring back.
 */
class Copier {
  copied = 0;

  constructor(
    private readonly client: Etcd3,
    /** In bytes: a key is bytes, the prefix may not be ASCII. */
    private readonly oldPrefixBytes: number,
    private readonly segment: string,
    private readonly history: Buffer,
  ) {}

  /**
   * One transaction; when it does not apply whole, key by key, leaving out a key whose lease ran
   * out meanwhile (etcd deletes the old key with it). False once the segment has a history: stop.
   */
  async copy(kvs: readonly IKeyValue[]): Promise<boolean> {
    const unwritten = { key: this.history, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 };
    const all = kvs.map((kv) => {
      const key = Buffer.concat([Buffer.from(this.segment), kv.key.subarray(this.oldPrefixBytes)]);
      return { compare: { key, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }, put: { request_put: { key, value: kv.value, lease: kv.lease === '0' ? undefined : kv.lease } } };
    });
    if (await this.apply([unwritten, ...all.map((c) => c.compare)], all.map((c) => c.put))) {
      this.copied += kvs.length;
      return true;
    }
    for (const { compare, put } of all) {
      if (await this.apply([unwritten, compare], [put])) this.copied++;
      else if (await exists(this.client, this.history)) return false;
    }
    return !(await exists(this.client, this.history));
  }

  private async apply(compare: ICompare[], success: IRequestOp[]): Promise<boolean> {
    try {
      return (await this.client.kv.txn({ compare, success })).succeeded;
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) return false;
      throw error;
    }
  }
}
