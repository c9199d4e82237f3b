import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { repeatedKey, repeatedKeyMessage } from '../model/json-keys';
import type { Path, RuleError } from './errors';
import { checkRuleLimits, RULE_LIMITS } from './limits';

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
   * Undefined for a document over LOCATE_MAX_BYTES.
   */
  locate(path: Path, key?: boolean): Position | undefined;
}

export type ParseResult = { readonly ok: true; readonly parsed: ParsedText } | { readonly ok: false; readonly errors: RuleError[] };

/** How a rule text is read: YAML (which most JSON also is), or strict JSON, read as JSON. */
export type RuleFormat = 'yaml' | 'json';

/** A rules file's format by its name: a `.json` file is strict JSON, any other YAML. */
export function fileFormat(name: string): RuleFormat {
  return name.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
}

/**
 * Documents up to this size are also parsed by the `yaml` library when something is wrong
 * with them, for exact line:column and its wording (it keeps every node's position, at about
 * 10 µs a node: ~130 ms here). A larger document's errors carry js-yaml's position for a
 * syntax error and the path alone for a validation error.
 */
export const LOCATE_MAX_BYTES = 128 * 1024;

/**
 * Parses YAML with js-yaml's YAML 1.2 core schema: about 20 times faster than the `yaml`
 * library, whose node tree with positions costs ~1 s of CPU for a 1 MiB document. Positions
 * are computed only when an error needs them (LOCATE_MAX_BYTES). Aliases may not expand the
 * document past RULE_LIMITS.maxNodes. JSON is read as JSON (`jsonParse`), not as the YAML it
 * nearly is: its errors then speak JSON, and what JSON allows YAML does not read the same.
 */
export function parseRuleText(text: string, format: RuleFormat): ParseResult {
  const overLimit = checkRuleLimits(text);
  if (overLimit) return { ok: false, errors: [overLimit] };
  const json = format === 'json';
  const fast = json ? jsonParse(text) : yamlParse(text);
  const small = Buffer.byteLength(text, 'utf8') <= LOCATE_MAX_BYTES;
  if (!fast.ok) {
    const precise = small && !fast.placed ? preciseParse(text, json) : undefined;
    return { ok: false, errors: precise && precise.errors.length > 0 ? precise.errors : [fast.error] };
  }
  let precise: Precise | undefined;
  const locate = (path: Path, key?: boolean): Position | undefined => {
    if (!small) return undefined;
    precise ??= preciseParse(text, json);
    return precise.locate(path, key);
  };
  return { ok: true, parsed: { value: fast.value, locate } };
}

/** `placed`: the error's position is exact already (every JSON error). */
type FastResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: RuleError; readonly placed?: boolean };

/**
 * Strict JSON: JSON.parse's value, its refusal placed at the first character that breaks
 * it, and a key repeated within one object refused, since JSON readers differ on which one
 * counts (JSON.parse keeps the last, YAML refuses the mapping).
 */
function jsonParse(text: string): FastResult {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // a byte-order mark, which RFC 8259 lets a reader ignore
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return { ok: false, error: strictJsonError(body, err as Error), placed: true };
  }
  const repeated = repeatedKey(body); // at once: rule text is read off the serving thread (the rules worker, the CLI)
  return repeated ? { ok: false, error: { path: '', ...placeAt(body, repeated.offset), message: repeatedKeyMessage(repeated.key) }, placed: true } : { ok: true, value };
}

function yamlParse(text: string): FastResult {
  let value: unknown;
  try {
    value = load(text, { schema: CORE_SCHEMA });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const mark = (err as YAMLException & { mark?: { line: number; column: number } }).mark;
    return { ok: false, error: { path: '', line: (mark?.line ?? 0) + 1, column: (mark?.column ?? 0) + 1, message: err.reason } };
  }
  if (expandsPast(value, RULE_LIMITS.maxNodes)) {
    return { ok: false, error: { path: '', line: 1, column: 1, message: `aliases expand the document past ${RULE_LIMITS.maxNodes} keys and list items` } };
  }
  return { ok: true, value };
}

/** JSON.parse's refusal placed at its line:column (its own message gives an offset at most): jsonc-parser's first error, strict. */
function strictJsonError(text: string, err: Error): RuleError {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return { path: '', line: 1, column: 1, message: `not strict JSON: ${err.message.slice(0, 200)}` };
  return { path: '', ...placeAt(text, first.offset), message: `not strict JSON: ${jsonErrorText(text, first)}` };
}

function placeAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

/** `trailing comma before '}'`, else jsonc-parser's code in words and the text at fault: `invalid symbol at "rules"`. */
function jsonErrorText(text: string, error: ParseError): string {
  const next = text[error.offset];
  if ((next === '}' || next === ']') && text.slice(0, error.offset).trimEnd().endsWith(',')) return `trailing comma before '${next}'`;
  const words = printParseErrorCode(error.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(); // PropertyNameExpected
  return error.length > 0 ? `${words} at ${JSON.stringify(text.slice(error.offset, error.offset + Math.min(error.length, 40)))}` : words;
}

/**
 * Whether `value` has more than `max` keys and list items when every alias is expanded
 * (js-yaml shares an aliased node instead of copying it, so a few lines can stand for
 * billions of nodes that validation and storage would walk). Stops at `max`.
 */
function expandsPast(value: unknown, max: number): boolean {
  let count = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    const children = Array.isArray(node) ? node : Object.values(node);
    count += children.length;
    if (count > max) return true;
    for (const child of children) pending.push(child);
  }
  return false;
}

/** The `yaml` library's reading of a document: its errors with their positions, and every node's position. */
interface Precise {
  readonly errors: RuleError[];
  readonly locate: ParsedText['locate'];
}

/**
 * The `yaml` library's parse, keeping node positions: used to place errors exactly in
 * documents up to LOCATE_MAX_BYTES (of a JSON text, valid by then, only its positions).
 * Warnings (an unknown tag, say) count as errors.
 */
function preciseParse(text: string, json: boolean): Precise {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    schema: json ? 'json' : 'core',
    // The library's own check compares every key with every other (23 s for 60,000 keys); duplicateKeys() is linear.
    uniqueKeys: false,
  });
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problems = [...doc.errors, ...doc.warnings].map((p) => ({ offset: p.pos[0], message: p.message }));
  if (problems.length === 0) problems.push(...duplicateKeys(doc));
  const errors: RuleError[] = problems.map((p) => ({ path: '', ...position(p.offset), message: p.message }));
  if (errors.length === 0) {
    try {
      doc.toJS(); // throws on aliases to anchors defined later, and on heavy alias use
    } catch (err) {
      errors.push({ path: '', line: 1, column: 1, message: (err as Error).message });
    }
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
  return { errors, locate };
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
