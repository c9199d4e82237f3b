import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

/** Loads once (and again when `deps` change); `reload` fetches again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && (setData(value), setError(undefined)),
      (e: Error) => live && setError(describe(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  return { data, error, reload: () => setRound((r) => r + 1) };
}

/**
 * Polls every `everyMs` while the page is visible: the server computes what consoles poll
 * once per second however many are open, so polling is what keeps its cost flat.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]): { data: T | undefined; error: string | undefined } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = (): void => {
      if (document.visibilityState === 'hidden') {
        timer = setTimeout(tick, everyMs);
        return;
      }
      loadRef.current().then(
        (value) => live && (setData(value), setError(undefined)),
        (e: Error) => live && setError(describe(e)),
      ).finally(() => {
        if (live) timer = setTimeout(tick, everyMs);
      });
    };
    tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, deps);
  return { data, error };
}

export function describe(error: Error): string {
  if (error instanceof ApiError && error.details.length) return `${error.message}: ${error.details.join('; ')}`;
  return error.message;
}
