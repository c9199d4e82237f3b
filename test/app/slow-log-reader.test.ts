import { ExtProcClient } from '../support/extproc-client';
import { MetarouteProcess } from '../support/metaroute-process';

const EXPIRING = 3000;

async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A log collector that falls behind (its pipe full) must not stop the server: 3,000 instances
 * expiring at once log 3,000 lines, far more than a pipe holds. With synchronous writes the
 * server slept in `write` until someone read; now ext_proc and admin keep answering, and every
 * line arrives once the collector reads again.
 */
test('a log reader that stops reading stalls neither ext_proc nor the admin API, and loses no line', async () => {
  const metaroute = await MetarouteProcess.start();
  const client = new ExtProcClient(`127.0.0.1:${metaroute.ports.extProc}`);
  const expiredLines = (): number => metaroute.logs.join('').split('"event":"instance.expired"').length - 1;
  try {
    metaroute.pauseLogs();
    const register = Array.from({ length: EXPIRING }, (_, i) => ({ service: 'shop', host: `10.1.${i >> 8}.${i & 255}`, port: 8080, ttlSeconds: 1 }));
    const registered = await fetch(`${metaroute.admin}/v1/instances/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ register }) });
    expect(registered.status).toBe(200);

    const deadline = Date.now() + 20_000;
    let left = EXPIRING;
    while (left > 0) {
      if (Date.now() > deadline) throw new Error(`${left} of ${EXPIRING} instances still registered after 20 s`);
      await new Promise((r) => setTimeout(r, 200));
      // Each answer within 2 s (AbortSignal fails the test otherwise), while nobody reads the log.
      const listed = await fetch(`${metaroute.admin}/v1/instances?service=shop`, { signal: AbortSignal.timeout(2000) });
      left = ((await listed.json()) as { instances: unknown[] }).instances.length;
      expect(await within(2000, client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' }), 'ext_proc')).toBeDefined();
    }
    expect(expiredLines()).toBeLessThan(EXPIRING); // the pipe really was full: lines were waiting

    metaroute.resumeLogs();
    const read = Date.now() + 10_000;
    while (expiredLines() < EXPIRING && Date.now() < read) await new Promise((r) => setTimeout(r, 100));
    expect(expiredLines()).toBe(EXPIRING);
  } finally {
    client.close();
    await metaroute.stop();
  }
}, 90_000);
