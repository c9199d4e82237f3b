import type { Steps } from '../model/slices';

/** Below this a body is one `JSON.parse` (well under a millisecond). */
const SPLIT_FROM_CHARS = 64 * 1024;
/** Elements per `JSON.parse` of a large array (about 0.3 ms for registrations)... */
const ELEMENTS_PER_PARSE = 256;
/** ...or fewer, when they take more text than this (large elements). */
const CHARS_PER_PARSE = 32 * 1024;
/** Characters scanned per step: about 0.1 ms. */
const CHARS_PER_STEP = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** A top-level member whose value is an array: its key's text, and the array's elements cut into runs. */
interface ArrayMember {
  readonly keyFrom: number;
  readonly keyTo: number;
  /** Where the array's `[` is and where its `]` is. */
  readonly open: number;
  close: number;
  /** Positions of the commas that end a run (ELEMENTS_PER_PARSE elements, or CHARS_PER_PARSE of text). */
  readonly cuts: number[];
}

/**
 * Most levels a body may nest. `JSON.parse` of a 1 MB body of nested arrays held the event loop
 * about 100 ms (bench/admin/hostile-bodies.js), and no admin body needs more than a few levels.
 */
export const MAX_DEPTH = 64;
/**
 * Most members of one object or array, but for the top-level object's arrays (a batch's entries,
 * parsed a run at a time). A 1 MB object of 70,000 keys took `JSON.parse` 27-55 ms; 10,000
 * take a few milliseconds, past anything an admin body holds in one object.
 */
export const MAX_MEMBERS = 10_000;

/** A body JSON may allow but the admin API refuses before parsing it: see MAX_DEPTH, MAX_MEMBERS. */
export class JsonShapeError extends Error {}

/**
 * `JSON.parse(text)` in steps, for bodies that are one object whose large members are arrays (a
 * registration batch of 4,000 entries: one `JSON.parse` held the event loop 5-10 ms). The text
 * is first scanned in steps, which refuses a body nested or wide past MAX_DEPTH or MAX_MEMBERS
 * (JsonShapeError). The arrays' elements are parsed a run at a time, the rest of the object once
 * with those arrays left empty, all by `JSON.parse` itself. Anything else, and any text it cannot
 * read this way (a repeated key, a syntax error), is parsed whole by `JSON.parse` in one turn,
 * so the value or the error is always `JSON.parse`'s.
 */
export function* jsonInSteps(text: string): Steps<unknown> {
  const scan = yield* scanMembers(text);
  if (!scan || text.length < SPLIT_FROM_CHARS) return JSON.parse(text);
  try {
    return yield* assemble(text, scan);
  } catch {
    return JSON.parse(text); // throws its own error (a body the cuts made look valid would parse here)
  }
}

/** The value with its array members parsed a run at a time; throws where a run or the rest is not JSON. */
function* assemble(text: string, { members, keys: keyCount }: Scan): Steps<unknown> {
  let rest = '';
  let at = 0;
  for (const member of members) {
    rest += text.slice(at, member.open + 1);
    at = member.close;
  }
  const value = JSON.parse(rest + text.slice(at)) as Record<string, unknown>;
  // A repeated key is left to JSON.parse (which keeps the last). A `__proto__` key is an own
  // property of JSON.parse's value, so setting it below sets that property, not the prototype.
  if (Object.keys(value).length !== keyCount) throw new Error('a repeated key');
  for (const member of members) {
    const key = JSON.parse(text.slice(member.keyFrom, member.keyTo)) as string;
    const elements: unknown[] = [];
    let from = member.open + 1;
    for (const to of [...member.cuts, member.close]) {
      const run = text.slice(from, to);
      if (!/\S/.test(run) && !(to === member.close && from === member.open + 1)) throw new Error('an empty element');
      for (const element of JSON.parse(`[${run}]`) as unknown[]) elements.push(element);
      from = to + 1;
      yield;
    }
    value[key] = elements;
  }
  return value;
}

/** A top-level object's members whose values are arrays, and how many keys it has. */
interface Scan {
  readonly members: ArrayMember[];
  readonly keys: number;
}

/**
 * Scans `text` for a top-level object's members whose values are arrays, and throws
 * JsonShapeError where it nests or widens past the limits. Undefined when the text is not an
 * object, or the scan finds what JSON would not (then JSON.parse says what).
 */
function* scanMembers(text: string): Steps<Scan | undefined> {
  const scanner = new MemberScanner(text);
  while (scanner.scan(CHARS_PER_STEP)) yield;
  return scanner.startsObject() ? scanner.result() : undefined;
}

/**
 * The scan's state between steps. Its loop is a plain method, not the generator's: V8 runs a
 * generator's loop unoptimized for its first calls (a 250 KB body's first 64 KB took 13 ms).
 */
class MemberScanner {
  private readonly members: ArrayMember[] = [];
  private keys = 0;
  private at = 0;
  private depth = 0;
  private keyFrom = -1;
  private keyTo = -1;
  private expectingKey = false;
  private afterColon = false;
  private array: ArrayMember | undefined;
  /** Commas seen in each open object or array, by depth. */
  private readonly commas: number[] = [];
  /** Elements and where the run being scanned began. */
  private elements = 0;
  private runFrom = 0;

  constructor(private readonly text: string) {}

  startsObject(): boolean {
    let at = 0;
    while (at < this.text.length && this.text.charCodeAt(at) <= 0x20) at++;
    return this.text.charCodeAt(at) === OPEN_OBJECT;
  }

  /** Scans up to `chars` more characters; false when the text is done (or cannot be read this way). */
  scan(chars: number): boolean {
    const text = this.text;
    const end = Math.min(text.length, this.at + chars);
    let i = this.at;
    for (; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        const from = i;
        for (i++; i < text.length && text.charCodeAt(i) !== QUOTE; i++) if (text.charCodeAt(i) === BACKSLASH) i++;
        if (this.depth === 1 && this.expectingKey) {
          this.keyFrom = from;
          this.keyTo = i + 1;
          this.expectingKey = false;
          this.keys++;
        }
        this.afterColon = false;
        continue;
      }
      if (c <= 0x20) continue;
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (++this.depth > MAX_DEPTH) throw new JsonShapeError(`body: nested deeper than ${MAX_DEPTH} levels (at character ${i})`);
        this.commas[this.depth] = 0;
        if (this.depth === 1) this.expectingKey = true;
        else if (this.depth === 2 && c === OPEN_ARRAY && this.afterColon) {
          this.array = { keyFrom: this.keyFrom, keyTo: this.keyTo, open: i, close: -1, cuts: [] };
          this.elements = 0;
          this.runFrom = i;
        }
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        this.depth--;
        if (this.depth === 1 && this.array) {
          this.array.close = i;
          this.members.push(this.array);
          this.array = undefined;
        }
        if (this.depth < 0) return false; // result() finds the depth wrong
      } else if (c === COMMA) {
        if (++this.commas[this.depth]! >= MAX_MEMBERS && !(this.depth === 2 && this.array)) {
          throw new JsonShapeError(`body: an object or list of more than ${MAX_MEMBERS} members (at character ${i})`);
        }
        if (this.depth === 1) this.expectingKey = true;
        else if (this.depth === 2 && this.array && (++this.elements === ELEMENTS_PER_PARSE || i - this.runFrom >= CHARS_PER_PARSE)) {
          this.array.cuts.push(i);
          this.elements = 0;
          this.runFrom = i;
        }
      }
      this.afterColon = c === COLON && this.depth === 1;
    }
    this.at = i;
    return i < text.length;
  }

  result(): Scan | undefined {
    return this.depth === 0 && !this.array ? { members: this.members, keys: this.keys } : undefined;
  }
}
