import * as fs from 'node:fs';
import type { Instance } from '../model/instance';
import { analyzeRules } from '../rules/analyze';
import type { RuleFormat } from '../rules/parse';
import { ADMIN_HELP, ADMIN_TLS_OPTIONS, adminTls, callAdmin, defaultAdminUrl } from './admin-client';
import { CommandError, text, type Command } from './command';

export const analyzeCommand: Command = {
  name: 'analyze',
  summary: "Check a rules file (or, without FILE, the server's live rules) against the live registry: services with no instances, destination labels no instance carries, sources that never match, rules shadowed by earlier ones.",
  positionals: { synopsis: '[FILE]', min: 0, max: 1 },
  options: {
    admin: { type: 'string', value: 'URL', help: ADMIN_HELP },
    token: { type: 'string', value: 'TOKEN', help: 'admin token (else METAROUTE_TOKEN) when the admin API requires one' },
    ...ADMIN_TLS_OPTIONS,
  },
  notes: 'exit status: 0 no errors (warnings may be printed), 1 errors found or server unreachable, 2 bad usage',
  async run(values, [file]) {
    const admin = text(values, 'admin') ?? defaultAdminUrl();
    const token = text(values, 'token') ?? process.env.METAROUTE_TOKEN;
    const tls = adminTls(values);
    const get = async (urlPath: string) => {
      const answer = await callAdmin(admin, 'GET', urlPath, { token, tls });
      if (answer.status !== 200) throw new CommandError(`${answer.error} (${answer.status} from ${admin}${urlPath})`);
      return answer.json;
    };
    // `format` is the server's (a server before it had none: then read by the origin's name).
    let rules: { text: string; origin: string; format?: RuleFormat };
    if (file === undefined) rules = (await get('/v1/rules')) as { text: string; origin: string; format?: RuleFormat };
    else {
      try {
        rules = { text: fs.readFileSync(file, 'utf8'), origin: file };
      } catch (error) {
        throw new CommandError(`cannot read ${file}: ${(error as Error).message}`);
      }
    }
    const { instances } = (await get('/v1/instances')) as { instances: Instance[] };
    const result = analyzeRules(rules.text, rules.origin, instances, rules.format);
    const where = (f: { line?: number; column?: number }) => (f.line === undefined ? rules.origin : `${rules.origin}:${f.line}:${f.column ?? 1}`);
    if (!result.ok) {
      for (const e of result.errors) process.stdout.write(`${where(e)}: error: ${e.path ? `${e.path}: ` : ''}${e.message} (invalid)\n`);
      return 1;
    }
    for (const f of result.findings) process.stdout.write(`${where(f)}: ${f.severity}: ${f.path}: ${f.message} (${f.code})\n`);
    const errors = result.findings.filter((f) => f.severity === 'error').length;
    process.stdout.write(`${rules.origin}: ${errors} error(s), ${result.findings.length - errors} warning(s) against ${instances.length} instance(s)\n`);
    return errors > 0 ? 1 : 0;
  },
};
