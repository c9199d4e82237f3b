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
