import type { MatchType } from '../../src/model/rule';
import { testOf } from '../../src/rules/matchers';
import { contradicts, describeMatch, implies, refuseTogether } from '../../src/rules/match-relations';
import type { MatchSpec } from '../../src/rules/schema';

const spec = (type: MatchType, value?: string): MatchSpec => (value === undefined ? { type } : { type, value });

const SPECS: MatchSpec[] = [
  spec('EXACT', '15'), spec('EXACT', '25'), spec('EXACT', '0x10'), spec('EXACT', ' 12'), spec('EXACT', 'Infinity'), spec('EXACT', 'abc'), spec('EXACT', '10'),
  spec('NOT_EQUALS', '15'), spec('NOT_EQUALS', 'abc'), spec('PREFIX', 'Inf'), spec('PREFIX', 'ab'), spec('REGEX', '^[0-9]+$'), spec('REGEX', 'b'),
  spec('IN', '15, abc'), spec('IN', '25,30'), spec('NOT_IN', '15,abc'), spec('NOT_IN', '10'),
  spec('RANGE', '10~20'), spec('RANGE', '0~10'), spec('RANGE', '20~30'), spec('RANGE', '21~30'), spec('RANGE', '~9.5'), spec('RANGE', '5~'), spec('RANGE', '1e999~'),
  spec('RANGE', '10~10'), spec('EXISTS'), spec('EXISTS', 'true'), spec('EXISTS', 'false'),
];
// Values routing may see, the awkward ones Number() reads included.
const VALUES = [undefined, '', '15', '25', '10', '20', '9.5', '16', '0x10', ' 12', '12 ', '1e1', 'Infinity', '-Infinity', '1e999', 'NaN', 'abc', 'ab', 'Inf', '30', '-0', '0', '10.0'];

const name = (s: MatchSpec) => `${s.type} ${s.value ?? ''}`;

describe('match relations', () => {
  it('finds triples that refuse together only when no value passes all three, judged by the compiled tests, naming tests that are enough', () => {
    const wrong: string[] = [];
    let found = 0;
    for (const a of SPECS) for (const b of SPECS) for (const c of SPECS) {
      const together = refuseTogether([a, b, c]);
      if (!together) continue;
      found++;
      const all = VALUES.find((v) => [a, b, c].every((t) => testOf(t)(v)));
      if (all !== undefined || [a, b, c].every((t) => testOf(t)(undefined))) wrong.push(`${name(a)} / ${name(b)} / ${name(c)}: ${JSON.stringify(all)}`);
      // The tests named are enough: no value passes them alone either.
      const named = VALUES.find((v) => together.every((t) => testOf(t)(v)));
      if (named !== undefined || together.every((t) => testOf(t)(undefined))) wrong.push(`${name(a)} / ${name(b)} / ${name(c)}: ${together.map(name).join(', ')} pass ${JSON.stringify(named)}`);
    }
    expect(wrong).toEqual([]);
    expect(found).toBeGreaterThan(0);
    expect(refuseTogether([spec('IN', '15, abc'), spec('NOT_EQUALS', '15'), spec('NOT_IN', 'abc')])).toEqual([spec('IN', '15, abc'), spec('NOT_EQUALS', '15'), spec('NOT_IN', 'abc')]);
    expect(refuseTogether([spec('IN', '15, abc'), spec('NOT_EQUALS', '15'), spec('NOT_IN', '10')])).toBeUndefined(); // "abc" passes all three
    expect(refuseTogether([spec('RANGE', '0~10'), spec('RANGE', '5~'), spec('NOT_EQUALS', '7')])).toBeUndefined(); // no test allows only a few values
  });

  it('calls two tests contradictory only when no value passes both, judged by the compiled tests', () => {
    const wrong: string[] = [];
    let found = 0;
    for (const a of SPECS) {
      for (const b of SPECS) {
        if (!contradicts(a, b)) continue;
        found++;
        const both = VALUES.find((v) => testOf(a)(v) && testOf(b)(v));
        if (both !== undefined || (testOf(a)(undefined) && testOf(b)(undefined))) wrong.push(`${name(a)} / ${name(b)}: ${JSON.stringify(both)}`);
        if (!contradicts(b, a)) wrong.push(`${name(a)} / ${name(b)}: not symmetric`);
      }
    }
    expect(wrong).toEqual([]);
    expect(found).toBeGreaterThan(50);
  });

  it('says one test implies another only when every value passing the first passes the second', () => {
    const wrong: string[] = [];
    let found = 0;
    for (const narrow of SPECS) {
      for (const wide of SPECS) {
        if (!implies(narrow, wide)) continue;
        found++;
        for (const v of VALUES) if (testOf(narrow)(v) && !testOf(wide)(v)) wrong.push(`${name(narrow)} => ${name(wide)}: ${JSON.stringify(v)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(found).toBeGreaterThan(50);
  });

  it('decides what routing decides for awkward numbers and bounds', () => {
    expect(contradicts(spec('RANGE', '0~10'), spec('RANGE', '10~20'))).toBe(false); // both inclusive: 10
    expect(contradicts(spec('RANGE', '0~9.5'), spec('RANGE', '10~20'))).toBe(true);
    expect(contradicts(spec('EXACT', '0x10'), spec('RANGE', '10~20'))).toBe(false); // Number('0x10') is 16
    expect(contradicts(spec('EXACT', 'Infinity'), spec('RANGE', '5~'))).toBe(false); // Number('Infinity') passes an open bound
    expect(contradicts(spec('PREFIX', 'Inf'), spec('RANGE', '5~'))).toBe(false);
    expect(contradicts(spec('RANGE', '10~10'), spec('NOT_EQUALS', '10'))).toBe(false); // '10.0'
    expect(contradicts(spec('NOT_EQUALS', '10'), spec('EXISTS', 'false'))).toBe(false); // absent
    expect(contradicts(spec('EXISTS'), spec('EXISTS', 'false'))).toBe(true);
    expect(implies(spec('RANGE', '10~20'), spec('RANGE', '5~'))).toBe(true);
    expect(implies(spec('RANGE', '5~'), spec('RANGE', '10~20'))).toBe(false);
    expect(implies(spec('EXACT', '0x10'), spec('RANGE', '10~20'))).toBe(true);
    expect(implies(spec('EXISTS', 'false'), spec('NOT_IN', 'a,b'))).toBe(true);
  });

  it('describes each test as the sentence after "must"', () => {
    expect(SPECS.filter((s) => ['IN', 'RANGE', 'EXISTS'].includes(s.type)).map(describeMatch).slice(0, 5)).toEqual([
      'be one of "15", "abc"', 'be one of "25", "30"', 'be a number from 10 to 20', 'be a number from 0 to 10', 'be a number from 20 to 30',
    ]);
    expect([spec('RANGE', ' ~ 9.5'), spec('RANGE', '5~'), spec('EXISTS'), spec('EXISTS', 'false'), spec('NOT_IN', 'a,b'), spec('REGEX', '^x$')].map(describeMatch)).toEqual([
      'be a number up to 9.5', 'be a number from 5', 'be present', 'be absent', 'be none of "a", "b"', 'match the regex "^x$"',
    ]);
  });
});
