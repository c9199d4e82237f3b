import type { Steps } from '../model/slices';
import { QUOTE } from '../model/json-chars';
import { jsonInSteps } from './json-in-steps';

/**
 * `POST /v1/heartbeats` bodies read without `JSON.parse`. V8's `JSON.parse` puts every string
 * value of up to 10 characters (ids like `i123456`) in its string table, and that table copies
 * itself whole as it grows: at 1,000,000 instances heartbeating, a parse of 12-31 ms every few
 * hundred bodies (bench/registry/parse-intern.js). The strings this makes are its own.
 *
 * Only the plain shape `{"instances": [{"key": "value", ...}, ...]}` with string values and no
 * backslash is read here, a step per ENTRIES_PER_STEP entries (a 10,000-entry body read at once
 * held the loop about 10 ms); anything else (escapes, other value types, syntax errors) goes to
 * `jsonInSteps` (`JSON.parse` a run at a time), so the result, or the error, is always the one
 * `JSON.parse` gives.
 */
export function* heartbeatsBodySteps(text: string): Steps<unknown> {
  return (text.includes('\\') ? undefined : yield* new PlainReader(text).body()) ?? (yield* jsonInSteps(text));
}

/** An entry's fields: namespace, service, id. */
const REF_FIELDS = 3;
/** About a tenth of a millisecond of reading. */
const ENTRIES_PER_STEP = 200;

class PlainReader {
  private at = 0;

  constructor(private readonly text: string) {}

  /** The body, or undefined when it is not of the plain shape. */
  *body(): Steps<{ instances: Record<string, string>[] } | undefined> {
    if (!this.take('{') || this.string() !== 'instances' || !this.take(':') || !this.take('[')) return undefined;
    const instances: Record<string, string>[] = [];
    if (!this.take(']')) {
      do {
        const entry = this.entry();
        if (!entry) return undefined;
        if (instances.push(entry) % ENTRIES_PER_STEP === 0) yield;
      } while (this.take(','));
      if (!this.take(']')) return undefined;
    }
    if (!this.take('}')) return undefined;
    this.skipSpace();
    return this.at === this.text.length ? { instances } : undefined;
  }

  private entry(): Record<string, string> | undefined {
    if (!this.take('{')) return undefined;
    const entry: Record<string, string> = {};
    if (this.take('}')) return entry;
    let members = 0;
    do {
      if (++members > REF_FIELDS) return undefined; // not a reference: jsonInSteps, then parseRef says what is wrong
      const key = this.string();
      // `__proto__` is an own property in JSON.parse's result, a prototype to an assignment.
      if (key === undefined || key === '__proto__' || !this.take(':')) return undefined;
      const value = this.string();
      if (value === undefined) return undefined;
      entry[key] = value;
    } while (this.take(','));
    return this.take('}') ? entry : undefined;
  }

  /** A string without escapes (the body has no backslash) and without control characters, which JSON refuses. */
  private string(): string | undefined {
    this.skipSpace();
    if (this.text.charCodeAt(this.at) !== QUOTE) return undefined;
    const start = this.at + 1;
    let end = start;
    for (let c = this.text.charCodeAt(end); c !== QUOTE; c = this.text.charCodeAt(++end)) {
      if (!(c >= 0x20)) return undefined; // a control character, or the text's end (NaN)
    }
    this.at = end + 1;
    return this.text.slice(start, end);
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
