import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseInstance } from '../../src/registry/instance-input';

// V8's own check, through its natives syntax (enabled before the function is compiled).
setFlagsFromString('--allow-natives-syntax');
const isInternalized = runInNewContext('(s) => %IsInternalizedString(s)') as (s: string) => boolean;

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
