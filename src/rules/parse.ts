import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { Path, RuleError } from './errors';
import { checkRuleLimits } from './limits';

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
  const overLimit = checkRuleLimits(text);
  if (overLimit) return { ok: false, errors: [overLimit] };
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    schema: origin.toLowerCase().endsWith('.json') ? 'json' : 'core',
    // The library's own check compares every key with every other (23 s for 60,000 keys); duplicateKeys() is linear.
    uniqueKeys: false,
  });
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problems = [...doc.errors, ...doc.warnings].map((p) => ({ offset: p.pos[0], message: p.message }));
  if (problems.length === 0) problems.push(...duplicateKeys(doc));
  if (problems.length > 0) {
    return { ok: false, errors: problems.map((p) => ({ path: '', ...position(p.offset), message: p.message })) };
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

/** Keys repeated within one mapping, with one Set per mapping: linear in the document. */
function duplicateKeys(doc: Document): Array<{ offset: number; message: string }> {
  const found: Array<{ offset: number; message: string }> = [];
  const pending: unknown[] = [doc.contents];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key !== undefined && seen.has(key)) found.push({ offset: rangeStart(pair.key) ?? 0, message: 'Map keys must be unique' });
        if (key !== undefined) seen.add(key);
        pending.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) pending.push(item);
    }
  }
  return found.sort((a, b) => a.offset - b.offset);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null | undefined)?.range;
  return range ? range[0] : undefined;
}
