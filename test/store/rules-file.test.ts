import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from '../../src/app/app';
import { DEFAULTS } from '../../src/config/config';
import { api, startApp, until } from '../support/app';
import { captureLogs } from '../support/logs';
import { ExtProcClient, lbLabels } from '../support/extproc-client';

const rules = (version: string) => `rules:\n  - name: all\n    service: shop\n    destinations: [{ name: d, labels: { version: ${version} } }]\n`;

test('editing the rules file takes effect without a restart; an invalid edit changes nothing and says where', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-file-'));
  const file = path.join(dir, 'rules.yaml');
  fs.writeFileSync(file, rules('gray'));
  const env = await startApp({
    rulesFile: file,
    registry: { ttlSeconds: 15, instances: [1, 2].map((port) => ({ id: `i${port}`, service: 'shop', namespace: 'default', host: '10.0.0.1', port, weight: 100, metadata: { version: port === 1 ? 'gray' : 'stable' }, locality: {}, healthy: true, ephemeral: false, ttlSeconds: 15 })) },
  });
  const client = new ExtProcClient(env.extProc);
  const decide = async () => lbLabels(await client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' }));
  try {
    expect(await decide()).toEqual({ version: 'gray' });

    fs.writeFileSync(file, rules('stable'));
    await until(async () => (await decide())?.version === 'stable', 'the edited file to apply');

    fs.writeFileSync(file, `${rules('gray')}    failover: nowhere\n`);
    await until(() => env.logs.some((l) => l.includes('rules.refused')), 'the invalid edit to be reported');
    const report = JSON.parse(env.logs.find((l) => l.includes('rules.refused'))!);
    expect(report).toMatchObject({ level: 'warn', source: file, errors: 1, keeping: 2 });
    expect(report.detail).toContain(`${file}:5:15: rules[0].failover:`);
    expect(await decide()).toEqual({ version: 'stable' });
    const reloadOk = async () => /^metaroute_rules_last_reload_success (\d)$/m.exec((await api(env.admin, 'GET', '/metrics')).text)?.[1];
    expect(await reloadOk()).toBe('0');

    // The bad edit reverted: the live rules are the file's again, and the gauge says so.
    fs.writeFileSync(file, rules('stable'));
    await until(async () => (await reloadOk()) === '1', 'the reverted file to count as applied');
  } finally {
    client.close();
    await env.app.stop();
  }
});

test('an invalid rules file at start stops the start, and its log line says so rather than promise the previous rules', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-file-'));
  const file = path.join(dir, 'rules.yaml');
  fs.writeFileSync(file, `${rules('gray')}    failover: nowhere\n`);
  const { logger, lines: logs } = captureLogs();
  await expect(App.start({ ...DEFAULTS, ports: { extProc: 0, xds: 0, admin: 0 }, dataDir: path.join(dir, 'data'), rulesFile: file }, logger)).rejects.toThrow('rules file rejected');
  const report = JSON.parse(logs.find((l) => l.includes('rules.refused'))!);
  expect(report.msg).toBe('rules refused; metaroute does not start on an invalid rules file');
});

test('an empty rules file (an editor mid-save) deletes no rule: refused while running, and at start', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-file-'));
  const file = path.join(dir, 'rules.yaml');
  fs.writeFileSync(file, rules('gray'));
  const env = await startApp({ rulesFile: file });
  try {
    // Right after the start, maybe before the file watch's first look at the file (CI once saw
    // such an edit go unnoticed): the start reads the file once more to catch it.
    fs.writeFileSync(file, '  \n');
    await until(() => env.logs.some((l) => l.includes('the rules file is empty')), 'the empty file to be refused');
    expect(JSON.parse(env.logs.find((l) => l.includes('the rules file is empty'))!)).toMatchObject({ level: 'warn', event: 'rules.refused', source: file, keeping: 1 });
    expect((await api(env.admin, 'GET', '/v1/rules')).json.text).toBe(rules('gray'));
    fs.writeFileSync(file, 'rules: []\n'); // on purpose: no rules
    await until(async () => (await api(env.admin, 'GET', '/v1/rules')).json.version === 2, 'an explicit empty rule set to apply');
  } finally {
    await env.app.stop();
  }
  fs.writeFileSync(file, '');
  await expect(startApp({ rulesFile: file })).rejects.toThrow(`rules file rejected: ${file}: the rules file is empty (a save in progress?)`);
});
