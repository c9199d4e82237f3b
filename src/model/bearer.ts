import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer <token>` value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Finds which configured secret a presented token is. Tokens are compared as SHA-256
 * digests (equal length, so timingSafeEqual applies and the length leaks nothing), against
 * every entry without an early exit, so the time taken does not tell which one matched.
 */
export class TokenDigests<T> {
  private readonly entries: ReadonlyArray<{ readonly digest: Buffer; readonly value: T }>;

  constructor(values: readonly T[], secret: (value: T) => string) {
    this.entries = values.map((value) => ({ digest: digest(secret(value)), value }));
  }

  get size(): number {
    return this.entries.length;
  }

  find(presented: string): T | undefined {
    const d = digest(presented);
    let found: T | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.value;
    return found;
  }
}
