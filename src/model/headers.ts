/** Request headers as Envoy sends them: lower-case names, pseudo-headers included, in order. */
export interface HeaderList {
  readonly names: string[];
  readonly values: string[];
  /** Sum of name and value bytes seen, including any past the limit. */
  bytes: number;
  /** True when the headers passed the size limit; the rest were not kept. */
  oversized: boolean;
}

/** The first value of header `name` (lower case, as Envoy sends names), or undefined. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const i = headers.names.indexOf(name);
  return i < 0 ? undefined : headers.values[i];
}
