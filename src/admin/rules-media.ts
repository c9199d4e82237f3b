import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RuleFormat } from '../rules';
import { HttpError } from './http';

const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);
/**
 * Types that name no format, read as YAML as every body was before the type counted: none,
 * fetch's for a string body (`text/plain`) and curl's for `--data-binary @rules.yaml`
 * without `-H` (`application/x-www-form-urlencoded`), which no one means for a document.
 */
const UNTYPED = new Set(['', 'text/plain', 'application/x-www-form-urlencoded']);

/** What a 415 lists, and its `Accept` header. */
export const RULE_MEDIA_TYPES = 'application/yaml, application/json';

/**
 * How a rule document sent to the API is read, by its Content-Type: JSON (`application/json`,
 * `+json`) as strict JSON, so its errors speak JSON; YAML types and untyped text as YAML.
 * Another type (a form, multipart, XML) is a 415 naming these: read as YAML, its body would be
 * refused in YAML's terms, or taken for a document it is not.
 */
export function ruleFormat(req: IncomingMessage, res: ServerResponse): RuleFormat {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (YAML_TYPES.has(type) || type.endsWith('+yaml') || UNTYPED.has(type)) return 'yaml';
  res.setHeader('accept', RULE_MEDIA_TYPES);
  throw new HttpError(415, `a rule document is YAML or JSON: send it with Content-Type application/yaml or application/json, not ${JSON.stringify(type.slice(0, 80))}`);
}
