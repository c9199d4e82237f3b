import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { api, startApp, until } from '../support/app';
import { MetarouteProcess } from '../support/metaroute-process';
import { PROMTOOL, promtool } from '../support/promtool';
import { describeWith } from '../support/requires';
import { ROOT } from '../support/transpile';

const MONITORING = path.join(ROOT, 'deploy', 'monitoring');
const alerts = parse(fs.readFileSync(path.join(MONITORING, 'alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
const dashboard = JSON.parse(fs.readFileSync(path.join(MONITORING, 'dashboard.json'), 'utf8')) as { panels: Array<{ id: number; type: string; targets?: Array<{ expr: string }> }>; templating: { list: Array<{ name: string; query: string }> } };
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

/** A dashboard expression as Prometheus runs it once Grafana has given its variables values (every instance). */
const withVariables = (expr: string): string => expr.replace(/\$__rate_interval/g, '5m').replace(/\$instance/g, '.*');

/** The metric names an expression reads: metaroute's, the runtime's (nodejs_, process_) and Prometheus' `up`. */
function metricNames(expr: string): string[] {
  return [...expr.replace(/"[^"]*"/g, '""').matchAll(/\b(metaroute_\w+|nodejs_\w+|process_\w+|up)\b/g)].map((m) => m[1]!);
}

function checkRules(file: string): void {
  expect(promtool(['check', 'rules', file])).toMatchObject({ status: 0 });
}

/** The metric names a scrape exposes (a histogram's series too), with Prometheus' own `up`. */
function exposedNames(text: string): Set<string> {
  const names = new Set(['up']);
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

describe('deploy/monitoring', () => {
  /** Per server form: in process, and `workers: 2` (the primary sums the workers' ext_proc metrics). */
  const exposed: Record<string, Set<string>> = {};

  beforeAll(async () => {
    const env = await startApp();
    try {
      await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 80, ephemeral: false });
      exposed['workers: 1'] = exposedNames((await api(env.admin, 'GET', '/metrics')).text);
    } finally {
      await env.app.stop();
    }
    const server = await MetarouteProcess.start({ workers: 2 });
    try {
      await until(async () => (await api(server.admin, 'GET', '/readyz')).status === 200, 'both workers to serve', 60_000);
      await api(server.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 80, ephemeral: false });
      exposed['workers: 2'] = exposedNames((await api(server.admin, 'GET', '/metrics')).text);
    } finally {
      await server.stop();
    }
  }, 120_000);

  describeWith(PROMTOOL, 'promtool check rules', () => {
    it('passes on the alert rules', () => checkRules(path.join(MONITORING, 'alerts.yaml')));

    it("parses the dashboard's PromQL (as recording rules, Grafana's variables given values)", () => {
      const rules = { groups: [{ name: 'dashboard', rules: dashboardExprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr: withVariables(expr) })) }] };
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-dash-')), 'dashboard-rules.yaml');
      fs.writeFileSync(file, stringify(rules));
      checkRules(file);
    });

    it('the dashboard counts an instance once, however many replicas report it (each holds the whole registry)', () => {
      const exprs = dashboardExprs.filter((expr) => expr.includes('metaroute_instances'));
      expect(exprs.length).toBe(1);
      const replicas = ['metaroute-0:18090', 'metaroute-1:18090', 'metaroute-2:18090'];
      const test = {
        interval: '1m',
        input_series: replicas.map((instance) => ({ series: `metaroute_instances{job="metaroute",instance="${instance}",namespace="default",service="shop",health="healthy"}`, values: '2x5' })),
        promql_expr_test: [{ expr: withVariables(exprs[0]!), eval_time: '5m', exp_samples: [{ labels: '{namespace="default",service="shop",health="healthy"}', value: 2 }] }],
      };
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-dash-')), 'test.yaml');
      fs.writeFileSync(file, stringify({ tests: [test] }));
      expect(promtool(['test', 'rules', file])).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    });
  });

  it('alerts and the dashboard name only metrics a running metaroute exposes, with workers: 1 and 2', () => {
    const used = [...new Set([...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboardExprs, ...dashboard.templating.list.map((v) => v.query)].flatMap(metricNames))];
    expect(used.length).toBeGreaterThan(20);
    const missing = Object.fromEntries(Object.entries(exposed).map(([form, names]) => [form, used.filter((n) => !names.has(n))]));
    expect(missing).toEqual({ 'workers: 1': [], 'workers: 2': [] });
  });

  it('the dashboard has unique panel ids and a query in every panel, and alerts are there', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.panels.filter((p) => p.type !== 'row').every((p) => (p.targets ?? []).length > 0)).toBe(true);
    expect(alerts.groups.flatMap((g) => g.rules).length).toBeGreaterThan(5);
  });
});
