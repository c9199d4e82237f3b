import type { MatchType, ValueTest } from '../model/rule';
import { compileRegex } from './regex';
import type { MatchSpec } from './schema';

const compiledSpecs = new WeakMap<MatchSpec, ValueTest>();

/**
 * The test of a match spec, compiled once per spec object: validation compiles it to check
 * it, and compiling the validated document reuses that (an RE2 compile costs ~0.1 ms).
 */
export function testOf(spec: MatchSpec): ValueTest {
  let test = compiledSpecs.get(spec);
  if (!test) {
    test = compileMatch(spec.type, spec.value);
    compiledSpecs.set(spec, test);
  }
  return test;
}

/**
 * The test for compiling a validated document: validation's own when this thread validated
 * the spec, else one whose RE2 program is built on first use. A document checked by the
 * rules worker arrives as a copy, and building 1,000 regexes here would hold the routing
 * thread for ~120 ms; built lazily, each costs ~0.1 ms once, on the request that needs it.
 */
export function compiledTestOf(spec: MatchSpec): ValueTest {
  return compiledSpecs.get(spec) ?? compileMatch(spec.type, spec.value, true);
}

/**
 * Compiles a match into a ValueTest. Everything is parsed here, once per rule load: the
 * returned closures run per request and neither parse nor allocate (re2js's own per-call
 * cost aside). Throws an Error with a user-facing message for an invalid value; the
 * validator reports it, so compiling a validated document never throws.
 *
 * `undefined` is an absent label: only NOT_EQUALS, NOT_IN and EXISTS=false hold for it.
 */
export function compileMatch(type: MatchType, value: string | undefined, validatedRegex = false): ValueTest {
  if (type === 'EXISTS') return compileExists(value);
  if (value === undefined) throw new Error(`is required for ${type}`);
  if (value === '') throw new Error(`must not be empty for ${type}`);
  switch (type) {
    case 'EXACT':
      return (v) => v === value;
    case 'NOT_EQUALS':
      return (v) => v !== value;
    case 'PREFIX':
      return (v) => v !== undefined && v.startsWith(value);
    case 'REGEX': {
      if (validatedRegex) {
        let lazy: ((input: string) => boolean) | undefined;
        return (v) => v !== undefined && (lazy ??= compileRegex(value))(v);
      }
      const test = compileRegex(value);
      return (v) => v !== undefined && test(v);
    }
    case 'IN': {
      const set = parseList(value);
      return (v) => v !== undefined && set.has(v);
    }
    case 'NOT_IN': {
      const set = parseList(value);
      return (v) => v === undefined || !set.has(v);
    }
    case 'RANGE': {
      const [min, max] = parseRange(value);
      // Number('') is 0, so an empty label is excluded explicitly; NaN fails both comparisons.
      return (v) => {
        if (v === undefined || v === '') return false;
        const n = Number(v);
        return n >= min && n <= max;
      };
    }
  }
}

function compileExists(value: string | undefined): ValueTest {
  if (value === undefined || value === 'true') return (v) => v !== undefined;
  if (value === 'false') return (v) => v === undefined;
  throw new Error('must be omitted, true or false for EXISTS');
}

/** `a, b,c` -> {a, b, c}; items are trimmed and must not be empty. */
export function parseList(value: string): ReadonlySet<string> {
  const items = value.split(',').map((s) => s.trim());
  if (items.includes('')) throw new Error(`must be a comma-separated list without empty items, got ${JSON.stringify(value)}`);
  return new Set(items);
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** `min~max`, inclusive; an empty side is open. */
export function parseRange(value: string): [number, number] {
  const parts = value.split('~');
  if (parts.length !== 2) throw new Error(`must be min~max (either side may be empty), got ${JSON.stringify(value)}`);
  const [lo, hi] = parts.map((s) => s.trim());
  if (lo === '' && hi === '') throw new Error('a range needs at least one bound');
  for (const bound of [lo, hi]) {
    if (bound !== '' && !NUMBER.test(bound)) throw new Error(`range bound ${JSON.stringify(bound)} is not a number`);
  }
  const min = lo === '' ? -Infinity : Number(lo);
  const max = hi === '' ? Infinity : Number(hi);
  if (min > max) throw new Error(`range minimum ${lo} is greater than maximum ${hi}`);
  return [min, max];
}
