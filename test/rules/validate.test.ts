import { EMPTY_RULES, formatRuleErrors, loadRules, loadRulesValue, RULE_LIMITS, type RuleError } from '../../src/rules';
import { LOCATE_MAX_BYTES } from '../../src/rules/parse';
import { validateRules } from '../../src/rules/validate';

function errorsOf(text: string, origin = 'rules.yaml'): RuleError[] {
  const result = loadRules(text, origin, 1);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

/** `path -> "line:column message"`, for compact exact assertions. */
function summary(errors: readonly RuleError[]): string[] {
  return errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`);
}

const VALID = `
rules:
  - name: staff-to-gray
    service: shop
    sources:
      - arguments:
          - type: header
            key: X-User-Role
            match: { type: EXACT, value: staff }
    destinations:
      - name: gray
        labels: { version: gray }
      - name: base
        labels: { version: base }
        priority: 1
`;

describe('loadRules: valid input', () => {
  test('fills defaults', () => {
    const result = validateRules(loadValue(VALID));
    expect(result).toEqual({
      ok: true,
      document: {
        rules: [
          {
            name: 'staff-to-gray',
            service: 'shop',
            namespace: 'default',
            direction: 'inbound',
            sources: [{ service: '*', namespace: '*', arguments: [{ type: 'header', key: 'X-User-Role', match: { type: 'EXACT', value: 'staff' } }] }],
            destinations: [
              { name: 'gray', labels: { version: 'gray' }, priority: 0, weight: 100, isolate: false },
              { name: 'base', labels: { version: 'base' }, priority: 1, weight: 100, isolate: false },
            ],
            failover: 'all',
          },
        ],
        metadataRoutes: [],
      },
    });
  });

  test('the validated document validates again to itself (config dump round trip)', () => {
    const text = `${VALID}
    stickyBy: { type: cookie, key: uid }
  - name: out
    service: shop
    direction: outbound
    sources:
      - service: pay
        arguments:
          - type: method
            match: { type: IN, value: "GET, HEAD" }
          - type: claim
            key: tier
            match: { type: EXISTS, value: false }
    destinations:
      - name: a
        labels: { zone: z1 }
    failover: none
metadataRoutes:
  - service: aigc
    keys: [user]
    mode: endpoint
`;
    const result = loadRules(text, 'rules.yaml', 3);
    if (!result.ok) throw new Error(formatRuleErrors(result.errors, 'rules.yaml'));
    const again = validateRules(JSON.parse(JSON.stringify(result.snapshot.source)));
    expect(again).toEqual({ ok: true, document: result.snapshot.source });
  });

  test('JSON input works, through the file and the value entry points', () => {
    const json = JSON.stringify({
      rules: [{ name: 'r', service: 's', destinations: [{ name: 'd', labels: { v: '1' } }] }],
      metadataRoutes: [{ service: 'aigc', keys: ['user'], failover: 'others' }],
    });
    for (const result of [loadRules(json, 'rules.json', 7), loadRules(json, 'api', 7), loadRulesValue(JSON.parse(json), 7)]) {
      expect(result.ok).toBe(true);
      if (!result.ok) continue;
      expect(result.snapshot.version).toBe(7);
      expect([...result.snapshot.inbound.keys()]).toEqual(['default/s']);
      expect(result.snapshot.metadataRoutes.get('default/aigc')).toEqual({
        service: 'aigc', namespace: 'default', keys: ['user'], failover: 'others', mode: 'subset', from: 'request',
      });
    }
  });

  test('empty and null documents are an empty rule set', () => {
    for (const text of ['', '# nothing yet\n', 'null', '{}', 'rules:\nmetadataRoutes:\n']) {
      const result = loadRules(text, 'rules.yaml', 2);
      expect(result.ok).toBe(true);
      if (!result.ok) continue;
      expect(result.snapshot.inbound.size + result.snapshot.outbound.size + result.snapshot.metadataRoutes.size).toBe(0);
      expect(result.snapshot.version).toBe(2);
    }
    expect(EMPTY_RULES.version).toBe(0);
    expect(EMPTY_RULES.inbound.size + EMPTY_RULES.outbound.size + EMPTY_RULES.metadataRoutes.size).toBe(0);
  });

  test('EXISTS takes a YAML boolean or the strings true/false', () => {
    const text = (value: string) => `
rules:
  - name: r
    service: s
    sources:
      - arguments:
          - { type: query, key: debug, match: { type: EXISTS${value} } }
    destinations: [{ name: d, labels: { v: "1" } }]
`;
    for (const [value, stored] of [['', undefined], [', value: true', 'true'], [', value: "false"', 'false']] as const) {
      const result = loadRules(text(value), 'rules.yaml', 1);
      if (!result.ok) throw new Error(formatRuleErrors(result.errors, 'rules.yaml'));
      const doc = result.snapshot.source as { rules: { sources: { arguments: { match: { value?: string } }[] }[] }[] };
      expect(doc.rules[0].sources[0].arguments[0].match.value).toBe(stored);
    }
  });
});

function loadValue(text: string): unknown {
  const result = loadRules(text, 'rules.yaml', 1);
  if (!result.ok) throw new Error(formatRuleErrors(result.errors, 'rules.yaml'));
  return result.snapshot.source;
}

describe('loadRules: errors', () => {
  test('reports every error at once, with exact paths and line:column, in text order', () => {
    const text = `rules:
  - name: staff-to-gray
    service: shop
    direction: sideways
    sources:
      - arguments:
          - type: header
            key: x-user-role
            match: { type: EXACT, value: 5 }
          - type: method
            key: nope
            match: { type: REGEX, value: "a(?=b)" }
          - type: cookie
            match: { type: RANGE, value: "9~1" }
    destnations: []
    destinations:
      - name: gray
        labels: { version: gray }
        weight: -1
      - name: gray
        labels: {}
    failover: blue
  - name: staff-to-gray
    service: "*"
    destinations:
      - name: all
        labels: { v: 1 }
metadataRoutes:
  - service: aigc
    keys: [user, user, ""]
    failover: some
  - service: aigc
    namespace: default
    keys: []
extra: 1
`;
    expect(summary(errorsOf(text))).toEqual([
      '4:16 rules[0].direction: must be one of: inbound, outbound; got "sideways"',
      '9:42 rules[0].sources[0].arguments[0].match.value: must be a string, got a number 5 (quote it in YAML)',
      '11:13 rules[0].sources[0].arguments[1].key: is not used by type method; remove it',
      '12:42 rules[0].sources[0].arguments[1].match.value: invalid RE2 regex: invalid or unsupported Perl syntax `(?=` (RE2 has no lookahead or lookbehind)',
      '13:13 rules[0].sources[0].arguments[2].key: is required',
      '14:42 rules[0].sources[0].arguments[2].match.value: range minimum 9 is greater than maximum 1',
      '15:5 rules[0].destnations: unknown field (did you mean "destinations"?)',
      '19:17 rules[0].destinations[0].weight: must be an integer >= 0, got -1',
      '20:15 rules[0].destinations[1].name: duplicate destination name "gray" (first at destinations[0])',
      '21:17 rules[0].destinations[1].labels: must not be empty',
      '22:15 rules[0].failover: names no destination of this rule; expected all, none or one of: gray',
      '23:11 rules[1].name: duplicate rule name "staff-to-gray" (first at rules[0])',
      '24:14 rules[1].service: must name one service ("*" is only allowed in sources)',
      '26:15 rules[1].destinations[0].name: "all" is reserved for failover; choose another name',
      '27:22 rules[1].destinations[0].labels.v: must be a string, got a number 1 (quote it in YAML)',
      '30:18 metadataRoutes[0].keys[1]: duplicate key "user"',
      '30:24 metadataRoutes[0].keys[2]: must not be empty',
      '31:15 metadataRoutes[0].failover: must be one of: none, all, others; got "some"',
      '32:5 metadataRoutes[1]: duplicate metadata route for service default/aigc (first at metadataRoutes[0])',
      '34:11 metadataRoutes[1].keys: must not be empty',
      '35:1 extra: unknown field (expected one of: rules, metadataRoutes)',
    ]);
  });

  test('formatRuleErrors prints one line per error', () => {
    const text = 'rules:\n  - name: r\n    service: s\n    destinations:\n      - name: d\n        labels: { v: "1" }\n        weight: 1.5\n';
    expect(formatRuleErrors(errorsOf(text), 'rules.yaml')).toBe('rules.yaml:7:17: rules[0].destinations[0].weight: must be an integer >= 0, got 1.5');
    expect(formatRuleErrors([{ path: 'rules', message: 'must be a list, got a string "x"' }, { path: '', message: 'boom' }], 'api')).toBe(
      'api: rules: must be a list, got a string "x"\napi: boom',
    );
  });

  test('a missing field points at the mapping that lacks it', () => {
    const text = 'rules:\n  - name: r\n    destinations:\n      - labels: { v: "1" }\n';
    expect(summary(errorsOf(text))).toEqual([
      '2:5 rules[0].service: is required',
      '4:9 rules[0].destinations[0].name: is required',
    ]);
  });

  test('a field with nothing after it counts as absent and points at its key', () => {
    const text = 'rules:\n  - name: r\n    service:\n    destinations:\n';
    expect(summary(errorsOf(text))).toEqual([
      '3:5 rules[0].service: is required',
      '4:5 rules[0].destinations: is required',
    ]);
  });

  test('a failover naming a destination of a rule without named destinations says there are none to name', () => {
    const text = `rules:
  - name: misspelt
    service: s
    destnations: [{ name: gray, labels: { v: "1" } }]
    failover: gray
`;
    expect(summary(errorsOf(text))).toEqual([
      '2:5 rules[0].destinations: is required',
      '4:5 rules[0].destnations: unknown field (did you mean "destinations"?)',
      '5:15 rules[0].failover: names no destination of this rule; expected all or none (the rule has no named destination)',
    ]);
  });

  test('isolation and weights', () => {
    const text = `rules:
  - name: isolated
    service: s
    destinations:
      - { name: a, labels: { v: "1" }, isolate: true }
      - { name: b, labels: { v: "2" }, isolate: true }
    failover: a
  - name: zero
    service: s
    destinations:
      - { name: a, labels: { v: "1" }, weight: 0 }
      - { name: b, labels: { v: "2" }, weight: 5, isolate: true }
      - { name: c, labels: { v: "3" }, weight: 0, priority: 1 }
      - { name: d, labels: { v: "4" }, weight: 1, priority: 2 }
`;
    expect(summary(errorsOf(text))).toEqual([
      '5:7 rules[0].destinations: every destination is isolated; at least one must receive traffic',
      '7:15 rules[0].failover: names isolated destination "a", which receives no traffic',
      '11:7 rules[1].destinations: priority 0 group (a) has a total weight of 0; give one of its non-isolated destinations a weight > 0',
      '11:7 rules[1].destinations: priority 1 group (c) has a total weight of 0; give one of its non-isolated destinations a weight > 0',
    ]);
  });

  test('wrong types, empty strings and padded names', () => {
    const text = `rules:
  - name: ""
    service: " shop"
    namespace: 3
    sources: { service: a }
    destinations:
      - name: d
        labels: [v]
        priority: "1"
  - just a string
metadataRoutes: {}
`;
    expect(summary(errorsOf(text))).toEqual([
      '2:11 rules[0].name: must not be empty',
      '3:14 rules[0].service: must not start or end with spaces',
      '4:16 rules[0].namespace: must be a string, got a number 3 (quote it in YAML)',
      '5:14 rules[0].sources: must be a list, got a mapping',
      '8:17 rules[0].destinations[0].labels: must be a mapping of instance labels, got a list',
      '9:19 rules[0].destinations[0].priority: must be an integer >= 0, got a string "1"',
      '10:5 rules[1]: must be a mapping, got a string "just a string"',
      '11:17 metadataRoutes: must be a list, got a mapping',
    ]);
  });

  test('argument and stickyBy sources', () => {
    const text = `rules:
  - name: r
    service: s
    sources:
      - arguments:
          - { type: HEADER, key: a, match: { value: x } }
          - { key: a, match: { type: exact, value: x } }
          - { type: env, key: STAGE }
          - { type: query, key: q, match: { type: IN, value: "a,,b" } }
          - { type: caller_ip, match: { type: PREFIX, value: "" } }
    destinations: [{ name: d, labels: { v: "1" } }]
    stickyBy: { type: header }
`;
    expect(summary(errorsOf(text))).toEqual([
      '6:21 rules[0].sources[0].arguments[0].type: must be one of: header, query, cookie, method, path, caller_service, caller_ip, caller_metadata, claim, env; got "HEADER"',
      '7:13 rules[0].sources[0].arguments[1].type: is required (one of: header, query, cookie, method, path, caller_service, caller_ip, caller_metadata, claim, env)',
      '7:38 rules[0].sources[0].arguments[1].match.type: must be one of: EXACT, PREFIX, REGEX, NOT_EQUALS, IN, NOT_IN, RANGE, EXISTS; got "exact"',
      '8:13 rules[0].sources[0].arguments[2].match: is required',
      '9:62 rules[0].sources[0].arguments[3].match.value: must be a comma-separated list without empty items, got "a,,b"',
      '10:62 rules[0].sources[0].arguments[4].match.value: must not be empty for PREFIX',
      '12:15 rules[0].stickyBy.key: is required',
    ]);
  });

  test('the top level must be a mapping', () => {
    expect(summary(errorsOf('- a\n- b\n'))).toEqual(['1:1 : must be a mapping with "rules" and/or "metadataRoutes", got a list']);
    expect(summary(errorsOf('"just text"', 'rules.json'))).toEqual(['1:1 : must be a mapping with "rules" and/or "metadataRoutes", got a string "just text"']);
    const result = loadRulesValue(42, 1);
    expect(result).toEqual({ ok: false, errors: [{ path: '', message: 'must be a mapping with "rules" and/or "metadataRoutes", got a number 42' }] });
  });

  test('an API value gets paths without positions', () => {
    const result = loadRulesValue({ rules: [{ name: 'r', service: 's', destinations: [{ name: 'd', labels: { v: '1' }, wieght: 5 }] }] }, 1);
    expect(result).toEqual({ ok: false, errors: [{ path: 'rules[0].destinations[0].wieght', message: 'unknown field (did you mean "weight"?)' }] });
  });

  test('label names that are not identifiers are quoted in paths', () => {
    const text = 'rules:\n  - name: r\n    service: s\n    destinations:\n      - name: d\n        labels: { "app.kubernetes.io/name": 7 }\n';
    expect(summary(errorsOf(text))).toEqual([
      '6:45 rules[0].destinations[0].labels["app.kubernetes.io/name"]: must be a string, got a number 7 (quote it in YAML)',
    ]);
  });

  test('YAML and JSON syntax errors carry line:column', () => {
    expect(summary(errorsOf('rules:\n  - name: a\n    service: [s\n  - name: b\n'))[0]).toMatch(/^4:\d+ : /);
    expect(summary(errorsOf('rules: []\nrules: []\n'))).toEqual(['2:1 : Map keys must be unique']);
    expect(summary(errorsOf('rules: []\n---\nrules: []\n'))[0]).toMatch(/^2:1 : Source contains multiple documents/);
    // A .json origin is strict JSON: an unquoted key is an error, not a string.
    expect(summary(errorsOf('{\n  rules: []\n}', 'rules.json'))).toEqual(['2:3 : not strict JSON: invalid symbol at "rules"']);
  });

  test('a .json file is placed where it stops being strict JSON, even where YAML would read on', () => {
    const trailing = '{\n  "rules": [\n    {\n      "name": "a", "service": "shop",\n      "destinations": [{ "name": "g", "labels": { "version": "gray" } }],\n    }\n  ]\n}\n';
    expect(summary(errorsOf(trailing, 'rules.json'))).toEqual(["6:5 : not strict JSON: trailing comma before '}'"]);
    expect(summary(errorsOf('{"rules": [\n  1,\n  2,\n]}', 'rules.json'))).toEqual(["4:1 : not strict JSON: trailing comma before ']'"]);
    expect(summary(errorsOf('{"rules": [] # none yet\n}', 'rules.json'))).toEqual(['1:14 : not strict JSON: invalid symbol at "#"']);
    // Over LOCATE_MAX_BYTES the `yaml` library's positions are skipped; this one still is.
    expect(summary(errorsOf(`{"rules": [],\n "x": "${'y'.repeat(LOCATE_MAX_BYTES)}", }`, 'rules.json'))).toEqual([`2:${LOCATE_MAX_BYTES + 11} : not strict JSON: trailing comma before '}'`]);
    // The first departure, though YAML would stop at a later one; a byte-order mark is no departure.
    expect(summary(errorsOf('{"rules": [1,],\n "x": foo}', 'rules.json'))).toEqual(["1:14 : not strict JSON: trailing comma before ']'"]);
    expect(summary(errorsOf('\ufeff{"rules": [], "x": 1,}', 'rules.json'))).toEqual(["1:22 : not strict JSON: trailing comma before '}'"]);
  });

  test('JSON is read as JSON: a key repeated in one object is refused in its terms, at the repetition, at any size', () => {
    const repeated = 'key "name" repeated in one object (JSON readers differ on which one counts)';
    expect(summary(errorsOf('{"rules": [{"name": "a",\n  "name": "b"}]}', 'rules.json'))).toEqual([`2:3 : ${repeated}`]);
    expect(summary(errorsOf(`{"x": "${'y'.repeat(LOCATE_MAX_BYTES)}", "rules": [{"name": "a", "n\\u0061me": "b"}]}`, 'rules.json'))).toEqual([`1:${LOCATE_MAX_BYTES + 35} : ${repeated}`]);
  });

  test('alias expansion bombs are refused: aliases may not expand a document past the node limit', () => {
    const levels = 'abcdefghi'.split('');
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]', ...levels.slice(1).map((l, i) => `${l}: &${l} [${Array(9).fill(`*${levels[i]}`).join(',')}]`)].join('\n'); // 9^9 nodes
    expect(summary(errorsOf(bomb))).toEqual(['1:1 : Excessive alias count indicates a resource exhaustion attack']); // the yaml library's wording, small documents
    expect(summary(errorsOf(`${bomb}\n#${'x'.repeat(LOCATE_MAX_BYTES)}`))).toEqual([`1:1 : aliases expand the document past ${RULE_LIMITS.maxNodes} keys and list items`]);
    // Within the limit, an aliased document is read (and here refused for what it says, with positions).
    const fine = ['a: &a [x,x,x]', 'b: [*a,*a]'].join('\n');
    expect(summary(errorsOf(fine))).toEqual(['1:1 a: unknown field (expected one of: rules, metadataRoutes)', '2:1 b: unknown field (expected one of: rules, metadataRoutes)']);
  });
});

describe('strings Envoy can parse', () => {
  test('a lone surrogate (YAML or JSON escape) anywhere is refused with its path and position', () => {
    expect(summary(errorsOf('rules:\n  - name: r\n    service: shop\n    destinations: [{ name: d, labels: { version: "gr\\ud800ay" } }]\n'))).toEqual([
      '4:50 rules[0].destinations[0].labels.version: contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)',
    ]);
    expect(summary(errorsOf('{"metadataRoutes": [{"service": "aigc", "keys": ["\\udc00"]}]}', 'rules.json'))).toEqual([
      '1:50 metadataRoutes[0].keys[0]: contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)',
    ]);
    const value = loadRulesValue({ rules: [{ name: 'r', service: 'shop', destinations: [{ name: 'd', labels: { ['k\ud800']: 'v' } }] }] }, 1);
    expect(value.ok ? [] : value.errors.map((e) => e.path)).toEqual(['rules[0].destinations[0].labels["k\\ud800"]']);
  });

  test('a surrogate pair (an emoji) is fine', () => {
    expect(loadRules('rules:\n  - { name: r, service: shop, destinations: [{ name: d, labels: { mood: "\\ud83d\\ude00" } }] }\n', 'rules.yaml', 1).ok).toBe(true);
  });
});
