import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RulesChecker } from '../../src/app/rules-checker';
import { RULES_KEY, RulesSource } from '../../src/app/rules-source';
import { createLogger } from '../../src/log/logger';
import type { RuleSnapshot } from '../../src/model/rule';
import { ruleCounts } from '../../src/rules';
import { EmbeddedStore } from '../../src/store/embedded';
import { captureLogs } from '../support/logs';

/**
 * A stored rule document is unpacked and compiled in slices between event-loop turns (1,000
 * rules in one go held the routing thread 5-15 ms), and swapped in whole at the end.
 */

const ONE_RULE = 'rules:\n  - name: all\n    service: shop\n    destinations: [{ name: d, labels: { version: gray } }]\n';

/** `n` rules over 100 services, each with an EXACT and a REGEX match (as bench/rules/documents.js). */
function manyRules(n: number): string {
  const rules = Array.from({ length: n }, (_, r) => ({
    name: `r${r}`,
    service: `s${r % 100}`,
    sources: [{ arguments: [{ type: 'header', key: 'x-user-role', match: { type: 'EXACT', value: `role-${r}` } }, { type: 'query', key: 'uid', match: { type: 'REGEX', value: `^${r}[0-9]+$` } }] }],
    destinations: [{ name: 'gray', labels: { version: 'gray' }, weight: 50 }, { name: 'stable', labels: { version: 'stable' }, weight: 50 }],
  }));
  return JSON.stringify({ rules });
}

let store: EmbeddedStore;
let checker: RulesChecker;
let source: RulesSource;
beforeEach(async () => {
  store = await EmbeddedStore.open(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-rules-swap-')));
  checker = new RulesChecker();
  source = new RulesSource(store, checker, createLogger('error'));
  await source.start(undefined);
  expect(await source.update(ONE_RULE, 'api')).toEqual({ ok: true, version: 1 });
});
afterEach(async () => {
  source.stop();
  await checker.close();
  await store.close();
});

/** Calls `listener` once, when the store delivers its next rules write (after the source: watchers are told in the order they were added). */
async function onNextRulesWrite(listener: () => void): Promise<void> {
  const unwatch = store.watch(RULES_KEY, (await store.list(RULES_KEY)).revision, () => {
    unwatch();
    listener();
  });
}

/** Reads `source.snapshot` once per event-loop turn, from when the store delivers the next rules write until `stop()`. */
async function readPerTurn(): Promise<{ reads: RuleSnapshot[]; stop: () => void }> {
  const reads: RuleSnapshot[] = [];
  let stopped = false;
  const read = (): void => {
    reads.push(source.snapshot);
    if (!stopped) setImmediate(read);
  };
  await onNextRulesWrite(() => setImmediate(read));
  return { reads, stop: () => (stopped = true) };
}

test('while a stored 1,000-rule document is compiled, other turns run and read the old snapshot; then the whole new one, at once', async () => {
  const old = source.snapshot;
  const seen: RuleSnapshot[] = [];
  source.onChange((snapshot) => seen.push(snapshot));
  const { reads, stop } = await readPerTurn();
  expect(await source.update(manyRules(1000), 'api')).toEqual({ ok: true, version: 2 });
  stop();
  const current = source.snapshot;
  expect(seen).toEqual([current]);
  expect(ruleCounts(current).rules).toBe(1000);
  const turnsOnOld = reads.filter((s) => s === old).length;
  // Before compiling in slices the new snapshot was in place before any other turn ran.
  expect(turnsOnOld).toBeGreaterThan(1);
  // Every read saw one snapshot or the other, never something in between, and the old ones all came first.
  expect(reads.every((s) => s === old || s === current)).toBe(true);
  expect(reads.slice(0, turnsOnOld).every((s) => s === old)).toBe(true);
  expect(source.document.text).toBe(manyRules(1000));
});

test('a refused document changes nothing, also while a valid one is being compiled', async () => {
  const old = source.snapshot;
  const seen: RuleSnapshot[] = [];
  source.onChange((snapshot) => seen.push(snapshot));
  const refused = await source.update('rules:\n  - name: r\n    service: shop\n', 'api');
  expect(refused).toMatchObject({ ok: false, errors: [{ path: 'rules[0].destinations' }] });
  expect(source.snapshot).toBe(old);
  expect(source.document).toMatchObject({ text: ONE_RULE, version: 1 });
  expect(source.history).toHaveLength(1);
  expect(seen).toEqual([]);
  expect(JSON.parse((await store.list(RULES_KEY)).entries[0]!.value)).toMatchObject({ text: ONE_RULE, version: 1 });

  const valid = source.update(manyRules(1000), 'api');
  const invalid = source.update(manyRules(1000).replace('"weight":50', '"weight":"heavy"'), 'api');
  expect(await invalid).toMatchObject({ ok: false });
  expect(await valid).toEqual({ ok: true, version: 2 });
  expect(seen).toEqual([source.snapshot]);
  expect(source.document).toMatchObject({ text: manyRules(1000), version: 2 });
});

test('a stored document this version refuses (another version wrote it) changes nothing, is logged, and the next valid one applies', async () => {
  const logs = captureLogs();
  const replica = new RulesSource(store, checker, logs.logger);
  await replica.start(undefined);
  const old = replica.snapshot;
  const seen: RuleSnapshot[] = [];
  replica.onChange((snapshot) => seen.push(snapshot));
  await store.put(RULES_KEY, JSON.stringify({ text: 'rules:\n  - name: r\n    service: shop\n', origin: 'api', version: 2 }));
  for (let waited = 0; replica.lastReload?.ok !== false && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  try {
    expect(replica.lastReload?.ok).toBe(false);
    expect(replica.snapshot).toBe(old);
    expect(replica.document).toMatchObject({ text: ONE_RULE, version: 1 });
    expect(seen).toEqual([]);
    expect(logs.records()).toContainEqual(expect.objectContaining({ event: 'rules.refused', msg: 'stored rules refused', version: 2, keeping: 1 }));

    expect(await source.update(ONE_RULE.replace('gray', 'blue'), 'api')).toEqual({ ok: true, version: 3 });
    for (let waited = 0; replica.lastReload?.ok !== true && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(replica.document).toMatchObject({ version: 3 });
    expect(seen).toEqual([replica.snapshot]);
  } finally {
    replica.stop();
  }
});

test('a source stopped while it compiles swaps nothing in and tells no listener', async () => {
  const old = source.snapshot;
  const seen: RuleSnapshot[] = [];
  source.onChange((snapshot) => seen.push(snapshot));
  // Three turns after the store delivered it: unpacking and compiling 1,000 rules, in 1 ms slices, is under way.
  await onNextRulesWrite(() => setImmediate(() => setImmediate(() => setImmediate(() => source.stop()))));
  await source.update(manyRules(1000), 'api');
  expect(source.snapshot).toBe(old);
  expect(seen).toEqual([]);
});

test('what prepareWith registers (xDS policies, in slices) runs on the new snapshot before it is swapped in', async () => {
  const old = source.snapshot;
  const prepared: Array<{ next: RuleSnapshot; current: RuleSnapshot }> = [];
  source.prepareWith(async (next) => {
    prepared.push({ next, current: source.snapshot });
    await new Promise((resolve) => setImmediate(resolve));
  });
  expect(await source.update(manyRules(10), 'api')).toEqual({ ok: true, version: 2 });
  expect(prepared).toEqual([{ next: source.snapshot, current: old }]);
});
