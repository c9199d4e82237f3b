import { parseBatch, parseRef, parseRefs } from '../../src/registry/batch-input';
import { turnsDuring } from '../support/turns';

test('parseRefs validates a long list a few hundred entries per event-loop turn, naming a bad entry by index', async () => {
  const list: unknown[] = Array.from({ length: 2000 }, (_, i) => ({ service: 'shop', id: `i${i}` }));
  list[1500] = { service: 'shop', id: 'a b' };
  const errors: string[] = [];
  const parsing = parseRefs(list, 'instances', errors);
  expect(await turnsDuring(parsing)).toBeGreaterThanOrEqual(2); // 2,000 entries, 500 per turn: other work ran between the chunks (none if it ran at once)
  const refs = await parsing;
  expect(errors).toEqual(["instances[1500].id: must be a name of letters, digits, '_', '.', '-', ':', got \"a b\""]);
  expect(refs[0]).toEqual({ namespace: 'default', service: 'shop', id: 'i0' });
  expect(refs[1500]).toBeUndefined();
});

test('parseBatch and parseRefs look at no entry in the turn they are called in (the body was parsed in it)', async () => {
  const looked: string[] = [];
  const watched = (name: string, value: Record<string, unknown>) => new Proxy(value, { ownKeys: (target) => (looked.push(name), Reflect.ownKeys(target)) });
  const batch = parseBatch({ register: [watched('register[0]', { service: 'shop', host: '10.0.0.1', port: 80 })] }, { ttlSeconds: 15 });
  const refs = parseRefs([watched('instances[0]', { service: 'shop', id: 'i0' })], 'instances', []);
  expect(looked).toEqual([]);
  expect((await batch).ok).toBe(true);
  expect(await refs).toEqual([{ namespace: 'default', service: 'shop', id: 'i0' }]);
  expect(looked.sort()).toEqual(['instances[0]', 'register[0]']);
});

test('parseRef names every unknown or bad field of an entry, a JSON `__proto__` key included, and defaults the namespace', () => {
  const errors: string[] = [];
  expect(parseRef(JSON.parse('{"service":"shop","id":"i1"}'), 'instances[0]', errors)).toEqual({ namespace: 'default', service: 'shop', id: 'i1' });
  expect(errors).toEqual([]);
  expect(parseRef(JSON.parse('{"namespace":"a b","id":7,"zone":"z","__proto__":{}}'), 'instances[3]', errors)).toBeUndefined();
  expect(errors).toEqual([
    'instances[3].zone: unknown field (namespace, service, id)',
    'instances[3].__proto__: unknown field (namespace, service, id)',
    "instances[3].namespace: must be a name of letters, digits, '_', '.', '-', ':', got \"a b\"",
    "instances[3].service: required, a name of letters, digits, '_', '.', '-', ':'",
    "instances[3].id: must be a name of letters, digits, '_', '.', '-', ':', got 7",
  ]);
  expect(parseRef([], 'instances[4]', errors)).toBeUndefined();
  expect(errors.at(-1)).toBe('instances[4]: must be an object {namespace, service, id}');
});
