import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatRuleErrors, loadRules } from '../../src/rules';

/** The rule set loadtest/gateway.ts expects is valid metaroute rule language. */
test('loadtest/rules.yaml loads', () => {
  const file = path.join(__dirname, '..', '..', 'loadtest', 'rules.yaml');
  const result = loadRules(fs.readFileSync(file, 'utf8'), file, 1);
  if (!result.ok) throw new Error(formatRuleErrors(result.errors, file));
  expect([...result.snapshot.inbound.values()].flat().map((r) => r.name)).toEqual(['staff-to-gray', 'vip-pool', 'even-users-blue', 'blue-green']);
  expect([...result.snapshot.metadataRoutes.values()]).toEqual([
    expect.objectContaining({ service: 'aigc', namespace: 'default', keys: ['user'], from: 'claim', mode: 'endpoint' }),
  ]);
});
