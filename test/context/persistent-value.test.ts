import { persistentMetadata, persistentValue } from '../../src/context/propagation';
import { DEFAULTS } from '../../src/config/config';
import type { Mutation } from '../../src/model/decision';
import type { HeaderList } from '../../src/model/headers';

const lines = (...pairs: Array<[string, string]>): HeaderList => ({ names: pairs.map((p) => p[0]), values: pairs.map((p) => p[1]), bytes: 0, oversized: false });

test('an empty whole-chain line is none: routing and what is written out read the same value', () => {
  const headers = lines(['rpc-persist-env', ''], ['rpc-persist-env', 'dev1']);
  expect(persistentValue(headers, 'env')).toBe('dev1');
  const mutation: Mutation = { set: [], remove: [] };
  persistentMetadata(headers, [], {}, mutation, DEFAULTS.extProc);
  expect(mutation.set.find((h) => h.key === 'x-sct-metadata-transitive-env')?.value).toBe('dev1');

  expect(persistentValue(lines(['rpc-persist-env', ''], ['x-sct-metadata-transitive-env', 'dev2']), 'env')).toBe('dev2');
  expect(persistentValue(lines(['rpc-persist-env', '']), 'env')).toBeUndefined();
});
