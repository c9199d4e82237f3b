import * as fs from 'node:fs';
import { RulesChecker } from '../../src/app/rules-checker';
import { WORKER_NICE } from '../../src/rules/limits';
import { ExtProcClient, lbLabels } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';

/**
 * A valid document of `n` rules, about 58 keys and items each (1,500 take 0.1-0.7 s of CPU to
 * parse and validate); `pattern` is each rule's regex (`{1,9}` repeats make them costly to compile).
 */
function heavyRules(n: number, pattern = '^[0-9]+$'): string {
  const rules = Array.from({ length: n }, (_, r) => ({
    name: `r${r}`,
    service: `s${r % 100}`,
    sources: [{ arguments: [{ type: 'header', key: 'x-user-role', match: { type: 'EXACT', value: `role-${r}` } }, { type: 'query', key: 'uid', match: { type: 'REGEX', value: pattern } }] }],
    destinations: [{ name: 'gray', labels: { version: 'gray' }, weight: 50 }, { name: 'stable', labels: { version: 'stable' }, weight: 50 }],
    stickyBy: { type: 'query', key: 'uid' },
  }));
  return JSON.stringify({ rules: [{ name: 'staff', service: 'shop', destinations: [{ name: 'gray', labels: { version: 'gray' } }] }, ...rules] });
}

test('a document that outlasts the timeout is refused and its worker replaced; the next document is checked by a fresh one', async () => {
  // The costliest document the limits admit (nodes and regex budget nearly spent: 0.4-1 s of
  // CPU here) against a short timeout; small documents stay far below it.
  const checker = new RulesChecker(150);
  try {
    const slow = await checker.check(heavyRules(1500, '^[a-z]{1,9}[0-9]{1,9}[0-9]{1,9}$'), 'api');
    expect(slow).toEqual({ ok: false, errors: [{ path: '', message: 'took over 150 ms to parse and validate; simplify the document (fewer or simpler regexes, fewer rules)' }] });
    const small = await checker.check('rules: []\n', 'api');
    expect(small).toEqual({ ok: true, document: { rules: [], metadataRoutes: [] } });
    const invalid = await checker.check('rules: 5\n', 'api');
    expect(invalid.ok ? [] : invalid.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`)).toEqual(['1:8 rules: must be a list, got a number 5']);
  } finally {
    await checker.close();
  }
}, 120_000);

test('ext_proc keeps answering while a heavy rules document is parsed and validated', async () => {
  const env = await startApp();
  const client = new ExtProcClient(env.extProc);
  try {
    await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } });
    await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - { name: staff, service: shop, destinations: [{ name: gray, labels: { version: gray } }] }\n');
    await until(() => env.app.engine.current.rules.inbound.size === 1 && env.app.engine.current.registry.services.size === 1, 'setup');
    const request = { ':method': 'GET', ':path': '/', ':authority': 'shop' };
    expect(lbLabels(await client.request(request))).toEqual({ version: 'gray' }); // the rules worker is warm after the first PUT

    let putDone = false;
    const put = api(env.admin, 'PUT', '/v1/rules', heavyRules(1000)).finally(() => {
      putDone = true;
    });
    let answeredDuringPut = 0;
    for (let i = 0; i < 100_000 && !putDone; i++) {
      const answer = await client.request(request);
      if (!putDone) answeredDuringPut++;
      expect(lbLabels(answer)).toEqual({ version: 'gray' });
    }
    expect((await put).status).toBe(200);
    // Parsing on the event loop answered none (the PUT held it); in the worker, ext_proc goes on.
    expect(answeredDuringPut).toBeGreaterThanOrEqual(10);
    expect(env.app.engine.current.rules.inbound.size).toBe(101);
  } finally {
    client.close();
    await env.app.stop();
  }
}, 120_000); // a worker starts, and a 1,000-rule document is parsed, on what may be a busy machine

/** Nice value of every thread of this process, by thread id (Linux: /proc/self/task). */
function threadNices(): Map<string, number> {
  const nices = new Map<string, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    nices.set(tid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])); // field 19, nice
  }
  return nices;
}

(process.platform === 'linux' ? test : test.skip)('on Linux the worker thread alone runs at a lower priority (nice 10): busy cores serve the event loop first', async () => {
  const before = threadNices();
  const checker = new RulesChecker();
  try {
    expect((await checker.check('rules: []\n', 'api')).ok).toBe(true);
    const main = before.get(String(process.pid))!;
    // Threads started since (the worker among them) and their nice values; a process already
    // nicer than WORKER_NICE keeps its value (only privilege lowers a nice value).
    const started = [...threadNices()].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
    expect(started).toContain(Math.max(WORKER_NICE, main));
    expect(threadNices().get(String(process.pid))).toBe(main); // the event loop's thread is untouched
  } finally {
    await checker.close();
  }
});
