import type { RuleSnapshot } from '../model/rule';
import { LONE_SURROGATE_MESSAGE, loneSurrogatePath } from '../model/text';
import { compileRules } from './compile';
import { formatPath, type RuleError } from './errors';
import type { PackedDocument } from './packed';
import { fileFormat, parseRuleText, type RuleFormat } from './parse';
import type { RuleDocument } from './schema';
import { validateRules } from './validate';

export { formatRuleErrors, type RuleError } from './errors';
export { compileRules, compileSteps } from './compile';
export { packDocument, unpackSteps, type PackedDocument } from './packed';
export { RULE_LIMITS } from './limits';
export type { ArgumentSpec, LabelSourceSpec, MatchSpec, RuleDocument, RuleSpec, SourceSpec } from './schema';
export { compileMatch } from './matchers';
export { fileFormat, type RuleFormat } from './parse';

export type CheckRulesResult =
  | { readonly ok: true; readonly document: RuleDocument }
  | { readonly ok: false; readonly errors: RuleError[] };

/** `CheckRulesResult` as the rules worker sends it (see PackedDocument). */
export type CheckedRules =
  | { readonly ok: true; readonly document: PackedDocument }
  | { readonly ok: false; readonly errors: RuleError[] };

export type LoadRulesResult =
  | { readonly ok: true; readonly snapshot: RuleSnapshot }
  | { readonly ok: false; readonly errors: RuleError[] };

const EMPTY_DOCUMENT: RuleDocument = { rules: [], metadataRoutes: [] };

/** The rule set before any has been loaded: version 0, no rules. */
export const EMPTY_RULES: RuleSnapshot = compileRules(EMPTY_DOCUMENT, 0);

/**
 * Parses (YAML or JSON), validates and compiles a rule document. On failure nothing is
 * compiled and every error is returned, with its path and line:column in `text`, in
 * text order. `origin` is the file name or 'api'; a `.json` name selects strict JSON.
 */
export function loadRules(text: string, origin: string, version: number, strict = false): LoadRulesResult {
  const checked = checkRules(text, origin, strict);
  return checked.ok ? { ok: true, snapshot: compileRules(checked.document, version) } : checked;
}

/**
 * Parses and validates without compiling: the validated document is plain data, so the
 * rules worker (app/rules-checker) returns it (packed) to the routing thread, which only compiles.
 * `strict` for a new document (see validateRules); a stored one is loaded without it. `format`
 * is the origin's by its name unless given (a JSON body sent to the API).
 */
export function checkRules(text: string, origin: string, strict = false, format: RuleFormat = fileFormat(origin)): CheckRulesResult {
  const parsed = parseRuleText(text, format);
  if (!parsed.ok) return parsed;
  const bad = loneSurrogatePath(parsed.parsed.value);
  if (bad) return { ok: false, errors: [{ path: formatPath(bad), ...parsed.parsed.locate(bad), message: LONE_SURROGATE_MESSAGE }] };
  const result = validateRules(parsed.parsed.value, parsed.parsed.locate, strict);
  return result.ok ? result : { ok: false, errors: [...result.errors].sort(byPosition) };
}

/** The same for an already parsed value (an API body, a stored document); errors carry paths only. */
export function loadRulesValue(value: unknown, version: number): LoadRulesResult {
  const bad = loneSurrogatePath(value);
  if (bad) return { ok: false, errors: [{ path: formatPath(bad), message: LONE_SURROGATE_MESSAGE }] };
  const result = validateRules(value);
  return result.ok ? { ok: true, snapshot: compileRules(result.document, version) } : result;
}

function byPosition(a: RuleError, b: RuleError): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

/** How many rules a snapshot holds, for logs and the validate command. */
export function ruleCounts(snapshot: RuleSnapshot): { rules: number; metadataRoutes: number } {
  let rules = 0;
  for (const list of [...snapshot.inbound.values(), ...snapshot.outbound.values()]) rules += list.length;
  return { rules, metadataRoutes: snapshot.metadataRoutes.size };
}
