import { runToEnd, type Steps } from './slices';
import { QUOTE, BACKSLASH, COMMA, OPEN_ARRAY, CLOSE_ARRAY, OPEN_OBJECT, CLOSE_OBJECT } from './json-chars';

/** A key given twice in one object: the key, where its repetition starts, and the path of that object. */
export interface RepeatedKey {
  readonly key: string;
  readonly offset: number;
  readonly path: Array<string | number>;
}

/**
 * Characters scanned per step: about 50 µs once V8 has optimized the scan (a 1 MiB registration
 * batch took 6-12 ms whole), about 1.5 ms before (the first bodies after start: 32 K took 6-7 ms).
 */
const CHARS_PER_STEP = 8 * 1024;
/** Keys an object's list holds before a Set takes over: a Set per small object made the scan about twice as long. */
const LISTED_KEYS = 16;

/** An open object (its keys so far, and the last) or list (the index of its current element). */
interface Open {
  readonly keys: string[] | undefined;
  many: Set<string> | undefined;
  key: string;
  index: number;
}

/**
 * The first key repeated within one object of a text JSON.parse took (valid JSON: telling
 * brackets, commas and strings apart is enough), since JSON readers differ on which one counts
 * (JSON.parse keeps the last, YAML refuses the mapping). A scan of its own: jsonc-parser's
 * visitor took about twice as long as js-yaml's whole parse. Yields every CHARS_PER_STEP.
 */
export function* repeatedKeySteps(text: string): Steps<RepeatedKey | undefined> {
  const open: Open[] = [];
  let keyNext = false; // the next string is a key: just after `{`, or after `,` in an object
  let stepEnd = CHARS_PER_STEP;
  for (let i = 0; i < text.length; i++) {
    if (i >= stepEnd) {
      stepEnd = i + CHARS_PER_STEP;
      yield;
    }
    const c = text.charCodeAt(i);
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      keyNext = c === OPEN_OBJECT;
      open.push({ keys: keyNext ? [] : undefined, many: undefined, key: '', index: 0 });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      open.pop();
    } else if (c === COMMA) {
      const top = open[open.length - 1]!;
      keyNext = top.keys !== undefined;
      top.index++;
    } else if (c === QUOTE) {
      const start = i;
      for (i++; text.charCodeAt(i) !== QUOTE; i++) if (text.charCodeAt(i) === BACKSLASH) i++;
      if (!keyNext) continue;
      keyNext = false;
      const quoted = text.slice(start, i + 1);
      const key = quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
      const top = open[open.length - 1]!;
      if (top.many ? top.many.has(key) : top.keys!.includes(key)) return { key, offset: start, path: pathTo(open) };
      if (top.many) top.many.add(key);
      else if (top.keys!.push(key) > LISTED_KEYS) top.many = new Set(top.keys);
      top.key = key;
    }
  }
  return undefined;
}

/** The refusal's words, where its place is told apart. */
export function repeatedKeyMessage(key: string): string {
  return `key ${JSON.stringify(key)} repeated in one object (JSON readers differ on which one counts)`;
}

/** `repeatedKeySteps` at once, for a caller off the serving thread or with a small text. */
export function repeatedKey(text: string): RepeatedKey | undefined {
  return runToEnd(repeatedKeySteps(text));
}

/** The path of the innermost open object: each open container's key or index, the object's own left out. */
function pathTo(open: readonly Open[]): Array<string | number> {
  return open.slice(0, -1).map((o) => (o.keys ? o.key : o.index));
}
