import type { Steps } from '../model/slices';
import { QUOTE, BACKSLASH, COMMA, COLON, OPEN_ARRAY, CLOSE_ARRAY, OPEN_OBJECT, CLOSE_OBJECT } from '../model/json-chars';

/** Below this a body is one `JSON.parse` (well under a millisecond). */
const SPLIT_FROM_CHARS = 64 * 1024;
/** Elements per `JSON.parse` of a large array (about 0.3 ms for registrations)... */
const ELEMENTS_PER_PARSE = 256;
/** ...or fewer, when they take more text than this (large elements). */
const CHARS_PER_PARSE = 32 * 1024;
/**
 * Characters scanned per step: about 15 µs once V8 has optimized the scan, and about 1.5 ms
 * before (the first bodies after start, or after a deopt): 64 K characters then took 10-13 ms.
 */
const CHARS_PER_STEP = 8 * 1024;

/**
 * Most levels a body may nest. `JSON.parse` of a 1 MB body of nested arrays held the event loop
 * about 100 ms (bench/admin/hostile-bodies.js), and no admin body needs more than a few levels.
 */
export const MAX_DEPTH = 64;
/**
 * Most values (objects, lists and their members) one `JSON.parse` call may build: the body
 * outside its top-level object's lists, and each entry of those lists (read a run at a time).
 * A 1 MB object of 70,000 keys took `JSON.parse` 27-55 ms; 20,000 take a few milliseconds,
 * past anything an admin body holds outside a batch's entries.
 */
export const MAX_VALUES = 20_000;

/** A body JSON may allow but the admin API refuses before parsing it: see MAX_DEPTH, MAX_VALUES. */
export class JsonShapeError extends Error {}

/** A top-level member: its key's text, and where its value is a list, the list's elements cut into runs. */
interface Member {
  readonly keyFrom: number;
  readonly keyTo: number;
  list?: ListValue;
}

interface ListValue {
  /** Where the list's `[` is and where its `]` is. */
  readonly open: number;
  close: number;
  /** Positions of the commas that end a run (ELEMENTS_PER_PARSE elements, or CHARS_PER_PARSE of text). */
  readonly cuts: number[];
}

/**
 * `JSON.parse(text)` in steps, for bodies that are one object whose large members are lists (a
 * registration batch of 4,000 entries: one `JSON.parse` held the event loop 5-10 ms). The text
 * is first scanned in steps, which refuses a body past MAX_DEPTH or MAX_VALUES (JsonShapeError).
 * Then, from SPLIT_FROM_CHARS, the lists' elements are parsed a run at a time and the rest of
 * the object once with those lists left empty, all by `JSON.parse` itself, so the value is
 * `JSON.parse`'s (of a repeated key, the last). A body that is not JSON throws `JSON.parse`'s
 * error for a part that is wrong (not always the body's first fault), its position in the body:
 * never a parse of the whole body, which an invalid 1 MB one made as long as the limits exist to
 * prevent.
 */
export function* jsonInSteps(text: string): Steps<unknown> {
  const scanner = new MemberScanner(text);
  while (scanner.scan(CHARS_PER_STEP)) yield;
  if (text.length < SPLIT_FROM_CHARS || !scanner.startsObject()) return JSON.parse(text); // within MAX_VALUES: no lists set apart
  return yield* assemble(text, scanner.members());
}

/** The value with its list members parsed a run at a time; throws where a run or the rest is not JSON. */
function* assemble(text: string, members: readonly Member[]): Steps<unknown> {
  // The rest: the body's text with each list's elements left out, `pieces` its ranges of the body.
  const pieces: Array<[from: number, to: number]> = [];
  let at = 0;
  for (const { list } of members) {
    if (!list) continue;
    pieces.push([at, list.open + 1]);
    at = list.close;
  }
  pieces.push([at, text.length]);
  const value = parsePart(pieces.map(([from, to]) => text.slice(from, to)).join(''), (n) => bodyPosition(pieces, n)) as Record<string, unknown>;
  // Of a repeated key JSON.parse keeps the last: a list is set only where its member is that one.
  const listKeys = new Set(members.filter((member) => member.list).map((member) => keyOf(text, member)));
  const last = new Map<string, Member>();
  for (const member of members) {
    const key = keyOf(text, member);
    if (listKeys.has(key)) last.set(key, member);
  }
  for (const member of members) {
    const { list } = member;
    if (!list) continue;
    const elements: unknown[] = [];
    let from = list.open + 1;
    for (const to of [...list.cuts, list.close]) {
      const run = text.slice(from, to);
      if (/\S/.test(run)) {
        const start = from;
        for (const element of parsePart(`[${run}]`, (n) => start + n - 1) as unknown[]) elements.push(element);
      } else if (!(to === list.close && from === list.open + 1)) {
        throw new SyntaxError(`Unexpected token '${text[to]}' in JSON at position ${to}`); // an empty run between commas, or after the last
      }
      from = to + 1;
      yield;
    }
    const key = keyOf(text, member);
    // A `__proto__` key is an own property of JSON.parse's value, so this sets that property, not the prototype.
    if (last.get(key) === member) value[key] = elements;
  }
  return value;
}

/** A member's key: as written, unless it has an escape to decode (the rest parsed, so it is valid JSON). */
function keyOf(text: string, member: Member): string {
  const written = text.slice(member.keyFrom + 1, member.keyTo - 1);
  return written.includes('\\') ? (JSON.parse(text.slice(member.keyFrom, member.keyTo)) as string) : written;
}

/** `JSON.parse(part)`, its error's position (where it names one) as `toBody` maps it. */
function parsePart(part: string, toBody: (n: number) => number): unknown {
  try {
    return JSON.parse(part);
  } catch (error) {
    throw new SyntaxError((error as Error).message.replace(/(at position )(\d+)/, (_, words: string, n: string) => `${words}${toBody(Number(n))}`));
  }
}

/** The body position of position `n` of the rest, made of the body's `pieces`. */
function bodyPosition(pieces: ReadonlyArray<[number, number]>, n: number): number {
  let left = n;
  for (const [from, to] of pieces) {
    if (left < to - from) return from + left;
    left -= to - from;
  }
  return pieces.at(-1)![1] + left;
}

/**
 * The scan's state between steps. Its loop is a plain method, not the generator's: V8 runs a
 * generator's loop unoptimized for its first calls (a 250 KB body's first 64 KB took 13 ms).
 * Values are counted where each starts: an object or list, a string that is no key, a number, true, false, null.
 */
class MemberScanner {
  private readonly found: Member[] = [];
  private at = 0;
  private depth = 0;
  private expectingKey = false;
  private afterColon = false;
  private list: ListValue | undefined;
  /** Elements and where the run being scanned began. */
  private elements = 0;
  private runFrom = 0;
  /** Values counted outside the top-level lists, and in the list element being scanned. */
  private restValues = 0;
  private elementValues = 0;
  /** Whether a value may start here (not a key), and per depth whether its container is an object. */
  private expectingValue = true;
  private readonly objects: boolean[] = [];
  /** Where a bracket closed with none open, if one did. */
  private closedBelowTop: number | undefined;

  constructor(private readonly text: string) {}

  startsObject(): boolean {
    let at = 0;
    while (at < this.text.length && this.text.charCodeAt(at) <= 0x20) at++;
    return this.text.charCodeAt(at) === OPEN_OBJECT;
  }

  /** The top-level members; throws where the brackets do not match, as `JSON.parse` would. */
  members(): Member[] {
    const at = this.closedBelowTop;
    if (at !== undefined) throw new SyntaxError(`Unexpected token '${this.text[at]}' in JSON at position ${at}`);
    if (this.depth !== 0) throw new SyntaxError('Unexpected end of JSON input');
    return this.found;
  }

  /** Scans up to `chars` more characters; false when the text is done (or its brackets close below the top). */
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
          this.found.push({ keyFrom: from, keyTo: i + 1 });
          this.expectingKey = false;
        }
        if (this.expectingValue) this.count(from); // a string value (a key is not one)
        this.expectingValue = false;
        this.afterColon = false;
        continue;
      }
      if (c <= 0x20) continue;
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (++this.depth > MAX_DEPTH) throw new JsonShapeError(`body: nested deeper than ${MAX_DEPTH} levels (at character ${i})`);
        this.objects[this.depth] = c === OPEN_OBJECT;
        if (this.depth === 1) this.expectingKey = true;
        if (this.depth === 2 && c === OPEN_ARRAY && this.afterColon && this.found.length > 0) {
          this.list = this.found.at(-1)!.list = { open: i, close: -1, cuts: [] };
          this.elements = 0;
          this.runFrom = i;
          this.elementValues = 0;
        } else if (this.expectingValue) this.count(i);
        this.expectingValue = c === OPEN_ARRAY;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        this.expectingValue = false;
        this.depth--;
        if (this.depth === 1 && this.list) {
          this.list.close = i;
          this.list = undefined;
        }
        if (this.depth < 0) {
          this.closedBelowTop = i; // JSON.parse fails here (or before): nothing after it is parsed
          return false;
        }
      } else if (c === COMMA) {
        if (this.depth === 1) this.expectingKey = true;
        this.expectingValue = this.objects[this.depth] === false; // in an object a key comes next
        if (this.depth === 2 && this.list) {
          this.elementValues = 0;
          if (++this.elements === ELEMENTS_PER_PARSE || i - this.runFrom >= CHARS_PER_PARSE) {
            this.list.cuts.push(i);
            this.elements = 0;
            this.runFrom = i;
          }
        }
      } else if (c === COLON) {
        this.expectingValue = true;
      } else {
        if (this.expectingValue) this.count(i); // a number, true, false or null
        this.expectingValue = false;
      }
      this.afterColon = c === COLON && this.depth === 1;
    }
    this.at = i;
    return i < text.length;
  }

  /** One more value where the scan is: in a top-level list's element, or in the rest. */
  private count(at: number): void {
    const inElement = this.list !== undefined;
    if ((inElement ? ++this.elementValues : ++this.restValues) > MAX_VALUES) {
      throw new JsonShapeError(`body: more than ${MAX_VALUES} values ${inElement ? 'in one entry of a list' : 'outside its top-level lists'} (at character ${at})`);
    }
  }
}
