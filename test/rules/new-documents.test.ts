import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp } from '../support/app';

/** Names registration refuses can never match: a new rule document with one is refused; a stored one still loads. */

const NEVER_MATCHING = `
rules:
  - name: r
    service: "shop x"
    namespace: a.b
    sources: [{ service: "web app", namespace: "*" }]
    destinations: [{ name: d, labels: { v: "1" }, cluster: nope }]
metadataRoutes:
  - { service: aigc, namespace: x.y, keys: [user] }
`;

test('PUT /v1/rules and POST /v1/rules/check refuse service, namespace and cluster names registration refuses, each with its line', async () => {
  const env = await startApp();
  try {
    const put = await api(env.admin, 'PUT', '/v1/rules', NEVER_MATCHING);
    expect(put.status).toBe(400);
    const check = await api(env.admin, 'POST', '/v1/rules/check', NEVER_MATCHING);
    const errors = (check.json.errors as Array<{ path: string; line: number; message: string }>).map((e) => `${e.line} ${e.path}: ${e.message}`);
    expect(errors).toEqual([
      `4 rules[0].service: "shop x" can never match: registration takes letters, digits, '_', '.', '-' in a service name`,
      `5 rules[0].namespace: "a.b" can never match: registration takes letters, digits, '_', '-' in a namespace (no '.': <service>.<namespace> names the cluster)`,
      `6 rules[0].sources[0].service: "web app" can never match: registration takes letters, digits, '_', '.', '-' in a service name`,
      `7 rules[0].destinations[0].cluster: "nope" can never match: a cluster is <service>.<namespace> as registration takes them`,
      `9 metadataRoutes[0].namespace: "x.y" can never match: registration takes letters, digits, '_', '-' in a namespace (no '.': <service>.<namespace> names the cluster)`,
    ]);
    expect((await api(env.admin, 'GET', '/v1/rules')).json.version).toBe(0);
  } finally {
    await env.app.stop();
  }
});

test('a stored document with such names (written by an older metaroute) still loads at start', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-stored-rules-'));
  const store = await EmbeddedStore.open(dataDir);
  await store.put('rules', JSON.stringify({ text: NEVER_MATCHING, origin: 'api', version: 3 }));
  await store.close();
  const env = await startApp({ dataDir });
  try {
    const rules = await api(env.admin, 'GET', '/v1/rules');
    expect({ version: rules.json.version, text: rules.json.text }).toEqual({ version: 3, text: NEVER_MATCHING });
  } finally {
    await env.app.stop();
  }
});
