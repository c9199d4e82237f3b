import type { MatchType } from '../../src/model/rule';
import { compileMatch } from '../../src/rules/matchers';
import { compileRegex } from '../../src/rules/regex';

function msg(type: MatchType, value: string | undefined): string {
  try {
    compileMatch(type, value);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`expected ${type} ${String(value)} to be rejected`);
}

describe('compileMatch', () => {
  test('EXACT', () => {
    const t = compileMatch('EXACT', 'staff');
    expect(t('staff')).toBe(true);
    expect(t('Staff')).toBe(false);
    expect(t('staff ')).toBe(false);
    expect(t(undefined)).toBe(false);
  });

  test('PREFIX', () => {
    const t = compileMatch('PREFIX', 'v2');
    expect(t('v2')).toBe(true);
    expect(t('v2.1')).toBe(true);
    expect(t('xv2')).toBe(false);
    expect(t(undefined)).toBe(false);
  });

  test('NOT_EQUALS holds for an absent label', () => {
    const t = compileMatch('NOT_EQUALS', 'staff');
    expect(t('staff')).toBe(false);
    expect(t('guest')).toBe(true);
    expect(t('')).toBe(true);
    expect(t(undefined)).toBe(true);
  });

  test('IN trims items', () => {
    const t = compileMatch('IN', ' a, b ,c');
    expect(t('a')).toBe(true);
    expect(t('b')).toBe(true);
    expect(t('c')).toBe(true);
    expect(t(' b ')).toBe(false);
    expect(t('d')).toBe(false);
    expect(t('a,b')).toBe(false);
    expect(t(undefined)).toBe(false);
  });

  test('NOT_IN holds for an absent label', () => {
    const t = compileMatch('NOT_IN', 'a,b');
    expect(t('a')).toBe(false);
    expect(t('b')).toBe(false);
    expect(t('c')).toBe(true);
    expect(t(undefined)).toBe(true);
  });

  test('IN with a single item and empty items', () => {
    expect(compileMatch('IN', 'solo')('solo')).toBe(true);
    expect(msg('IN', 'a,,b')).toMatch(/without empty items/);
    expect(msg('NOT_IN', 'a,')).toMatch(/without empty items/);
  });

  test('RANGE is inclusive on both bounds', () => {
    const t = compileMatch('RANGE', '10~20');
    expect(t('9.999')).toBe(false);
    expect(t('10')).toBe(true);
    expect(t('15.5')).toBe(true);
    expect(t('20')).toBe(true);
    expect(t('20.001')).toBe(false);
    expect(t('abc')).toBe(false);
    expect(t('')).toBe(false);
    expect(t(undefined)).toBe(false);
  });

  test('RANGE with open sides and negatives', () => {
    const below = compileMatch('RANGE', '~0');
    expect(below('-1e9')).toBe(true);
    expect(below('0')).toBe(true);
    expect(below('0.1')).toBe(false);
    const above = compileMatch('RANGE', '-5~');
    expect(above('-5')).toBe(true);
    expect(above('-5.1')).toBe(false);
    expect(above('1e12')).toBe(true);
    const point = compileMatch('RANGE', ' 3 ~ 3 ');
    expect(point('3')).toBe(true);
    expect(point('3.0')).toBe(true);
    expect(point('4')).toBe(false);
  });

  test('RANGE rejects bad bounds', () => {
    expect(msg('RANGE', '5~1')).toBe('range minimum 5 is greater than maximum 1');
    expect(msg('RANGE', 'a~5')).toBe('range bound "a" is not a number');
    expect(msg('RANGE', '1~0x10')).toBe('range bound "0x10" is not a number');
    expect(msg('RANGE', '~')).toBe('a range needs at least one bound');
    expect(msg('RANGE', '5')).toMatch(/must be min~max/);
    expect(msg('RANGE', '1~2~3')).toMatch(/must be min~max/);
  });

  test('EXISTS', () => {
    for (const value of [undefined, 'true']) {
      const t = compileMatch('EXISTS', value);
      expect(t('')).toBe(true);
      expect(t('x')).toBe(true);
      expect(t(undefined)).toBe(false);
    }
    const absent = compileMatch('EXISTS', 'false');
    expect(absent(undefined)).toBe(true);
    expect(absent('')).toBe(false);
    expect(msg('EXISTS', 'yes')).toBe('must be omitted, true or false for EXISTS');
  });

  test('every type but EXISTS needs a non-empty value', () => {
    for (const type of ['EXACT', 'PREFIX', 'REGEX', 'NOT_EQUALS', 'IN', 'NOT_IN', 'RANGE'] as const) {
      expect(msg(type, undefined)).toBe(`is required for ${type}`);
      expect(msg(type, '')).toBe(`must not be empty for ${type}`);
    }
  });

  test('REGEX is an unanchored RE2 search', () => {
    const t = compileMatch('REGEX', 'gr[ae]y');
    expect(t('v2-gray-1')).toBe(true);
    expect(t('grey')).toBe(true);
    expect(t('green')).toBe(false);
    expect(t(undefined)).toBe(false);
    const anchored = compileMatch('REGEX', '^(even|odd)$');
    expect(anchored('even')).toBe(true);
    expect(anchored('uneven')).toBe(false);
    expect(compileMatch('REGEX', '(?i)^STAFF$')('staff')).toBe(true);
    expect(compileMatch('REGEX', '[02468]$')('user-1234')).toBe(true);
  });
});

describe('compileRegex', () => {
  test('a catastrophic-backtracking pattern runs in linear time and answers correctly', () => {
    // 1,000 characters (within MAX_REGEX_INPUT): a backtracking engine would take 2^1000 steps.
    const input = 'a'.repeat(1_000) + 'b';
    expect(compileRegex('(a+)+$')(input)).toBe(false);
    expect(compileRegex('(a+)+b$')(input)).toBe(true);
    expect(compileRegex('^(a|aa)+$')('a'.repeat(1_000))).toBe(true);
    expect(compileRegex('^(a|aa)+$')(input)).toBe(false);
  });

  test('PCRE-only syntax is rejected with a clear message', () => {
    expect(() => compileRegex('foo(?=bar)')).toThrow('invalid RE2 regex: invalid or unsupported Perl syntax `(?=` (RE2 has no lookahead or lookbehind)');
    expect(() => compileRegex('(?!x)')).toThrow(/RE2 has no lookahead or lookbehind/);
    expect(() => compileRegex('(?<=a)b')).toThrow(/RE2 has no lookahead or lookbehind/);
    expect(() => compileRegex('(a)\\1')).toThrow('invalid RE2 regex: invalid escape sequence `\\1` (RE2 has no backreferences)');
    expect(() => compileRegex('(?<n>a)\\k<n>')).toThrow(/RE2 has no backreferences/);
  });

  test('other syntax errors name the problem', () => {
    expect(() => compileRegex('[a-')).toThrow(/^invalid RE2 regex: missing closing \]/);
    expect(() => compileRegex('a**')).toThrow(/^invalid RE2 regex: invalid nested repetition operator/);
  });
});
