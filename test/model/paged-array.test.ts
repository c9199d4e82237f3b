import { PagedArray, PAGE_LENGTH } from '../../src/model/paged-array';

describe('PagedArray', () => {
  it('keeps every value as it grows from a small first page through doubling into whole pages', () => {
    const array = new PagedArray<number>((n) => new Float64Array(n), 16);
    expect(array.capacity).toBe(16);
    const length = 2 * PAGE_LENGTH + 5;
    const wrong: number[] = [];
    for (let i = 0; i < length; i++) {
      array.growTo(i + 1);
      array.set(i, i * 1.5);
      if (i === 16 || i === PAGE_LENGTH / 2 || i === PAGE_LENGTH || i === 2 * PAGE_LENGTH) {
        for (let j = 0; j <= i; j++) if (array.get(j) !== j * 1.5) wrong.push(j); // right after a growth
      }
    }
    expect(wrong).toEqual([]);
    expect(array.capacity).toBe(3 * PAGE_LENGTH);
    expect(array.get(length)).toBe(0); // never written: the page's initial value
  });

  it('grows to a length in one call, past several pages, and holds values that are not numbers', () => {
    const array = new PagedArray<string | undefined>((n) => new Array<string | undefined>(n), 4);
    array.set(3, 'first page');
    array.growTo(3 * PAGE_LENGTH + 1);
    expect(array.capacity).toBe(4 * PAGE_LENGTH);
    array.set(3 * PAGE_LENGTH, 'fourth page');
    expect([array.get(3), array.get(PAGE_LENGTH), array.get(3 * PAGE_LENGTH)]).toEqual(['first page', undefined, 'fourth page']);
  });

  it('takes a first length that is not a power of two, or none, and still ends its first page at a page', () => {
    for (const firstLength of [1000, 0, 3]) {
      const array = new PagedArray<number>((n) => new Int32Array(n), firstLength);
      const length = PAGE_LENGTH + 10;
      for (let i = 0; i < length; i++) {
        array.growTo(i + 1);
        array.set(i, i + 1);
      }
      expect(array.capacity).toBe(2 * PAGE_LENGTH);
      const wrong = Array.from({ length }, (_, i) => i).filter((i) => array.get(i) !== i + 1);
      expect([firstLength, wrong.length]).toEqual([firstLength, 0]);
    }
  });
});
