/** Keys with a window of their own at most: keys come from clients, so their number has no other bound. */
export const MAX_THROTTLED_KEYS = 1024;

/** A line let through, with the lines held back that it reports. */
export interface LetThrough {
  /** Lines held back since the last line it stands for. */
  readonly held: number;
  /** It stands for every key that found the table full of running windows (and for keys dropped from it), not its own key alone. */
  readonly others: boolean;
}

interface Window {
  until: number;
  held: number;
}

const FIRST: LetThrough = Object.freeze({ held: 0, others: false });

/**
 * One log line per key per window: a cause that repeats on every request (a sidecar sending
 * the same malformed metadata on each ext_proc stream) would otherwise write a line per request.
 * The lines held back within a window are counted and reported with the key's next line.
 * While MAX_THROTTLED_KEYS keys have a window running, further keys share one window: clients
 * sending ever new keys get at most MAX_THROTTLED_KEYS + 1 lines a window between them, never one per request.
 */
export class LineThrottle {
  /** In the order their windows end (a key starting a new window goes last), so ended ones are found first. */
  private readonly windows = new Map<string, Window>();
  /** The window keys past the table share; it also takes the held counts of keys dropped from the table. */
  private readonly others: Window = { until: -Infinity, held: 0 };

  constructor(private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** Undefined when the line is held back (counted); else the line, with what it reports. */
  pass(key: string): LetThrough | undefined {
    const now = this.now();
    const window = this.windows.get(key);
    if (window) {
      if (now < window.until) {
        window.held++;
        return undefined;
      }
      this.windows.delete(key);
      this.windows.set(key, { until: now + this.windowMs, held: 0 });
      return { held: window.held, others: false };
    }
    if (this.windows.size >= MAX_THROTTLED_KEYS) this.dropEnded(now);
    if (this.windows.size < MAX_THROTTLED_KEYS) {
      this.windows.set(key, { until: now + this.windowMs, held: 0 });
      return FIRST;
    }
    return this.passOther(now);
  }

  /** Frees the table of keys whose window ended; the lines they held back are reported with the next line for others. */
  private dropEnded(now: number): void {
    for (const [key, window] of this.windows) {
      if (now < window.until) return;
      this.others.held += window.held;
      this.windows.delete(key);
    }
  }

  private passOther(now: number): LetThrough | undefined {
    const others = this.others;
    if (now < others.until) {
      others.held++;
      return undefined;
    }
    const held = others.held;
    others.until = now + this.windowMs;
    others.held = 0;
    return { held, others: true };
  }
}
