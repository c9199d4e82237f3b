import { performance } from 'node:perf_hooks';

/**
 * Buffers of large built resources, reused from one version to the next. V8 counts a new
 * buffer's bytes as external memory towards the limit that starts a full GC: with an Envoy
 * subscribed to a 100,000-endpoint cluster under churn, each version's new 8 MB assignment,
 * alive until the next (past two scavenges, so only a full GC freed it), brought one or two
 * full GCs of 5–20 ms into every 5 s churn phase (docs/PERFORMANCE.md, "A retired
 * assignment's buffer is reused").
 * A buffer comes back only when the cache retires the version it holds and no stream or config
 * dump still reads it (`CachedResource.retire`).
 */

/** Smaller buffers come from Node's shared pool or are too small to matter. */
const MIN_SPARE_BYTES = 256 * 1024;
/** Builds of as many large resources may take spares at once; more are left to the GC, the smallest first. */
const MAX_SPARES = 4;
/** A spare no build took for this long is dropped (its cluster went, or shrank). */
const KEEP_UNUSED_MS = 30_000;

interface Spare {
  readonly buffer: ArrayBuffer;
  readonly since: number;
}

/** Buffers this module handed out: only those may come back (a view of anything else is left alone). */
const handedOut = new WeakSet<ArrayBuffer>();
const spares: Spare[] = [];

/**
 * `size` bytes to fill, unzeroed: a spare at least that large (at most twice it), else a new
 * buffer with an eighth more room (clusters grow).
 */
export function takeBuffer(size: number, now = performance.now()): Buffer {
  dropUnused(now);
  if (size < MIN_SPARE_BYTES) return Buffer.allocUnsafe(size);
  let best = -1;
  for (let i = 0; i < spares.length; i++) {
    const capacity = spares[i]!.buffer.byteLength;
    if (capacity >= size && capacity <= 2 * size && (best < 0 || capacity < spares[best]!.buffer.byteLength)) best = i;
  }
  if (best >= 0) return Buffer.from(spares.splice(best, 1)[0]!.buffer, 0, size);
  const fresh = Buffer.allocUnsafeSlow(size + (size >> 3));
  handedOut.add(fresh.buffer);
  return fresh.subarray(0, size);
}

/** `bytes` (a view of a buffer `takeBuffer` handed out) is read by nobody any more. */
export function giveBack(bytes: Uint8Array, now = performance.now()): void {
  const buffer = bytes.buffer;
  if (!(buffer instanceof ArrayBuffer) || !handedOut.has(buffer) || spares.some((spare) => spare.buffer === buffer)) return;
  dropUnused(now);
  spares.push({ buffer, since: now });
  if (spares.length > MAX_SPARES) {
    let smallest = 0;
    for (let i = 1; i < spares.length; i++) if (spares[i]!.buffer.byteLength < spares[smallest]!.buffer.byteLength) smallest = i;
    spares.splice(smallest, 1);
  }
}

function dropUnused(now: number): void {
  for (let i = spares.length - 1; i >= 0; i--) if (now - spares[i]!.since > KEEP_UNUSED_MS) spares.splice(i, 1);
}
