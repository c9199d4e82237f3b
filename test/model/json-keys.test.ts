import { repeatedKey, repeatedKeySteps } from '../../src/model/json-keys';
import { stepThrough } from '../support/json-steps';

describe('a key repeated in one object of valid JSON', () => {
  // The repetition is placed where it starts: `written` is how it is written there.
  test.each([
    ['{"service":"shop","port":1,"service":"cart"}', 'service', '"service"', []],
    ['{"register":[{"id":"a"},{"id":"b","metadata":{"user":"A","user":"B"}}]}', 'user', '"user"', ['register', 1, 'metadata']],
    // Escapes are read as JSON reads them; brackets, commas and colons in strings are text.
    ['{"a,]}":"{[","name":1,"n\\u0061me":2}', 'name', '"n\\u0061me"', []],
    ['[[],{"x":[1,{"k":{},"k":[]}]}]', 'k', '"k"', [1, 'x', 1]],
  ])('%s', (text, key, written, path) => {
    expect(JSON.parse(text)).toBeDefined();
    expect(repeatedKey(text)).toEqual({ key, offset: text.lastIndexOf(written), path });
  });

  test('none where keys repeat only across objects, or a value is the text of a key', () => {
    for (const text of ['{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', '{"a":"a","b":["a","a"]}', '"a"', '[]', '{}']) expect(repeatedKey(text)).toBeUndefined();
  });

  test('found past the keys an object lists before it keeps a Set of them', () => {
    const keys = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`);
    expect(repeatedKey(`{${keys.join(',')},"k3":0}`)?.key).toBe('k3');
    expect(repeatedKey(`{${keys.join(',')},"k39":0}`)?.key).toBe('k39');
    expect(repeatedKey(`{${keys.join(',')}}`)).toBeUndefined();
  });

  test('a 10,000-entry registration batch (1 MiB) is scanned in steps of at most 32 KiB', () => {
    const register = Array.from({ length: 10_000 }, (_, i) => ({ service: 'big', id: `i${i}`, host: `10.0.${i >> 8}.${i & 255}`, port: 8080, metadata: { user: `u${i}`, version: 'v1' } }));
    const text = JSON.stringify({ register });
    const read = stepThrough(repeatedKeySteps, text);
    expect(read.value).toBeUndefined();
    expect(read.yields).toBeGreaterThanOrEqual(Math.floor(text.length / (32 * 1024)));
  });
});
