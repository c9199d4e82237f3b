/** Keys remembered at most; past this the table starts over (each key then logs once more). */
const MAX_KEYS = 1024;

/**
 * One log line per key per window: a cause that repeats on every request (a sidecar sending
 * the same malformed metadata on each ext_proc stream) would otherwise write a line per request.
 * The lines held back within a window are counted and reported with the key's next line.
 */
export class LineThrottle {
  private readonly windows = new Map<string, { readonly until: number; held: number }>();

  constructor(private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** Undefined when `key` already had its line this window; else how many of its lines were held back since its last. */
  pass(key: string): number | undefined {
    const now = this.now();
    const window = this.windows.get(key);
    if (window && now < window.until) {
      window.held++;
      return undefined;
    }
    if (!window && this.windows.size >= MAX_KEYS) this.windows.clear();
    this.windows.set(key, { until: now + this.windowMs, held: 0 });
    return window?.held ?? 0;
  }
}
