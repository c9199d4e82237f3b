import { MetricsRegistry } from '../../src/metrics/metrics';
import { SummedMetrics } from '../../src/metrics/summed';
import { VERSION } from '../../src/model/build-info';
import { api, startApp, until } from '../support/app';
import { PROMTOOL, promtool } from '../support/promtool';
import { describeWith } from '../support/requires';
import { TYPE, XdsTestClient } from '../xds/helpers';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A scrape of a server that has instances, rules (one refused), an xDS stream with a NACK and a push. */
async function scrape(): Promise<string> {
  const env = await startApp();
  const xds = new XdsTestClient(env.app.ports.xds);
  try {
    for (const port of [1, 2]) await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, ephemeral: false });
    await api(env.admin, 'PUT', '/v1/rules', 'rules: []\n');
    await api(env.admin, 'PUT', '/v1/rules', 'rules: [{ name: broken }]\n');
    xds.send({ node: { id: 'n1' }, type_url: TYPE.CDS });
    const first = await xds.next();
    xds.send({ type_url: TYPE.CDS, response_nonce: first.nonce, version_info: '', error_detail: { code: 3, message: 'no' } });
    await api(env.admin, 'POST', '/v1/instances', { service: 'cart', host: '10.0.0.2', port: 1, ephemeral: false });
    await api(env.admin, 'POST', '/v1/instances', { service: 'cart', host: '10.0.0.3', port: 1, ephemeral: false, healthy: false });
    const scrape = async () => (await api(env.admin, 'GET', '/metrics')).text;
    await until(async () => {
    const text = await scrape();
    return (sample(text, 'metaroute_xds_push_latency_seconds_count') ?? 0) >= 1 && sample(text, 'metaroute_xds_nacks_total{type="cds"}') === 1;
  }, 'an xDS push to be timed and the NACK counted');
    return await scrape();
  } finally {
    xds.client.close();
    await env.app.stop();
  }
}

describe('/metrics', () => {
  let text: string;
  beforeAll(async () => {
    text = await scrape();
  });

  it('exposes runtime, build, instance, rules and xDS metrics', () => {
    expect(sample(text, `metaroute_build_info{version="${VERSION}",node_version="${process.version}"}`)).toBe(1);
    expect(sample(text, 'metaroute_instances{namespace="default",service="shop",health="healthy"}')).toBe(2);
    expect(sample(text, 'metaroute_instances{namespace="default",service="shop",health="unhealthy"}')).toBe(0);
    expect(sample(text, 'metaroute_instances{namespace="default",service="cart",health="healthy"}')).toBe(1);
    expect(sample(text, 'metaroute_instances{namespace="default",service="cart",health="unhealthy"}')).toBe(1);
    expect(sample(text, 'metaroute_rules_version')).toBe(1);
    expect(sample(text, 'metaroute_rules_last_reload_success')).toBe(1); // the refused PUT changed nothing
    expect(sample(text, 'metaroute_rules_api_refused_total')).toBe(1);
    expect(sample(text, 'metaroute_rules_last_reload_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(sample(text, 'metaroute_xds_nacks_total{type="cds"}')).toBe(1);
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'process_cpu_seconds_total', 'process_resident_memory_bytes']) {
      expect({ name, present: sample(text, name) !== undefined }).toEqual({ name, present: true });
    }
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
  });

  describeWith(PROMTOOL, 'promtool', () => {
    it('check metrics passes on the scrape', () => {
      expect(promtool(['check', 'metrics'], text)).toEqual({ status: 0, output: '' });
    });
  });

  it('drops instance series of a service that is gone', async () => {
    const metrics = new MetricsRegistry();
    const gauge = metrics.gauge('g', 'help', ['s']);
    let live = ['a', 'b'];
    metrics.onCollect(() => {
      gauge.reset();
      for (const s of live) gauge.set(1, [s]);
    });
    expect(metrics.render()).toContain('g{s="b"} 1');
    live = ['a'];
    expect(metrics.render()).not.toContain('g{s="b"}');
  });

  it('a service whose last instance is deregistered leaves metaroute_instances', async () => {
    const env = await startApp();
    try {
      const scrape = async () => (await api(env.admin, 'GET', '/metrics')).text;
      const series = (health: string) => `metaroute_instances{namespace="default",service="gone",health="${health}"}`;
      const registered = await api(env.admin, 'POST', '/v1/instances', { service: 'gone', host: '10.0.0.9', port: 1, ephemeral: false });
      await api(env.admin, 'POST', '/v1/instances', { service: 'kept', host: '10.0.0.8', port: 1, ephemeral: false });
      const before = await scrape();
      expect([sample(before, series('healthy')), sample(before, series('unhealthy'))]).toEqual([1, 0]);

      expect((await api(env.admin, 'DELETE', `/v1/instances/default/gone/${registered.json.id}`)).status).toBe(200);
      const after = await scrape();
      expect(after).not.toMatch(/^metaroute_instances\{[^}]*service="gone"/m);
      expect(sample(after, 'metaroute_instances{namespace="default",service="kept",health="healthy"}')).toBe(1);
    } finally {
      await env.app.stop();
    }
  });

  it("sums other processes' counters and histograms, keeping each one's last snapshot (a sum never falls)", () => {
    const worker = (decisions: number, seconds: number[]) => {
      const metrics = new MetricsRegistry();
      metrics.counter('d_total', 'decisions', ['outcome']).inc(['pass'], decisions);
      const histogram = metrics.histogram('s', 'seconds', [0.1, 1]);
      for (const v of seconds) histogram.observe(v);
      return metrics.snapshot();
    };
    const sum = new SummedMetrics();
    sum.update(1, worker(2, [0.05, 0.5]));
    sum.update(2, worker(3, [5]));
    const both = ['d_total{outcome="pass"} 5', 's_bucket{le="0.1"} 1', 's_bucket{le="1"} 2', 's_bucket{le="+Inf"} 3', 's_sum 5.55', 's_count 3'];
    for (const line of both) expect(sum.render()).toContain(`\n${line}\n`);
    sum.retire(2); // exited: its last counts stay
    sum.update(3, worker(1, [])); // its replacement
    expect(sum.render()).toContain('\nd_total{outcome="pass"} 6\n');
    expect(sum.render()).toContain('\ns_count 3\n');
    expect(sum.render().match(/^# TYPE d_total counter$/gm)).toHaveLength(1);
  });
});
