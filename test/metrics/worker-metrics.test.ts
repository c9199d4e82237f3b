import * as grpc from '@grpc/grpc-js';
import { api, until } from '../support/app';
import { ExtProcClient } from '../support/extproc-client';
import { MetarouteProcess } from '../support/metaroute-process';
import { PROMTOOL, promtool } from '../support/promtool';

/** The sum of the samples of `series` (a bare name: over all its label sets); undefined when there is none. */
function total(text: string, series: string): number | undefined {
  const name = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const values = [...text.matchAll(new RegExp(`^${name}${series.includes('{') ? '' : '(?:\\{[^}]*\\})?'} (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

/** `workers: 2` as a real process tree: the primary's /metrics sums what the workers' ext_proc servers count. */
describe('/metrics with workers: 2', () => {
  it("includes the workers' ext_proc metrics, summed; a worker that does not answer or dies keeps its counts", async () => {
    const server = await MetarouteProcess.start({ workers: 2 });
    const clients: ExtProcClient[] = [];
    try {
      await until(async () => (await api(server.admin, 'GET', '/readyz')).status === 200, 'both workers to serve', 60_000);
      const scrape = async (): Promise<string> => (await api(server.admin, 'GET', '/metrics')).text;
      const fresh = await scrape();
      expect(total(fresh, 'metaroute_decisions_total')).toBeUndefined(); // labels not known before a decision
      expect(total(fresh, 'metaroute_decision_seconds_count')).toBe(0);
      expect(total(fresh, 'metaroute_extproc_stream_errors_total{reason="malformed"}')).toBe(0);

      expect((await api(server.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1 })).status).toBe(200);
      // One connection per client; the primary hands connections to the workers in turn, so four reach both.
      for (let i = 0; i < 4; i++) clients.push(new ExtProcClient(`127.0.0.1:${server.ports.extProc}`, {}, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
      const requests = 40;
      for (let i = 0; i < requests / clients.length; i++) await Promise.all(clients.map((c) => c.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' })));
      const workers = (await api(server.admin, 'GET', '/config_dump')).json.workers as { pid: number; decisions: number }[];
      expect(workers.map((w) => w.decisions > 0)).toEqual([true, true]); // the sum below is over both

      let text = '';
      await until(async () => total((text = await scrape()), 'metaroute_extproc_workers_answered') === 2, 'both workers to answer a scrape', 10_000);
      expect(total(text, 'metaroute_decisions_total')).toBe(requests);
      expect(total(text, 'metaroute_decision_seconds_count')).toBe(requests);
      expect(total(text, 'metaroute_decision_seconds_bucket{le="+Inf"}')).toBe(requests);
      if (PROMTOOL.path) expect(promtool(['check', 'metrics'], text)).toEqual({ status: 0, output: '' });

      // A stopped worker does not hold the scrape up; its last answer still counts.
      process.kill(workers[0]!.pid, 'SIGSTOP');
      try {
        const started = Date.now();
        const late = await scrape();
        expect(Date.now() - started).toBeLessThan(5000);
        expect(total(late, 'metaroute_extproc_workers_answered')).toBe(1);
        expect(total(late, 'metaroute_decisions_total')).toBe(requests);
      } finally {
        process.kill(workers[0]!.pid, 'SIGCONT');
      }

      // A worker that dies is replaced; its counts stay in the sum (a fall would read as a counter reset).
      process.kill(workers[1]!.pid, 'SIGKILL');
      const pids = async () => ((await api(server.admin, 'GET', '/config_dump')).json.workers as { pid: number }[]).map((w) => w.pid);
      await until(async () => (await pids()).length === 2 && !(await pids()).includes(workers[1]!.pid), 'a replacement worker', 30_000);
      // The replacement may still be starting (busy past the second); answered or not, nothing falls.
      await until(async () => {
        const after = await scrape();
        expect([total(after, 'metaroute_decisions_total'), total(after, 'metaroute_decision_seconds_count')]).toEqual([requests, requests]);
        return total(after, 'metaroute_extproc_workers_answered') === 2;
      }, 'both workers to answer', 30_000);
    } finally {
      for (const c of clients) c.close();
      await server.stop();
    }
  }, 120_000);
});
