/** One page: a typed array, or a plain array for values that are not numbers. */
export interface Page<V> {
  [index: number]: V;
  readonly length: number;
}

const PAGE_BITS = 16;
/** Entries per page once there is more than one. */
export const PAGE_LENGTH = 1 << PAGE_BITS;
const IN_PAGE = PAGE_LENGTH - 1;

/**
 * An array that grows by adding pages of 65,536 entries, so that past its first page it never
 * copies itself: at a million entries one doubling of the store index's four typed arrays and
 * key array (6.9 ms) came in the same turn of the event loop as a service's member array growing,
 * 23 ms in all. The first page starts small and doubles up to a page's length (copies of at most
 * 32,768 entries), so a small store or service allocates little. Entries never written read as
 * the page's initial value.
 */
export class PagedArray<V> {
  private readonly pages: Page<V>[];

  constructor(
    private readonly newPage: (length: number) => Page<V>,
    firstLength = 1024,
  ) {
    this.pages = [newPage(Math.min(Math.max(1, firstLength), PAGE_LENGTH))];
  }

  /** Entries it holds without growing. */
  get capacity(): number {
    return this.pages.length === 1 ? this.pages[0]!.length : this.pages.length * PAGE_LENGTH;
  }

  get(index: number): V {
    return this.pages[index >>> PAGE_BITS]![index & IN_PAGE]!;
  }

  set(index: number, value: V): void {
    this.pages[index >>> PAGE_BITS]![index & IN_PAGE] = value;
  }

  /** Makes room for indexes below `length`. */
  growTo(length: number): void {
    while (this.capacity < length) {
      const first = this.pages[0]!;
      if (this.pages.length === 1 && first.length < PAGE_LENGTH) this.pages[0] = copied(first, this.newPage(Math.min(first.length * 2, PAGE_LENGTH)));
      else this.pages.push(this.newPage(PAGE_LENGTH));
    }
  }
}

/** `from` copied into the start of `to`: a typed array's by `set` (a loop over all the kinds took 12 ms for one growth). */
function copied<V>(from: Page<V>, to: Page<V>): Page<V> {
  if (ArrayBuffer.isView(to)) (to as unknown as Float64Array).set(from as unknown as Float64Array);
  else for (let i = 0; i < from.length; i++) to[i] = from[i]!;
  return to;
}
