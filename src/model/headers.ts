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

/** A lower-case header name Envoy accepts in a mutation (an RFC 9110 token; HTTP/2 names are lower case). */
export function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name);
}

/**
 * A header value Envoy accepts in a mutation: no control character but tab (its
 * `HeaderUtility::headerValueIsValid`; other non-ASCII is sent as UTF-8, obs-text it allows).
 */
export function isHeaderValue(value: string): boolean {
  return !/[\x00-\x08\x0a-\x1f\x7f]/.test(value);
}
