import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { api, startApp, until } from '../support/app';
import { PROMTOOL, promtool } from '../support/promtool';
import { describeWith } from '../support/requires';
import { ROOT } from '../support/transpile';
import { TYPE, XdsTestClient } from '../xds/helpers';

const ALERTS = path.join(ROOT, 'deploy', 'monitoring', 'alerts.yaml');
const INSTANCE = 'metaroute:18090';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** An alert's annotations as Prometheus fills them in for these labels. */
function annotations(alert: string, labels: Record<string, string>): Record<string, string> {
  const rules = (parse(fs.readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: Record<string, string> }> }> }).groups.flatMap((g) => g.rules);
  const rule = rules.find((r) => r.alert === alert)!;
  return Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m: string, name: string) => labels[name] ?? '')]));
}

/** Runs `promtool test rules` on one test of the alert rules; resolves to its status and output. */
function testRules(test: Record<string, unknown>): { status: number | null; output: string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-alert-')), 'test.yaml');
  fs.writeFileSync(file, stringify({ rule_files: [ALERTS], evaluation_interval: '1m', tests: [test] }));
  return promtool(['test', 'rules', file]);
}

describe('alerts on what /metrics exports', () => {
  let before: string;
  let after: string;

  beforeAll(async () => {
    const env = await startApp();
    const xds = new XdsTestClient(env.app.ports.xds);
    const scrape = async (): Promise<string> => (await api(env.admin, 'GET', '/metrics')).text;
    try {
      before = await scrape();
      xds.send({ node: { id: 'n1' }, type_url: TYPE.CDS });
      const first = await xds.next();
      xds.send({ type_url: TYPE.CDS, response_nonce: first.nonce, version_info: '', error_detail: { code: 3, message: 'no' } });
      await until(async () => sample(await scrape(), 'metaroute_xds_nacks_total{type="cds"}') === 1, 'the NACK to be counted');
      after = await scrape();
    } finally {
      xds.client.close();
      await env.app.stop();
    }
  });

  it('counters that alerts take increase() or rate() of have their known series at 0 before the first event', () => {
    const series = [
      ...['cds', 'eds', 'lds', 'rds'].map((type) => `metaroute_xds_nacks_total{type="${type}"}`),
      ...['malformed', 'internal', 'refused_client'].map((reason) => `metaroute_extproc_stream_errors_total{reason="${reason}"}`),
      ...['oversized_headers', 'spoofed_header', 'oversized_metadata', 'invalid_jwt'].map((reason) => `metaroute_rejected_requests_total{reason="${reason}"}`),
      'metaroute_xds_refused_total',
      'metaroute_rollout_timeouts_total',
      'metaroute_unknown_service_total',
    ];
    expect(series.map((s) => [s, sample(before, s)])).toEqual(series.map((s) => [s, 0]));
  });

  describeWith(PROMTOOL, 'promtool test rules', () => {
    it('MetarouteXdsNacks fires on a single NACK, fed the series as scraped before and after it', () => {
      // Three scrapes before the NACK, three after, a minute apart; a series absent from a scrape is `_`.
      const values = (type: string): string => {
        const at = (text: string) => sample(text, `metaroute_xds_nacks_total{type="${type}"}`) ?? '_';
        return `${at(before)} ${at(before)} ${at(before)} ${at(after)} ${at(after)} ${at(after)}`;
      };
      const labels = { instance: INSTANCE, type: 'cds' };
      const test = {
        interval: '1m',
        input_series: ['cds', 'eds'].map((type) => ({ series: `metaroute_xds_nacks_total{job="metaroute",instance="${INSTANCE}",type="${type}"}`, values: values(type) })),
        alert_rule_test: [{
          eval_time: '5m',
          alertname: 'MetarouteXdsNacks',
          exp_alerts: [{ exp_labels: { severity: 'warning', ...labels }, exp_annotations: annotations('MetarouteXdsNacks', labels) }],
        }],
      };
      expect({ ...testRules(test), input: test.input_series }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS'), input: expect.anything() });
    });

    describe('MetarouteRulesReloadFailed', () => {
      /** Six scrapes a minute apart, each a sample of `text` (a series absent from it is `_`). */
      const reloadTest = (text: string, firing: boolean) => {
        const value = sample(text, 'metaroute_rules_last_reload_success') ?? '_';
        const labels = { instance: INSTANCE, job: 'metaroute' };
        return {
          interval: '1m',
          input_series: [{ series: `metaroute_rules_last_reload_success{job="metaroute",instance="${INSTANCE}"}`, values: Array(6).fill(value).join(' ') }],
          alert_rule_test: [{ eval_time: '5m', alertname: 'MetarouteRulesReloadFailed', exp_alerts: firing ? [{ exp_labels: { severity: 'warning', ...labels }, exp_annotations: annotations('MetarouteRulesReloadFailed', labels) }] : [] }],
        };
      };

      it('stays quiet after a PUT /v1/rules refused with 400 (nothing changed; the caller has its errors), which has its own counter', async () => {
        const env = await startApp();
        let text: string;
        try {
          expect((await api(env.admin, 'PUT', '/v1/rules', 'rules: []\n')).status).toBe(200);
          expect((await api(env.admin, 'PUT', '/v1/rules', 'rules: [{ name: broken }]\n')).status).toBe(400);
          expect((await api(env.admin, 'PUT', '/v1/rules', ' \n')).status).toBe(400);
          text = (await api(env.admin, 'GET', '/metrics')).text;
        } finally {
          await env.app.stop();
        }
        expect(testRules(reloadTest(text, false))).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
        expect(sample(text, 'metaroute_rules_api_refused_total')).toBe(2);
      });

      it('fires while an edit of the rules file is refused and older rules serve', async () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-alert-')), 'rules.yaml');
        fs.writeFileSync(file, 'rules: []\n');
        const env = await startApp({ rulesFile: file });
        let text = '';
        try {
          fs.writeFileSync(file, 'rules: [{ name: broken }]\n');
          await until(async () => sample((text = (await api(env.admin, 'GET', '/metrics')).text), 'metaroute_rules_last_reload_success') === 0, 'the refused edit to show', 10_000);
        } finally {
          await env.app.stop();
        }
        expect(testRules(reloadTest(text, true))).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
        expect(sample(text, 'metaroute_rules_api_refused_total')).toBe(0);
      });
    });

    it('MetarouteNoXdsClients stays quiet while one replica of several has no stream, and fires when none has one', () => {
      // Three replicas (deploy/etcd/): for 10 minutes the Envoys' ADS streams sit on two of them; then on none.
      const streams = { 'metaroute-0:18090': '2x9 0x10', 'metaroute-1:18090': '2x9 0x10', 'metaroute-2:18090': '0x19' };
      const labels = { job: 'metaroute' };
      const test = {
        interval: '1m',
        input_series: Object.entries(streams).map(([instance, values]) => ({ series: `metaroute_xds_streams{job="metaroute",instance="${instance}"}`, values })),
        alert_rule_test: [
          { eval_time: '9m', alertname: 'MetarouteNoXdsClients', exp_alerts: [] },
          { eval_time: '16m', alertname: 'MetarouteNoXdsClients', exp_alerts: [{ exp_labels: { severity: 'warning', ...labels }, exp_annotations: annotations('MetarouteNoXdsClients', labels) }] },
        ],
      };
      expect(testRules(test)).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    });
  });
});
