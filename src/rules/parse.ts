import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Path, RuleError } from './errors';

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** A parsed rule text: the plain value, and where each of its nodes came from. */
export interface ParsedText {
  readonly value: unknown;
  /**
   * The position of the node at `path` (of the map key naming it when `key` is set), or of
   * its deepest existing ancestor: a missing field points at the mapping that lacks it.
   */
  locate(path: Path, key?: boolean): Position | undefined;
}

export type ParseResult = { readonly ok: true; readonly parsed: ParsedText } | { readonly ok: false; readonly errors: RuleError[] };

/**
 * Parses YAML, or JSON (a subset of YAML 1.2), keeping node positions. A `.json` origin
 * uses the strict JSON schema, so an unquoted string there is an error instead of a guess.
 * Warnings (an unknown tag, say) count as errors: a rule file should mean one thing.
 */
export function parseRuleText(text: string, origin: string): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    schema: origin.toLowerCase().endsWith('.json') ? 'json' : 'core',
  });
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    return { ok: false, errors: problems.map((p) => ({ path: '', ...position(p.pos[0]), message: p.message })) };
  }
  let value: unknown;
  try {
    // Throws on alias abuse ("billion laughs") and on aliases to anchors defined later.
    value = doc.toJS();
  } catch (err) {
    return { ok: false, errors: [{ path: '', line: 1, column: 1, message: (err as Error).message }] };
  }

  const locate = (path: Path, key = false): Position | undefined => {
    let node: unknown = doc.contents;
    let offset = rangeStart(node);
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(doc);
      const seg = path[i];
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (key && i === path.length - 1) return position(rangeStart(pair.key) ?? offset ?? 0);
        // `name:` with nothing after it is absent for the validator: point at the key.
        next = pair.value === null || (isScalar(pair.value) && pair.value.value === null) ? pair.key : pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      } else {
        break;
      }
      const start = rangeStart(next);
      if (start === undefined) break;
      node = next;
      offset = start;
    }
    return offset === undefined ? undefined : position(offset);
  };
  return { ok: true, parsed: { value, locate } };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null | undefined)?.range;
  return range ? range[0] : undefined;
}
