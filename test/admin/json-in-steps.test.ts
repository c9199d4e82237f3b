import { jsonInSteps } from '../../src/admin/json-in-steps';
import { runToEnd } from '../../src/model/slices';
import { outcome, seeded, stepThrough } from '../support/json-steps';

const inSteps = (text: string): unknown => runToEnd(jsonInSteps(text));

describe('JSON bodies read in steps', () => {
  it('read as JSON.parse reads them, value or error, through random large, odd and broken bodies', () => {
    const next = seeded(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const space = () => pick(['', '', '', ' ', '\n  ', '\t']);
    const odd = ['"a,b]"', '"[{"', '"q\\"]"', '"\\\\"', '"\\u005d"', '[1,[2,[3]]]', '{"x":[",", "]"]}', '[]', '{}', 'null', '-0', '1e400', '"é✓😀"', 'true'];
    const mismatches: string[] = [];
    for (let n = 0; n < 400; n++) {
      const entries = Array.from({ length: 1000 + Math.floor(next() * 1000) }, (_, i) => {
        const fields = [`"service":"big"`, `"id":"i${i}"`, `"host":"10.0.${i >> 8 & 255}.${i & 255}"`, `"port":8080`];
        if (next() < 0.05) fields.push(`"metadata":${pick(odd)}`);
        return `${space()}{${fields.join(`,${space()}`)}}${space()}`;
      });
      const members = [`"register":[${entries.join(',')}]`];
      if (next() < 0.5) members.push(`"deregister":[${space()}]`);
      if (next() < 0.2) members.push(`"more":${pick(odd)}`);
      if (next() < 0.3) members.push(pick(['"register":5', '"__proto__":[1,2]', '"register":[]', '"":[""]', '"register":{"a":[1]}']));
      if (next() < 0.5) members.reverse();
      let text = `${space()}{${space()}${members.join(`${space()},${space()}`)}${space()}}${space()}`;
      // Now and then broken: a character left out, put in or changed somewhere, cut short, more after it.
      const r = next();
      const at = Math.floor(next() * text.length);
      if (r < 0.1) text = text.slice(0, at) + text.slice(at + 1);
      else if (r < 0.2) text = text.slice(0, at) + pick([',', ']', '[', '"', '}', '{', ':', '\\', ' ']) + text.slice(at);
      else if (r < 0.25) text = text.slice(0, at);
      else if (r < 0.3) text += pick(['x', '}', ']', ',', ' {"a":[]}']);
      else if (r < 0.35) text = text.replace(/\},(\s*)\{/, '},,$1{');
      else if (r < 0.4) text = text.replace(/\}(\s*)\]/, '},$1]');
      const mine = outcome(inSteps, text);
      const theirs = outcome(JSON.parse, text);
      if (mine.error !== theirs.error) mismatches.push(`${text.slice(0, 80)}…: ${mine.error} against ${theirs.error}`);
      else if (mine.error === undefined) {
        try {
          expect(mine.value).toStrictEqual(theirs.value);
        } catch {
          mismatches.push(`${text.slice(0, 80)}…: values differ`);
        }
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('parses a 4,000-registration batch in steps, its arrays a run at a time', () => {
    const register = Array.from({ length: 4000 }, (_, i) => ({ service: 'big', id: `i${i}`, host: `10.0.${i >> 8 & 255}.${i & 255}`, port: 8080, metadata: { user: `u${i}` } }));
    const text = JSON.stringify({ register, deregister: [{ service: 'big', id: 'gone' }] });
    const read = stepThrough(jsonInSteps, text);
    expect(read.value).toStrictEqual(JSON.parse(text));
    expect(read.parsedWhole).toBe(false);
    expect(read.yields).toBeGreaterThanOrEqual(4000 / 256);
  });

  it('cuts runs of large elements by their size', () => {
    const register = Array.from({ length: 250 }, (_, i) => ({ id: `i${i}`, metadata: Object.fromEntries(Array.from({ length: 200 }, (_, k) => [`key${k}`, `value${k}`])) }));
    const text = JSON.stringify({ register });
    expect(text.length).toBeGreaterThan(800 * 1024);
    const read = stepThrough(jsonInSteps, text);
    expect(read.value).toStrictEqual(JSON.parse(text));
    expect(read.parsedWhole).toBe(false);
    expect(read.yields).toBeGreaterThanOrEqual(text.length / (32 * 1024) - 1);
  });

  it('refuses, as JSON.parse does, an empty element where a run of elements ends', () => {
    const entries = Array.from({ length: 1024 }, (_, i) => `{"id":"i${i}","pad":"${'x'.repeat(60)}"}`);
    for (const text of [`{"register":[${entries.join(',')},]}`, `{"register":[,${entries.join(',')}]}`, `{"register":[${entries.slice(0, 256).join(',')},,${entries.slice(256).join(',')}]}`]) {
      expect(outcome(inSteps, text)).toEqual(outcome(JSON.parse, text));
      expect(outcome(JSON.parse, text).error).toBeDefined();
    }
  });

  it('steps through strings holding quotes, brackets and commas', () => {
    const register = Array.from({ length: 2000 }, (_, i) => ({ id: `i${i}", ]}[{`, metadata: { note: `a\\"b,[${i}]` } }));
    const text = JSON.stringify({ register });
    const read = stepThrough(jsonInSteps, text);
    expect(read.value).toStrictEqual(JSON.parse(text));
    expect(read.parsedWhole).toBe(false);
    expect(read.yields).toBeGreaterThanOrEqual(2000 / 256);
  });

  it('keeps a small body to one JSON.parse', () => {
    const steps = jsonInSteps('{"register":[{"id":"a"}]}');
    expect(steps.next()).toEqual({ done: true, value: { register: [{ id: 'a' }] } });
  });
});
