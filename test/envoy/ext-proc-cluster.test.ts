import * as http2 from 'node:http2';
import { ENVOY, waitFor } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway } from './gateway-harness';

/**
 * The ext_proc cluster of the shipped gateway under concurrency, and the gateway's
 * fail-closed choice, through a real Envoy with metaroute in its own process.
 */

type Bootstrap = Record<string, any>;

function extProcFilter(bootstrap: Bootstrap): Bootstrap {
  const hcm = bootstrap['static_resources'].listeners[0].filter_chains[0].filters[0].typed_config;
  return hcm.http_filters.find((f: Bootstrap) => f['name'] === 'envoy.filters.http.ext_proc').typed_config;
}

function extProcCluster(bootstrap: Bootstrap): Bootstrap {
  return bootstrap['static_resources'].clusters.find((c: Bootstrap) => c['name'] === 'metaroute_ext_proc');
}

/** `n` concurrent GETs on one HTTP/2 connection into Envoy's listener; resolves with the statuses. */
async function concurrentRequests(url: string, n: number): Promise<number[]> {
  const session = http2.connect(url);
  try {
    return await Promise.all(
      Array.from({ length: n }, () =>
        new Promise<number>((resolve) => {
          const req = session.request({ ':path': '/' });
          let status = 0;
          req.on('response', (headers) => (status = Number(headers[':status'])));
          req.on('close', () => resolve(status));
          req.on('error', () => resolve(-1));
          req.resume();
          req.end();
        }),
      ),
    );
  } finally {
    session.close();
  }
}

/** Holds metaroute still (SIGSTOP) while 2,000 requests pile up on the ext_proc cluster, then lets it answer. */
async function burstWhileStopped(gw: Gateway): Promise<{ statuses: Map<number, number>; active: number; overflow: number }> {
  gw.metaroute.signal('SIGSTOP');
  // Four clients of 500 streams each: Envoy takes at most 1,024 concurrent streams per downstream connection.
  const answers = Promise.all(Array.from({ length: 4 }, () => concurrentRequests(gw.url, 500))).then((all) => all.flat());
  let active = 0;
  try {
    active = await waitFor('2,000 requests waiting on ext_proc (or overflowing)', async () => {
      const n = (await gw.envoy.stat('cluster.metaroute_ext_proc.upstream_rq_active')) + (await gw.envoy.stat('cluster.metaroute_ext_proc.upstream_rq_pending_active'));
      const overflow = await gw.envoy.stat('cluster.metaroute_ext_proc.upstream_rq_pending_overflow');
      return n >= 2000 || overflow > 0 ? n : undefined;
    }, 20_000);
  } finally {
    gw.metaroute.signal('SIGCONT');
  }
  const statuses = new Map<number, number>();
  for (const status of await answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  return { statuses, active, overflow: await gw.envoy.stat('cluster.metaroute_ext_proc.upstream_rq_pending_overflow') };
}

/** The decision budget raised so the paused metaroute is not a timeout; nothing else changes. */
const patient = (bootstrap: Bootstrap): void => {
  extProcFilter(bootstrap)['message_timeout'] = '30s';
};

describeWith(ENVOY, 'the ext_proc cluster through real Envoy', () => {
  test('the shipped circuit breakers carry 2,000 concurrent requests without overflow', async () => {
    const gw = await Gateway.start({}, {}, patient);
    try {
      await gw.backend('one', 'shop');
      await gw.until({ path: '/', cluster: 'shop.default' }, ['one']);
      const { statuses, active, overflow } = await burstWhileStopped(gw);
      expect({ statuses: Object.fromEntries(statuses), overflow }).toEqual({ statuses: { 200: 2000 }, overflow: 0 });
      expect(active).toBeGreaterThanOrEqual(2000);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test("with Envoy's default circuit breaker the same burst overflows into 5xx (why the shipped config raises it)", async () => {
    const gw = await Gateway.start({}, {}, (bootstrap) => {
      patient(bootstrap);
      delete extProcCluster(bootstrap)['circuit_breakers'];
    });
    try {
      await gw.backend('one', 'shop');
      await gw.until({ path: '/', cluster: 'shop.default' }, ['one']);
      const { statuses, overflow } = await burstWhileStopped(gw);
      expect(overflow).toBeGreaterThan(0);
      expect([...statuses.keys()].some((s) => s >= 500)).toBe(true);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('the gateway fails closed when metaroute is killed: 500, never an undecided request', async () => {
    const gw = await Gateway.start();
    try {
      await gw.backend('one', 'shop');
      await gw.until({ path: '/', cluster: 'shop.default' }, ['one']);
      gw.metaroute.signal('SIGKILL');
      await gw.metaroute.exited();
      for (let i = 0; i < 5; i++) expect((await gw.send({ path: '/', cluster: 'shop.default' })).status).toBe(500);
    } finally {
      await gw.stop();
    }
  }, 60_000);
});
