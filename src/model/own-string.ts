/** JSON.parse internalizes string values up to this long (V8): they live in the string table. */
const INTERNALIZED_BY_JSON_PARSE = 10;

/**
 * `text`, as a string of its own rather than V8's shared (internalized) copy. Every full GC's
 * pause walks the whole string table: 3,000,000 ids, hosts and label values of a million
 * instances kept internalized (V8's JSON.parse internalizes short values) made each about
 * 70 ms longer. Concatenating and slicing a string this short copies it (no cons or slice);
 * one character stays V8's shared string (there are few of those).
 */
export function ownString(text: string): string {
  return text.length <= INTERNALIZED_BY_JSON_PARSE ? (' ' + text).slice(1) : text;
}

/**
 * One string of its own per distinct text, for texts many instances repeat (service names, label
 * values such as a version or a zone): the heap holds, and every full GC marks, one rather than one
 * per instance. The table forgets everything once it holds `limit`, so texts of their own (a user
 * id) cost a lookup, not memory.
 */
export class SharedStrings {
  private readonly known = new Map<string, string>();

  constructor(private readonly limit: number) {}

  get(text: string): string {
    const known = this.known.get(text);
    if (known !== undefined) return known;
    if (this.known.size >= this.limit) this.known.clear();
    const own = ownString(text);
    this.known.set(own, own);
    return own;
  }
}
