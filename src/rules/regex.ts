import { RE2JS, RE2JSSyntaxException } from 're2js';

/**
 * Compiles an RE2 pattern (Go `regexp` syntax) into an unanchored search, like Go's
 * `regexp.MatchString` and Polaris: `gray` matches `v2-gray-1`; write `^gray$` for a whole
 * value. RE2 runs in time linear in the input, so no pattern can stall the data path;
 * V8's backtracking RegExp must never see a user pattern. Throws an Error whose message
 * says what is wrong (and names the PCRE-only feature when that is the cause).
 */
export function compileRegex(pattern: string): (input: string) => boolean {
  const tooCostly = compileCost(pattern);
  if (tooCostly) throw new Error(`invalid RE2 regex: ${tooCostly}`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new Error(describe(err));
  }
  return (input) => input.length <= MAX_REGEX_INPUT && re.test(input);
}

/**
 * The longest value a REGEX tests; a longer one fails it, as an absent label does. RE2 is
 * linear in the input, but re2js builds DFA states as it goes, and an input that keeps
 * reaching new ones costs microseconds per character: `a[ab]{900}[0-9]` against a 60 KB
 * header held the event loop 0.6-0.8 s per request. Values routed on are short.
 */
export const MAX_REGEX_INPUT = 1024;

/** Patterns whose compile alone would take many milliseconds (`a{1000}` a hundred times: 0.4 s) are refused. */
export const MAX_REGEX_LENGTH = 1024;
export const MAX_REGEX_REPEATS = 1000;

/**
 * What the regexes of one document may weigh together (`regexWeight`): compiling costs about
 * 2.5 µs per unit (500 patterns at the per-pattern limits took 1.7 s), so this bounds a
 * document's compiles to about 0.25 s. 1,000 rules with a 10-character pattern each weigh 10,000.
 */
export const MAX_DOCUMENT_REGEX_WEIGHT = 100_000;

/** A pattern's compile cost in units: its length plus its {n,m} repeat counts (past the per-pattern limits it is refused uncompiled). */
export function regexWeight(pattern: string): number {
  return Math.min(pattern.length + repeatCount(pattern), MAX_REGEX_LENGTH + MAX_REGEX_REPEATS);
}

function repeatCount(pattern: string): number {
  let repeats = 0;
  for (const m of pattern.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) repeats += Number(m[2] || m[1]);
  return repeats;
}

function compileCost(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`;
  return repeatCount(pattern) > MAX_REGEX_REPEATS ? `its {n,m} repeat counts add up to more than ${MAX_REGEX_REPEATS}` : undefined;
}

function describe(err: unknown): string {
  if (!(err instanceof RE2JSSyntaxException)) return `invalid RE2 regex: ${(err as Error).message}`;
  const fragment = err.getPattern();
  const what = fragment ? `${err.getDescription()} \`${fragment}\`` : err.getDescription();
  return `invalid RE2 regex: ${what}${hint(fragment ?? '')}`;
}

function hint(fragment: string): string {
  if (/^\(\?<?[=!]/.test(fragment)) return ' (RE2 has no lookahead or lookbehind)';
  if (/^\\([1-9]|k)/.test(fragment)) return ' (RE2 has no backreferences)';
  return '';
}
