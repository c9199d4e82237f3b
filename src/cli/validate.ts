import * as fs from 'node:fs';
import { formatRuleErrors, loadRules, ruleCounts } from '../rules';
import { CommandError, type Command } from './command';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check a rules file (YAML or JSON) without a server; every error is printed with its path and line.',
  positionals: { synopsis: 'FILE', min: 1, max: 1 },
  options: {},
  notes: 'exit status: 0 valid, 1 invalid or unreadable, 2 bad usage',
  run(_values, [file]) {
    let text: string;
    try {
      text = fs.readFileSync(file!, 'utf8');
    } catch (error) {
      throw new CommandError(`cannot read ${file}: ${(error as Error).message}`);
    }
    const result = loadRules(text, file!, 1, true);
    if (!result.ok) {
      process.stderr.write(`${formatRuleErrors(result.errors, file!)}\n`);
      return 1;
    }
    const { rules, metadataRoutes } = ruleCounts(result.snapshot);
    process.stdout.write(`${file}: ok (${rules} rules, ${metadataRoutes} metadata routes)\n`);
    return 0;
  },
};
