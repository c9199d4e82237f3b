import { RE2JS, RE2JSSyntaxException } from 're2js';

/**
 * Compiles an RE2 pattern (Go `regexp` syntax) into an unanchored search, like Go's
 * `regexp.MatchString` and Polaris: `gray` matches `v2-gray-1`; write `^gray$` for a whole
 * value. RE2 runs in time linear in the input, so no pattern can stall the data path;
 * V8's backtracking RegExp must never see a user pattern. Throws an Error whose message
 * says what is wrong (and names the PCRE-only feature when that is the cause).
 */
export function compileRegex(pattern: string): (input: string) => boolean {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new Error(describe(err));
  }
  return (input) => re.test(input);
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
