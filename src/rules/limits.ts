import type { RuleError } from './errors';

/**
 * Bounds on a rule document, checked by one linear scan of the text before the YAML parser
 * sees it (that parser spends ~20 µs per node, and recurses per nesting level), so any
 * document is refused or accepted in well under a second of CPU.
 */
export const RULE_LIMITS = {
  /** Bytes of UTF-8 text. */
  maxBytes: 1024 * 1024,
  /** Nesting of mappings and lists (block indentation, `- ` entries and `[` `{`); a rule needs about 8. */
  maxDepth: 32,
  /** Mapping keys, list items and flow collections (the benchmark's 1,000 rules have about 58,000). */
  maxNodes: 100_000,
} as const;

/** The rules worker thread's nice value on Linux (check-worker.ts says why 10). */
export const WORKER_NICE = 10;

/**
 * The first limit `text` breaks, as an error at the line where it broke, or undefined. The
 * scan knows enough YAML to skip quoted strings and comments; block scalars (`|`, `>`) may
 * count a little extra, never less, which only makes a limit apply sooner.
 */
export function checkRuleLimits(text: string): RuleError | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > RULE_LIMITS.maxBytes) return { path: '', line: 1, column: 1, message: `document is ${bytes} bytes; the limit is ${RULE_LIMITS.maxBytes}` };
  let line = 1;
  let lineStart = 0;
  let nodes = 0;
  let flow = 0;
  const indents: number[] = []; // open block levels, by indentation
  let entries = 0; // `- ` markers opening the current line (each nests one level)
  let atLineStart = true;
  let onlyEntries = true; // nothing but spaces and `- ` markers so far on this line
  let quote = '';
  let last = ''; // the last character outside quotes on this line that was no space ('' at its start)
  const refuse = (i: number, message: string): RuleError => ({ path: '', line, column: i - lineStart + 1, message });
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      atLineStart = true;
      onlyEntries = true;
      entries = 0;
      if (!quote) last = '';
      continue; // a quoted string may span lines: `quote` stays
    }
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) {
        quote = '';
        last = c;
      }
      continue;
    }
    if (c === '#' && (i === lineStart || isBlank(text[i - 1]))) {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
      continue;
    }
    if (atLineStart && c !== ' ') {
      atLineStart = false;
      if (flow === 0) {
        const indent = i - lineStart;
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
      }
    }
    const entryMarker = c === '-' && flow === 0 && onlyEntries && isBlank(text[i + 1]);
    if (c !== ' ' && !entryMarker) onlyEntries = false;
    if (entryMarker) {
      entries++;
      nodes++;
    } else if ((c === '"' || c === "'") && SCALAR_STARTS.includes(last)) {
      quote = c; // only where a scalar starts: the ' in `don't` is text
    } else if (c === '[' || c === '{') {
      flow++;
      nodes++;
    } else if (c === ']' || c === '}') {
      if (flow > 0) flow--;
    } else if (c === ',') {
      if (flow > 0) nodes++;
    } else if (c === ':' && (isBlank(text[i + 1]) || text[i - 1] === '"' || text[i - 1] === "'")) {
      nodes++;
    }
    if (c !== ' ' && c !== '\t' && !quote) last = c;
    if (nodes > RULE_LIMITS.maxNodes) return refuse(i, `more than ${RULE_LIMITS.maxNodes} keys and list items`);
    if (indents.length + entries + flow > RULE_LIMITS.maxDepth) return refuse(i, `nested deeper than ${RULE_LIMITS.maxDepth} levels`);
  }
  return undefined;
}

/** Characters after which a quoted scalar may start ('' is the start of a line). */
const SCALAR_STARTS = ['', ':', '-', '[', '{', ',', '?'];

function isBlank(c: string | undefined): boolean {
  return c === undefined || c === ' ' || c === '\n' || c === '\r' || c === '\t';
}
