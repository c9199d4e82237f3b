import { loadRules, RULE_LIMITS } from '../../src/rules';
import { checkRuleLimits } from '../../src/rules/limits';
import { MAX_DOCUMENT_REGEX_WEIGHT } from '../../src/rules/regex';

/** Documents that used to hold the event loop for seconds are refused by a linear scan before the YAML parser runs. */
const refusal = (text: string) => {
  const result = loadRules(text, 'rules.yaml', 1);
  return result.ok ? 'accepted' : `${result.errors[0]!.line}:${result.errors[0]!.column} ${result.errors[0]!.message}`;
};

test('a 60,000-key mapping (the quadratic duplicate-key check took 23 s) is parsed with a linear one, its duplicate found; more keys than the limit are refused unparsed', () => {
  const mapping = (n: number, extra = '') => `rules: []\nx:\n${Array.from({ length: n }, (_, k) => `  k${k}: 1`).join('\n')}\n${extra}`;
  // Over LOCATE_MAX_BYTES: js-yaml's wording and position (a small document gets the yaml library's "Map keys must be unique").
  expect(refusal(mapping(60_000, '  k7: 2\n'))).toBe('60003:3 duplicated mapping key');
  // Over LOCATE_MAX_BYTES a validation error names its path only (placing it would cost the slow parse).
  expect(loadRules(mapping(60_000), 'rules.yaml', 1)).toEqual({ ok: false, errors: [{ path: 'x', message: 'unknown field (expected one of: rules, metadataRoutes)' }] });
  expect(refusal(`rules: [${'1,'.repeat(RULE_LIMITS.maxNodes)}1]`)).toMatch(/^1:\d+ more than 100000 keys and list items$/);
});

test('1 MiB of "[" (6.4 s before) is refused at the nesting limit, where it broke', () => {
  // The top-level line is one level, so the 32nd "[" is the 33rd.
  expect(refusal('['.repeat(1024 * 1024))).toBe(`1:${RULE_LIMITS.maxDepth} nested deeper than ${RULE_LIMITS.maxDepth} levels`);
  expect(refusal('{"a":'.repeat(100) + '1' + '}'.repeat(100))).toBe(`1:${5 * (RULE_LIMITS.maxDepth - 1) + 1} nested deeper than ${RULE_LIMITS.maxDepth} levels`);
});

test('block nesting counts indentation and "- " entries; quotes, comments and apostrophes do not hide structure', () => {
  const deepBlock = Array.from({ length: 40 }, (_, d) => `${'  '.repeat(d)}k${d}:`).join('\n') + ' 1\n';
  expect(refusal(deepBlock)).toMatch(/^33:\d+ nested deeper than 32 levels$/);
  expect(refusal(`x:\n  ${'- '.repeat(40)}a\n`)).toMatch(/^2:\d+ nested deeper than 32 levels$/);
  expect(checkRuleLimits(`name: don't\nx: ${'['.repeat(40)}`)).toMatchObject({ line: 2, message: 'nested deeper than 32 levels' });
  expect(checkRuleLimits(`x: "${'['.repeat(40)}" # ${'{'.repeat(40)}\ny: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['\n`)).toBeUndefined();
});

test('more than 1 MiB is refused without being read further', () => {
  expect(refusal(`rules: []\n#${'x'.repeat(RULE_LIMITS.maxBytes)}`)).toBe(`1:1 document is ${RULE_LIMITS.maxBytes + 11} bytes; the limit is ${RULE_LIMITS.maxBytes}`);
});

test('regexes whose compile alone is costly are refused with the reason', () => {
  const rule = (pattern: string) => `rules:\n  - { name: r, service: s, sources: [{ arguments: [{ type: header, key: x, match: { type: REGEX, value: '${pattern}' } }] }], destinations: [{ name: d, labels: { v: a } }] }\n`;
  expect(refusal(rule('a{1000}'.repeat(100)))).toMatch(/invalid RE2 regex: its \{n,m\} repeat counts add up to more than 1000$/);
  expect(refusal(rule('[a-z]'.repeat(300)))).toMatch(/invalid RE2 regex: longer than 1024 characters$/);
  expect(refusal(rule('^u[0-9]{1,6}$'))).toBe('accepted');
});

test('the benchmark world (1,000 rules, about 58,000 nodes) stays within the limits', () => {
  const rules = Array.from({ length: 1000 }, (_, r) => ({
    name: `r${r}`, service: `s${r % 100}`,
    sources: [{ arguments: [{ type: 'header', key: 'x-user-role', match: { type: 'EXACT', value: `role-${r}` } }, { type: 'query', key: 'uid', match: { type: 'REGEX', value: '^[0-9]+$' } }] }],
    destinations: [{ name: 'gray', labels: { version: 'gray' }, weight: 50 }, { name: 'stable', labels: { version: 'stable' }, weight: 50 }],
    stickyBy: { type: 'query', key: 'uid' },
  }));
  expect(checkRuleLimits(JSON.stringify({ rules }))).toBeUndefined();
});

test('a document\'s regexes together have a compile budget: 500 patterns at the per-pattern limits (1.7 s of compiles) are refused once, where it ran out', () => {
  const pattern = '[a-z]{1,30}'.repeat(33);
  const doc = (n: number) => `rules:\n${Array.from({ length: n }, (_, r) => `  - { name: r${r}, service: s, sources: [{ arguments: [{ type: header, key: x, match: { type: REGEX, value: '${pattern}${r}' } }] }], destinations: [{ name: d, labels: { v: a } }] }`).join('\n')}\n`;
  const result = loadRules(doc(500), 'rules.yaml', 1);
  expect(result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
    `rules[73].sources[0].arguments[0].match.value: the document's regexes weigh more than ${MAX_DOCUMENT_REGEX_WEIGHT} (characters plus {n,m} repeat counts); compiling them would hold the check too long`,
  ]);
  expect(loadRules(doc(70), 'rules.yaml', 1).ok).toBe(true);
});
