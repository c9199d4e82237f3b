import { jsonInSteps, MAX_DEPTH, MAX_VALUES } from '../../src/admin/json-in-steps';
import { runToEnd } from '../../src/model/slices';
import { outcome, seeded, stepThrough } from '../support/json-steps';

const inSteps = (text: string): unknown => runToEnd(jsonInSteps(text));

describe('JSON bodies read in steps', () => {
  // Large bodies are never parsed whole, so a broken one gets the error of the part that is wrong
  // (its position in the body), which may differ from the one JSON.parse of the whole would give.
  it('read as JSON.parse reads them, refused where it refuses them, through random large, odd and broken bodies', () => {
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
      const position = Number(/at position (\d+)/.exec(mine.error ?? '')?.[1] ?? 0);
      if ((mine.error === undefined) !== (theirs.error === undefined) || position > text.length) mismatches.push(`${text.slice(0, 80)}…: ${mine.error} against ${theirs.error}`);
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

  it('refuses, as JSON.parse does, an empty element where a run of elements ends, naming where it is', () => {
    const entries = Array.from({ length: 1024 }, (_, i) => `{"id":"i${i}","pad":"${'x'.repeat(60)}"}`);
    const trailing = `{"register":[${entries.join(',')},]}`;
    const leading = `{"register":[,${entries.join(',')}]}`;
    const doubled = `{"register":[${entries.slice(0, 256).join(',')},,${entries.slice(256).join(',')}]}`;
    expect(outcome(inSteps, trailing).error).toBe(`Unexpected token ']' in JSON at position ${trailing.length - 2}`);
    expect(outcome(inSteps, leading).error).toMatch(/^Unexpected token ','/);
    expect(outcome(inSteps, doubled).error).toMatch(/^Unexpected token ','/);
    for (const text of [trailing, leading, doubled]) expect(outcome(JSON.parse, text).error).toBeDefined();
  });

  it('maps a position in the rest of the body to the body, past the lists left out', () => {
    const register = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: `i${i}` })));
    const text = `{"register":${register},"after":}`;
    expect(outcome(inSteps, text).error).toMatch(/^Unexpected token '}'/);
    const missingColon = `{"register":${register},"after" 1}`;
    expect(outcome(inSteps, missingColon).error).toMatch(new RegExp(` at position ${missingColon.indexOf(' 1}') + 1}$`));
  });

  it('of a repeated key keeps the last, as JSON.parse does, without parsing the body whole', () => {
    const register = Array.from({ length: 6000 }, (_, i) => ({ id: `i${i}` })); // over 64 KiB
    for (const text of [
      `{"register":${JSON.stringify(register)},"register":[]}`,
      `{"register":[],"register":${JSON.stringify(register)}}`,
      `{"register":${JSON.stringify(register)},"register":5}`,
      `{"register":5,"register":${JSON.stringify(register)},"x":${JSON.stringify(register)}}`,
    ]) {
      const read = stepThrough(jsonInSteps, text);
      expect(read.value).toStrictEqual(JSON.parse(text));
      expect(read.parsedWhole).toBe(false);
    }
  });

  it('refuses, before any JSON.parse, more than MAX_VALUES in the rest or in one entry of a list, and nesting past MAX_DEPTH', () => {
    const wide = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 1])));
    const parse = jest.spyOn(JSON, 'parse');
    try {
      // Many objects each under any per-object limit: what counts is what one parse builds.
      const many = `{"service":"s","x":[${Array.from({ length: 30 }, () => wide(1000)).join(',')}]}`.replace('"x":[', '"x":{"a":[').replace(/]}$/, ']}}');
      expect(outcome(inSteps, many).error).toMatch(new RegExp(`^body: more than ${MAX_VALUES} values outside its top-level lists \\(at character \\d+\\)$`));
      const entry = `{"register":[{"id":"a"},{"metadata":${wide(MAX_VALUES + 10)}}]}`;
      expect(outcome(inSteps, entry).error).toMatch(/^body: more than 20000 values in one entry of a list/);
      expect(outcome(inSteps, `{"a":${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}}`).error).toMatch(/^body: nested deeper than 64 levels/);
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    // Each value counts once (a container after a comma or a colon was counted twice): 10,000
    // containers or scalars are read, in the rest or in one entry; keys count for nothing.
    for (const text of [
      `{"x":1,"a":{"k":[${Array.from({ length: 9_999 }, () => '[]').join(',')}]}}`,
      `{"register":[{"m":[${Array.from({ length: 10_000 }, () => '{}').join(',')}]}]}`,
      JSON.stringify({ m: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, {}])) }),
      JSON.stringify({ m: Object.fromEntries(Array.from({ length: MAX_VALUES - 3 }, (_, i) => [`k${i}`, i])) }),
    ]) expect(outcome(inSteps, text)).toEqual(outcome(JSON.parse, text));
    expect(outcome(inSteps, JSON.stringify({ m: Object.fromEntries(Array.from({ length: MAX_VALUES }, (_, i) => [`k${i}`, i])) })).error).toMatch(/^body: more than 20000 values outside/);
    // A list of many small entries is read a run at a time, its entries each counted alone.
    const batch = `{"register":${JSON.stringify(Array.from({ length: 10_000 }, (_, i) => ({ id: `i${i}`, metadata: { a: '1', b: '2' } })))}}`;
    expect(stepThrough(jsonInSteps, batch).value).toStrictEqual(JSON.parse(batch));
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
