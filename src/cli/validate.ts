import * as fs from 'node:fs';
import { formatRuleErrors, loadRules } from '../rules';
import { parseArgs } from './args';

export function runValidate(argv: string[]): number {
  const { positional } = parseArgs(argv, []);
  const file = positional[0];
  if (!file || positional.length > 1) {
    process.stderr.write('usage: metaroute validate FILE\n');
    return 2;
  }
  const result = loadRules(fs.readFileSync(file, 'utf8'), file, 1);
  if (!result.ok) {
    process.stderr.write(`${formatRuleErrors(result.errors, file)}\n`);
    return 1;
  }
  const { inbound, outbound, metadataRoutes } = result.snapshot;
  const count = (m: ReadonlyMap<string, readonly unknown[]>) => [...m.values()].reduce((n, rules) => n + rules.length, 0);
  process.stdout.write(`${file}: ok (${count(inbound) + count(outbound)} rules, ${metadataRoutes.size} metadata routes)\n`);
  return 0;
}
