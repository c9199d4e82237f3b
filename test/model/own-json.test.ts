import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseOwnJson } from '../../src/model/own-json';

// V8's own checks, through its natives syntax and gc(); off again after these tests (as instance-strings.test.ts).
setFlagsFromString('--allow-natives-syntax');
setFlagsFromString('--expose-gc');
const isInternalized = runInNewContext('(s) => %IsInternalizedString(s)') as (s: string) => boolean;
const gc = runInNewContext('gc') as () => void;
afterAll(() => setFlagsFromString('--no-allow-natives-syntax'));

function random(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

/** Whether two parsed values are the same: -0 is not 0, key order counts, and so do prototypes (no `expect` here: a `constructor` key confuses its check). */
function same(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const [aKeys, bKeys] = [Object.keys(a), Object.keys(b)];
  return aKeys.length === bKeys.length && aKeys.every((key, i) => key === bKeys[i] && same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/** What a parser gives for `text`: its value, or that it threw. */
function outcome(parse: (text: string) => unknown, text: string): { value?: unknown; threw?: true } {
  try {
    return { value: parse(text) };
  } catch {
    return { threw: true };
  }
}

describe('admin API bodies', () => {
  it('read as JSON.parse reads them, value or error, through random nested, odd and broken bodies', () => {
    const next = random(3);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const space = () => pick(['', '', '', ' ', '\n', '\t', ' \r\n ']);
    const strings = ['big', 'i123456', '10.0.0.7', 'pod-7.shop.default.svc.cluster.local:8080', 'a b', '', 'é✓', '\ud83d\ude00', 'twelve chars', 'thirteen char'];
    const numbers = ['0', '-0', '12', '-3.5', '1e3', '1E+2', '2.5e-3', '1e400', '123456789012345678901234567890', '0.1', '8080'];
    const keys = ['service', 'id', 'host', 'port', 'metadata', 'id', '__proto__', '0', '10', 'constructor', 'a long key of many characters'];
    const odd = ['"a\\"b"', '"\\u0041"', '"tab\there"', '01', '1.', '.5', '-', '+1', '1e', '0x10', 'Infinity', 'NaN', 'tru', 'nul', 'True', "'x'"];
    const value = (depth: number): string => {
      const r = next();
      if (r < 0.05) return pick(odd);
      if (depth < 4 && r < 0.3) {
        const fields = Array.from({ length: Math.floor(next() * 5) }, () => `${space()}${JSON.stringify(pick(keys))}${space()}:${value(depth + 1)}`);
        return `${space()}{${fields.join(',')}}${space()}`;
      }
      if (depth < 4 && r < 0.45) return `${space()}[${Array.from({ length: Math.floor(next() * 5) }, () => value(depth + 1)).join(',')}]${space()}`;
      if (r < 0.75) return `${space()}${JSON.stringify(pick(strings))}${space()}`;
      if (r < 0.9) return `${space()}${pick(numbers)}${space()}`;
      return `${space()}${pick(['true', 'false', 'null'])}${space()}`;
    };
    const mismatches: string[] = [];
    for (let n = 0; n < 5000; n++) {
      let text = value(0);
      // Now and then a broken body: cut short, a stray character, more after it.
      const r = next();
      if (r < 0.05) text = text.slice(0, Math.floor(next() * text.length));
      else if (r < 0.1) text = text.replace(pick([',', ':', '[', '{', '"', ']', '}']), pick(['', ';', ',,', '}', ']']));
      else if (r < 0.13) text += pick(['x', '}', ']', ',{}', '"a"', '1']);
      const mine = outcome(parseOwnJson, text);
      const theirs = outcome(JSON.parse, text);
      if (mine.threw !== theirs.threw) mismatches.push(`${JSON.stringify(text)}: ${JSON.stringify(mine)} against ${JSON.stringify(theirs)}`);
      else if (!mine.threw && !same(mine.value, theirs.value)) mismatches.push(`${JSON.stringify(text)}: ${JSON.stringify(mine.value)} against ${JSON.stringify(theirs.value)}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('gives JSON.parse\'s value and error past its depth bound and for a __proto__ key', () => {
    const deep = '['.repeat(100) + '1' + ']'.repeat(100);
    expect(parseOwnJson(deep)).toStrictEqual(JSON.parse(deep));
    const proto = '{"__proto__": {"polluted": true}, "id": "i1"}';
    const value = parseOwnJson(proto) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'id']);
    expect(() => parseOwnJson('[' + '['.repeat(99) + ']'.repeat(99))).toThrow(SyntaxError);
  });

  it('keeps short strings out of V8\'s string table, where JSON.parse puts them', () => {
    const text = '{"instances":[{"service":"big","id":"i4242424","host":"10.0.0.7","metadata":{"user":"u4242"}}]}';
    const mine = parseOwnJson(text) as { instances: { id: string; host: string; metadata: { user: string } }[] };
    const theirs = JSON.parse(text) as typeof mine;
    expect(mine).toStrictEqual(theirs);
    const [own, shared] = [mine.instances[0]!, theirs.instances[0]!];
    expect([shared.id, shared.host, shared.metadata.user].map(isInternalized)).toEqual([true, true, true]);
    expect([own.id, own.host, own.metadata.user].map(isInternalized)).toEqual([false, false, false]);
  });

  it('keeps no body alive through a long string it returns', () => {
    const bodies = 40;
    const filler = 'x'.repeat(1000);
    const body = (n: number) => JSON.stringify({ instances: Array.from({ length: 1000 }, (_, k) => ({ id: `pod-${n}-${k}.shop.default.svc:8080`, note: filler })) });
    gc();
    const before = process.memoryUsage().heapUsed;
    const kept: string[] = [];
    for (let n = 0; n < bodies; n++) kept.push((parseOwnJson(body(n)) as { instances: { id: string }[] }).instances[0]!.id);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(kept[bodies - 1]).toBe(`pod-${bodies - 1}-0.shop.default.svc:8080`);
    expect(grown).toBeLessThan(bodies * 100_000); // 40 bodies of about 1 MB each, had their slices kept them
  });
});
