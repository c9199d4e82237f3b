import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseInstance } from '../../src/registry/instance-input';

// V8's own check, through its natives syntax; off again after these tests (the flag is the
// whole process's, and later test files share this worker; V8 compiles the function at its first call).
setFlagsFromString('--allow-natives-syntax');
const isInternalized = runInNewContext('(s) => %IsInternalizedString(s)') as (s: string) => boolean;
afterAll(() => setFlagsFromString('--no-allow-natives-syntax'));

describe('strings an instance keeps', () => {
  it('are not the internalized strings JSON.parse makes of short values (a full GC walks every one)', () => {
    const input = JSON.parse('{"service":"shop","id":"i12345","host":"10.1.2.3","port":80,"metadata":{"user":"u12345","version":"gray"},"locality":{"zone":"z1"}}');
    expect([input.id, input.host, input.metadata.user, input.locality.zone].map(isInternalized)).toEqual([true, true, true, true]);

    const parsed = parseInstance(input, { ttlSeconds: 30 });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const { id, host, metadata, locality } = parsed.instance;
    expect({ id, host, metadata, locality }).toEqual({ id: 'i12345', host: '10.1.2.3', metadata: { user: 'u12345', version: 'gray' }, locality: { zone: 'z1' } });
    expect([id, host, metadata.user!, metadata.version!, locality.zone!].map(isInternalized)).toEqual([false, false, false, false, false]);
  });
});

describe('label values', () => {
  it('are one string per value across instances, however many instances were parsed from their own texts', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const value = 'v'.repeat(1000); // 1 KB each if every instance kept its own
    const text = (i: number) => `{"service":"shop","id":"i${i}","host":"10.0.${i >> 8 & 255}.${i & 255}","port":80,"metadata":{"build":"${value}"}}`;
    gc();
    const before = process.memoryUsage().heapUsed;
    const kept = Array.from({ length: 20000 }, (_, i) => parseInstance(JSON.parse(text(i)), { ttlSeconds: 30 }));
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(kept.every((p) => p.ok && p.instance.metadata.build === value)).toBe(true);
    expect(grown).toBeLessThan(20000 * 1000 / 2);
  });

  it("keep their values past the table's bound (values of their own, one per instance)", () => {
    const parsed = Array.from({ length: 40000 }, (_, i) => parseInstance({ service: 'shop', host: '10.0.0.1', port: 80, id: `i${i}`, metadata: { user: `u${i}`, lane: i % 2 ? 'blue' : 'green' } }, { ttlSeconds: 30 }));
    expect(parsed.filter((p, i) => !p.ok || p.instance.metadata.user !== `u${i}` || p.instance.metadata.lane !== (i % 2 ? 'blue' : 'green'))).toEqual([]);
  });
});

describe('the metadata and locality an instance keeps', () => {
  it('are the copies that were checked: a `__proto__` key (an own property in JSON) is refused, not kept unchecked', () => {
    const parse = (json: string) => parseInstance(JSON.parse(json), { ttlSeconds: 30 });
    expect(parse('{"service":"shop","host":"10.0.0.1","port":80,"locality":{"zone":"z","__proto__":"x"}}')).toEqual({ ok: false, errors: ['locality.__proto__: unknown field (region, zone, campus)'] });
    expect(parse('{"service":"shop","host":"10.0.0.1","port":80,"metadata":{"__proto__":"x"}}')).toEqual({ ok: false, errors: ['metadata.__proto__: invalid key'] });
    const kept = parse('{"service":"shop","host":"10.0.0.1","port":80,"metadata":{"lane":"blue"},"locality":{"zone":"z"}}');
    expect(kept.ok && [kept.instance.metadata, kept.instance.locality]).toEqual([{ lane: 'blue' }, { zone: 'z' }]);
  });
});
