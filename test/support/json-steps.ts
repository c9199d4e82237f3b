import type { Steps } from '../../src/model/slices';

/** A seeded random number generator (the same bodies every run). */
export function seeded(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

/** What `parse` gives for `text`: its value, or its error's message. */
export function outcome(parse: (text: string) => unknown, text: string): { value?: unknown; error?: string } {
  try {
    return { value: parse(text) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Runs a reader's steps over `text` to the end: its value, how many times it yielded, and whether JSON.parse ever read the whole text. */
export function stepThrough(steps: (text: string) => Steps<unknown>, text: string): { value: unknown; yields: number; parsedWhole: boolean } {
  const parse = jest.spyOn(JSON, 'parse');
  try {
    const run = steps(text);
    let yields = 0;
    let next = run.next();
    for (; !next.done; next = run.next()) yields++;
    return { value: next.value, yields, parsedWhole: parse.mock.calls.some(([parsed]) => parsed === text) };
  } finally {
    parse.mockRestore();
  }
}
