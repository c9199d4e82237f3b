/** One key or list index on the way from the document root to a node. */
export type PathSegment = string | number;
export type Path = readonly PathSegment[];

// The console imports this type (web/src/api.ts); its type-check has no Node.js types, so this file uses none.
/** A problem with a rule document: where (path, and line:column for text input) and what. */
export interface RuleError {
  /** e.g. `rules[2].sources[0].arguments[1].match.value`; '' is the document itself. */
  readonly path: string;
  /** 1-based; set when the document came from text. */
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['rules', 0, 'labels', 'app.kubernetes.io/name']` -> `rules[0].labels["app.kubernetes.io/name"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** One line per error: `rules.yaml:12:9: rules[0].destinations[1].weight: must be an integer >= 0`. */
export function formatRuleErrors(errors: readonly RuleError[], origin: string): string {
  return errors
    .map((e) => {
      const where = e.line === undefined ? origin : `${origin}:${e.line}:${e.column ?? 1}`;
      return e.path === '' ? `${where}: ${e.message}` : `${where}: ${e.path}: ${e.message}`;
    })
    .join('\n');
}
