/**
 * Strings Envoy can parse: a lone UTF-16 surrogate (JSON `"\ud800"`) has no UTF-8 form, so
 * protobuf would carry invalid UTF-8 that Envoy's C++ parser refuses (a whole CDS update).
 */
const LONE_SURROGATE = /\p{Cs}/u;

export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

interface Visit {
  readonly value: unknown;
  readonly key: string | number | undefined;
  readonly parent: Visit | undefined;
}

/** The path (keys and indexes) of the first key or string in `value` holding a lone surrogate. */
export function loneSurrogatePath(value: unknown): Array<string | number> | undefined {
  // Iterative, and the path is built only for a hit: any nesting costs linear time, no stack.
  const stack: Visit[] = [{ value, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const v = visit.value;
    if (typeof v === 'string') {
      if (hasLoneSurrogate(v)) return pathOf(visit);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: visit });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        const child = { value: (v as Record<string, unknown>)[key], key, parent: visit };
        if (hasLoneSurrogate(key)) return pathOf(child);
        stack.push(child);
      }
    }
  }
  return undefined;
}

function pathOf(visit: Visit): Array<string | number> {
  const path: Array<string | number> = [];
  for (let v: Visit | undefined = visit; v?.key !== undefined; v = v.parent) path.unshift(v.key);
  return path;
}

export const LONE_SURROGATE_MESSAGE = 'contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)';
