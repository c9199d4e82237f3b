import * as protobuf from 'protobufjs';
import { CachedResource, ResourceCache } from '../../src/xds/cache';
import { CDS } from '../../src/xds/types';
import { runToEnd } from '../../src/model/slices';
import * as codec from '../../src/xds/codec';
import { bodyChangesSteps, bodyOf, WildcardBody, type BodyPart } from '../../src/xds/wildcard-body';

const bodyChanges = (before: readonly BodyPart[] | undefined, after: readonly BodyPart[]) => runToEnd(bodyChangesSteps(before, after));

const resource = (name: string, text = name): CachedResource => new CachedResource(name, Buffer.from(text));

/** The Anys a `resources` field holds (field 2, each length-delimited), as text, sorted. */
function held(body: readonly Uint8Array[]): string[] {
  const reader = protobuf.Reader.create(Buffer.concat(body));
  const found: string[] = [];
  while (reader.pos < reader.len) {
    expect(reader.uint32()).toBe((2 << 3) | 2);
    found.push(Buffer.from(reader.bytes()).toString());
  }
  return found.sort();
}

describe('WildcardBody, the resources field every wildcard stream shares', () => {
  it('holds every current resource once: added, replaced and removed ones as they are now', () => {
    const body = new WildcardBody(['a', 'b', 'c'].map((name) => resource(name)));
    expect(held(bodyOf(body.parts()))).toEqual(['a', 'b', 'c']);
    body.set('b', resource('b', 'b2'));
    body.set('d', resource('d'));
    body.set('a', undefined);
    body.set('gone', undefined); // never held: nothing changes
    expect(held(bodyOf(body.parts()))).toEqual(['b2', 'c', 'd']);
  });

  it('re-encodes only the bucket of a changed resource', () => {
    const body = new WildcardBody(Array.from({ length: 1000 }, (_, i) => resource(`svc${i}.default`)));
    bodyOf(body.parts());
    const encodings = jest.spyOn(codec, 'encodeSotwResources');
    try {
      body.set('svc7.default', resource('svc7.default', 'changed'));
      const after = held(bodyOf(body.parts()));
      expect(encodings).toHaveBeenCalledTimes(1);
      expect(encodings.mock.calls[0]![0].length).toBeLessThan(100); // one bucket's resources, not 1,000
      expect(after).toHaveLength(1000);
      expect(after).toContain('changed');
    } finally {
      encodings.mockRestore();
    }
  });

  it('brings many changed buckets up to date a bucket a step, so the body then encodes nothing', () => {
    const body = new WildcardBody(Array.from({ length: 1000 }, (_, i) => resource(`svc${i}.default`)));
    expect(body.changedSince(undefined)).toBe(64);
    const encodings = jest.spyOn(codec, 'encodeSotwResources');
    try {
      let steps = 0;
      for (const step = body.refreshSteps(); !step.next().done; ) steps++;
      expect(steps).toBe(64);
      expect(encodings).toHaveBeenCalledTimes(64);
      const parts = body.parts();
      expect(body.changedSince(parts)).toBe(0);
      expect(held(bodyOf(parts))).toHaveLength(1000);
      expect(encodings).toHaveBeenCalledTimes(64); // nothing more at the response
    } finally {
      encodings.mockRestore();
    }
  });
});

describe('bodyChangesSteps, what a wildcard response records as sent', () => {
  it('is every resource of the first body, then the new versions in parts that changed, and the names a changed part dropped', () => {
    const body = new WildcardBody(Array.from({ length: 1000 }, (_, i) => resource(`svc${i}.default`)));
    const first = body.parts();
    expect(bodyChanges(undefined, first).updated).toHaveLength(1000);
    expect(bodyChanges(first, body.parts())).toEqual({ updated: [], gone: [] }); // nothing changed: the same parts

    const changed = resource('svc7.default', 'changed');
    body.set('svc7.default', changed);
    body.set('svc8.default', undefined);
    // Removed and added again (after the others in its bucket): the same bytes are the same
    // version, other bytes an update; neither is gone.
    body.set('svc9.default', undefined);
    body.set('svc9.default', resource('svc9.default'));
    const otherBytes = resource('svc10.default', 'other');
    body.set('svc10.default', undefined);
    body.set('svc10.default', otherBytes);
    body.set('new.default', resource('new.default'));
    const { updated, gone } = bodyChanges(first, body.parts());
    // svc9 may be listed at its unchanged version (walked past in its bucket's order): commit records nothing for it.
    expect(updated.map((r) => r.name).filter((name) => name !== 'svc9.default').sort()).toEqual(['new.default', 'svc10.default', 'svc7.default']);
    expect(updated).toContain(changed);
    expect(updated).toContain(otherBytes);
    expect(gone).toEqual(['svc8.default']);
  });
});

describe('the wildcard body a stream was sent, and the buckets changed since', () => {
  it('counts the buckets whose part a stream was not sent; the changes walk a step per such bucket', () => {
    const cache = new ResourceCache();
    for (let i = 0; i < 1000; i++) cache.put(CDS, `svc${i}.default`, Buffer.from(`v1-${i}`));
    expect(cache.wildcardBody(CDS).changedSince(undefined)).toBe(64); // a stream sent nothing: every bucket
    const sent = cache.everything(CDS).parts;
    expect(cache.wildcardBody(CDS).changedSince(sent)).toBe(0);
    cache.put(CDS, 'svc1.default', Buffer.from('v2'));
    expect(cache.wildcardBody(CDS).changedSince(sent)).toBe(1); // stale: re-encoded in the response's turn
    for (let i = 0; i < 1000; i++) cache.put(CDS, `svc${i}.default`, Buffer.from(`v3-${i}`));
    expect(cache.wildcardBody(CDS).changedSince(sent)).toBe(64);
    runToEnd(cache.wildcardBody(CDS).refreshSteps());
    const now = cache.everything(CDS);
    expect(held(now.body)).toHaveLength(1000);
    expect(held(now.body)).toContain('v3-999');
    expect(cache.wildcardBody(CDS).changedSince(sent)).toBe(64); // re-encoded, still not what the stream holds
    expect(cache.wildcardBody(CDS).changedSince(now.parts)).toBe(0);
    const steps = bodyChangesSteps(sent, now.parts);
    let yields = 0;
    let next = steps.next();
    for (; !next.done; next = steps.next()) yields++;
    expect([yields, next.value.updated.length, next.value.gone]).toEqual([64, 1000, []]);
  });
});
