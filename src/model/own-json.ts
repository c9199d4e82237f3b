/**
 * `JSON.parse`'s value, with strings of its own. V8's `JSON.parse` puts every string value of
 * up to 10 characters (ids like `i123456`, IPv4 hosts, user ids) in its string table, and that
 * table copies itself whole as it grows: with a million instances registering and heartbeating,
 * a parse of 12-44 ms every few hundred bodies (bench/registry/parse-intern.js). Used for admin
 * API bodies and the instance records a replica or worker reads from the store.
 *
 * Texts without a backslash, nested at most MAX_DEPTH deep and without a `__proto__` key, are
 * read here; anything else, and any syntax error, goes to `JSON.parse`, so the result, or the
 * error, is always the one `JSON.parse` gives.
 */
export function parseOwnJson(text: string): unknown {
  if (text.includes('\\')) return JSON.parse(text);
  const reader = new PlainReader(text);
  const value = reader.value(0);
  return value !== NOT_PLAIN && reader.atEnd() ? value : JSON.parse(text);
}

const MAX_DEPTH = 64;
/** V8's shortest sliced string (`SlicedString::kMinLength`): shorter slices are copies. */
const SLICE_VIEW_MIN = 13;
const NOT_PLAIN = Symbol('not plain');
type Read = unknown | typeof NOT_PLAIN;

const QUOTE = 0x22;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const PLUS = 0x2b;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

class PlainReader {
  private at = 0;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    this.skipSpace();
    return this.at === this.text.length;
  }

  value(depth: number): Read {
    this.skipSpace();
    const c = this.text.charCodeAt(this.at);
    if (c === QUOTE) return this.string();
    if (c === 0x7b) return depth < MAX_DEPTH ? this.object(depth + 1) : NOT_PLAIN; // {
    if (c === 0x5b) return depth < MAX_DEPTH ? this.array(depth + 1) : NOT_PLAIN; // [
    if (c === MINUS || isDigit(c)) return this.number();
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    return NOT_PLAIN;
  }

  private object(depth: number): Read {
    this.at++;
    const object: Record<string, unknown> = {};
    if (this.take('}')) return object;
    do {
      this.skipSpace();
      const key = this.string();
      // `__proto__` is an own property in JSON.parse's result, a prototype to an assignment.
      if (key === NOT_PLAIN || key === '__proto__' || !this.take(':')) return NOT_PLAIN;
      const value = this.value(depth);
      if (value === NOT_PLAIN) return NOT_PLAIN;
      object[key as string] = value;
    } while (this.take(','));
    return this.take('}') ? object : NOT_PLAIN;
  }

  private array(depth: number): Read {
    this.at++;
    const array: unknown[] = [];
    if (this.take(']')) return array;
    do {
      const value = this.value(depth);
      if (value === NOT_PLAIN) return NOT_PLAIN;
      array.push(value);
    } while (this.take(','));
    return this.take(']') ? array : NOT_PLAIN;
  }

  /** A string without escapes (the body has no backslash) and without control characters, which JSON refuses. */
  private string(): Read {
    if (this.text.charCodeAt(this.at) !== QUOTE) return NOT_PLAIN;
    const start = this.at + 1;
    let end = start;
    for (let c = this.text.charCodeAt(end); c !== QUOTE; c = this.text.charCodeAt(++end)) {
      if (!(c >= 0x20)) return NOT_PLAIN; // a control character, or the text's end (NaN)
    }
    this.at = end + 1;
    // V8 copies a slice this short; a longer one is a view that would keep the whole body alive
    // as long as the registry keeps the string, so that one is parsed on its own: a fresh copy.
    return end - start < SLICE_VIEW_MIN ? this.text.slice(start, end) : JSON.parse(this.text.slice(start - 1, end + 1));
  }

  /** JSON's number grammar, `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`, converted as JSON.parse does. */
  private number(): Read {
    const text = this.text;
    const start = this.at;
    let at = start;
    if (text.charCodeAt(at) === MINUS) at++;
    if (text.charCodeAt(at) === ZERO) at++;
    else if (isDigit(text.charCodeAt(at))) while (isDigit(text.charCodeAt(at))) at++;
    else return NOT_PLAIN;
    if (text.charCodeAt(at) === DOT) {
      if (!isDigit(text.charCodeAt(++at))) return NOT_PLAIN;
      while (isDigit(text.charCodeAt(at))) at++;
    }
    if ((text.charCodeAt(at) | 0x20) === 0x65) { // e or E
      const sign = text.charCodeAt(++at);
      if (sign === PLUS || sign === MINUS) at++;
      if (!isDigit(text.charCodeAt(at))) return NOT_PLAIN;
      while (isDigit(text.charCodeAt(at))) at++;
    }
    this.at = at;
    return Number(text.slice(start, at));
  }

  private word(word: string): boolean {
    if (!this.text.startsWith(word, this.at)) return false;
    this.at += word.length;
    return true;
  }

  /** Skips JSON whitespace, then consumes `char` if it is next. */
  private take(char: string): boolean {
    this.skipSpace();
    if (this.text[this.at] !== char) return false;
    this.at++;
    return true;
  }

  private skipSpace(): void {
    for (let c = this.text.charCodeAt(this.at); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = this.text.charCodeAt(++this.at));
  }
}
