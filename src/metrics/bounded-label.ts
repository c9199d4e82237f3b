/**
 * A label whose values come from plugins (a custom router's `rule`): the first `max` distinct
 * values count as themselves, later ones as `overflow`, so a router that names a rule per
 * request (contrary to ROUTERS.md) cannot grow a series, and the memory behind it, per value.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    readonly overflow: string,
  ) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return this.overflow;
    this.seen.add(value);
    return value;
  }
}
