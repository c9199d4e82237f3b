import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { heartbeatsBodySteps } from '../../src/admin/heartbeats-body';
import { runToEnd } from '../../src/model/slices';
import { outcome, seeded, stepThrough } from '../support/json-steps';

const parseHeartbeatsBody = (text: string): unknown => runToEnd(heartbeatsBodySteps(text));

// V8's own check, through its natives syntax; off again after these tests (as instance-strings.test.ts).
setFlagsFromString('--allow-natives-syntax');
const isInternalized = runInNewContext('(s) => %IsInternalizedString(s)') as (s: string) => boolean;
afterAll(() => setFlagsFromString('--no-allow-natives-syntax'));

describe('POST /v1/heartbeats bodies', () => {
  it('read as JSON.parse reads them, value or error, through random plain, odd and broken bodies', () => {
    const next = seeded(3);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const space = () => pick(['', '', ' ', '\n', '\t', ' \r\n ']);
    const odd = ['"a\\"b"', '"\\u0041"', '12', 'null', 'true', '{"x":"y"}', '["i1"]', '"tab\there"', '"é✓"', '"\ud83d\ude00"', '""'];
    const mismatches: string[] = [];
    for (let n = 0; n < 3000; n++) {
      const entries = Array.from({ length: Math.floor(next() * 5) }, () => {
        const fields = Array.from({ length: Math.floor(next() * 4) }, () => {
          const key = pick(['service', 'id', 'namespace', 'namespace', 'extra', '__proto__', 'id']);
          const value = next() < 0.1 ? pick(odd) : JSON.stringify(pick(['big', 'i123456', 'default', 'pod-7.shop.default.svc.cluster.local:8080', 'a b']));
          return `${space()}${JSON.stringify(key)}${space()}:${space()}${value}${space()}`;
        });
        return `${space()}{${fields.join(',')}}${space()}`;
      });
      let text = `${space()}{${space()}"instances"${space()}:${space()}[${entries.join(',')}]${space()}}${space()}`;
      // Now and then a broken or different body: cut short, a stray character, another shape, more after it.
      const r = next();
      if (r < 0.05) text = text.slice(0, Math.floor(next() * text.length));
      else if (r < 0.1) text = text.replace(pick([',', ':', '[', '{', '"']), pick(['', ';', ',,', '}']));
      else if (r < 0.13) text = pick(['[]', '{"instances":{}}', '{"other":[]}', '{"instances":[],"more":1}', '']);
      else if (r < 0.16) text += pick(['x', '}', ']', ',{}', '"a"']);
      const mine = outcome(parseHeartbeatsBody, text);
      const theirs = outcome(JSON.parse, text);
      if ((mine.error === undefined) !== (theirs.error === undefined)) mismatches.push(`${JSON.stringify(text)}: ${JSON.stringify(mine)} against ${JSON.stringify(theirs)}`);
      else if (mine.error === undefined) {
        try {
          expect(mine.value).toStrictEqual(theirs.value);
        } catch {
          mismatches.push(`${JSON.stringify(text)}: ${JSON.stringify(mine.value)} against ${JSON.stringify(theirs.value)}`);
        }
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it.each([
    ['plain', '', 50],
    ['with an escape (read by JSON.parse a run at a time)', '\\/', 40],
  ])('reads a large body %s in steps (the server runs them in slices between event-loop turns)', (_kind, suffix, atLeast) => {
    const text = JSON.stringify({ instances: Array.from({ length: 10000 }, (_, i) => ({ service: 'big', id: `i${i}` })) }).replace('"i9999"', `"i9999${suffix}"`);
    const read = stepThrough(heartbeatsBodySteps, text);
    expect(read.parsedWhole).toBe(false);
    expect(read.yields).toBeGreaterThanOrEqual(atLeast);
    expect(read.value).toStrictEqual(JSON.parse(text));
  });

  it('keeps short ids out of V8\'s string table, where JSON.parse puts them', () => {
    const text = '{"instances":[{"service":"big","id":"i4242424"},{"namespace":"ns7","service":"big","id":"i4343434"}]}';
    const mine = parseHeartbeatsBody(text) as { instances: Record<string, string>[] };
    const theirs = JSON.parse(text) as { instances: Record<string, string>[] };
    expect(mine).toStrictEqual(theirs);
    expect(theirs.instances.map((e) => isInternalized(e['id']!))).toEqual([true, true]);
    expect([mine.instances[0]!['id']!, mine.instances[1]!['id']!, mine.instances[1]!['namespace']!].map(isInternalized)).toEqual([false, false, false]);
  });
});
