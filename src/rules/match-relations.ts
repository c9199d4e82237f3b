import type { ValueTest } from '../model/rule';
import { parseList, parseRange, testOf } from './matchers';
import type { MatchSpec } from './schema';

/*
 * What two match tests of one label say together, for `metaroute analyze`. Each answer is
 * judged with the matcher's own tests and parsers, so analysis never claims more than routing
 * does: `contradicts` only when no value (absence included) passes both, `implies` only when
 * every value passing one passes the other. What cannot be decided that way answers false:
 * PREFIX or REGEX against a RANGE, say, since `Number()` reads " 12", "0x10" and "Infinity".
 */

/** No label value, present or absent, passes both tests. */
export function contradicts(a: MatchSpec, b: MatchSpec): boolean {
  const fa = factsOf(a);
  const fb = factsOf(b);
  if (fa.only) return !fa.only.some((v) => fb.test(v));
  if (fb.only) return !fb.only.some((v) => fa.test(v));
  // Any number in both ranges passes both (as String(n): Number() reads "Infinity" too).
  if (fa.range && fb.range) return Math.max(fa.range[0], fb.range[0]) > Math.min(fa.range[1], fb.range[1]);
  return false;
}

/**
 * Tests of one label that no value passes together, though each pair has one (`IN: a, b` with
 * `NOT_EQUALS: a` and `NOT_EQUALS: b`): the test that allows only a few values and, for each of
 * them, the first test that refuses it, in the order given; undefined when a value passes all,
 * or when no test allows only a few (ranges that overlap pairwise share a number).
 */
export function refuseTogether(specs: readonly MatchSpec[]): MatchSpec[] | undefined {
  const finite = specs.find((spec) => factsOf(spec).only);
  if (!finite) return undefined;
  const refusing = new Set<MatchSpec>([finite]);
  for (const value of factsOf(finite).only!) {
    const refuser = specs.find((spec) => !factsOf(spec).test(value));
    if (!refuser) return undefined;
    refusing.add(refuser);
  }
  return specs.filter((spec) => refusing.has(spec));
}

/** Every label value that passes `narrow` passes `wide`. */
export function implies(narrow: MatchSpec, wide: MatchSpec): boolean {
  if (narrow.type === wide.type && narrow.value === wide.value) return true;
  const fn = factsOf(narrow);
  const fw = factsOf(wide);
  if (fn.only) return fn.only.every((v) => fw.test(v));
  if (fw.except) return !fw.except.some((v) => fn.test(v));
  if (fn.range && fw.range) return fw.range[0] <= fn.range[0] && fn.range[1] <= fw.range[1];
  return false;
}

/** What a test asks of a label, to follow "must": `be a number from 10 to 20`. */
export function describeMatch(spec: MatchSpec): string {
  const value = spec.value ?? '';
  const items = () => [...parseList(value)].map((item) => JSON.stringify(item)).join(', ');
  switch (spec.type) {
    case 'EXACT':
      return `equal ${JSON.stringify(value)}`;
    case 'NOT_EQUALS':
      return `differ from ${JSON.stringify(value)}`;
    case 'PREFIX':
      return `start with ${JSON.stringify(value)}`;
    case 'REGEX':
      return `match the regex ${JSON.stringify(value)}`;
    case 'IN':
      return `be one of ${items()}`;
    case 'NOT_IN':
      return `be none of ${items()}`;
    case 'RANGE': {
      const [lo, hi] = value.split('~').map((bound) => bound.trim());
      if (lo === '') return `be a number up to ${hi}`;
      if (hi === '') return `be a number from ${lo}`;
      return `be a number from ${lo} to ${hi}`;
    }
    case 'EXISTS':
      return spec.value === 'false' ? 'be absent' : 'be present';
  }
}

interface Facts {
  readonly test: ValueTest;
  /** The only values the test passes, when they are few: EXACT's, IN's items, EXISTS false's absence. */
  readonly only?: ReadonlyArray<string | undefined>;
  /** The only values it fails, when they are few: NOT_EQUALS's, NOT_IN's items, EXISTS's absence. */
  readonly except?: ReadonlyArray<string | undefined>;
  /** RANGE's inclusive bounds. */
  readonly range?: readonly [number, number];
}

const facts = new WeakMap<MatchSpec, Facts>();

/** Worked out once per spec: a source may hold thousands of tests of one label, compared in pairs. */
function factsOf(spec: MatchSpec): Facts {
  let found = facts.get(spec);
  if (!found) {
    found = { test: testOf(spec), ...shape(spec) };
    facts.set(spec, found);
  }
  return found;
}

function shape(spec: MatchSpec): Omit<Facts, 'test'> {
  const value = spec.value!;
  switch (spec.type) {
    case 'EXACT':
      return { only: [value] };
    case 'IN':
      return { only: [...parseList(value)] };
    case 'NOT_EQUALS':
      return { except: [value] };
    case 'NOT_IN':
      return { except: [...parseList(value)] };
    case 'RANGE':
      return { range: parseRange(value) };
    case 'EXISTS':
      return spec.value === 'false' ? { only: [undefined] } : { except: [undefined] };
    default:
      return {};
  }
}
