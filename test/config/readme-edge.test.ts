import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/config';
import type { EdgeGuardConfig } from '../../src/context/identity';
import { api, startApp } from '../support/app';

/** The YAML blocks of README's "Client headers at the edge, and identity", each loaded as a configuration file. */
function readmeConfigs(): ReturnType<typeof loadConfig>[] {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### Client headers at the edge, and identity');
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-readme-edge-'));
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((block, i) => {
    const file = path.join(dir, `${i}.yaml`);
    fs.writeFileSync(file, block[1]!);
    return loadConfig(file, {});
  });
}

test("README's edge example keeps lanes internal: a client's lane header is stripped at the edge, kept on a sidecar's call", async () => {
  const [edgeExample, jwtExample] = readmeConfigs();
  expect(jwtExample!.extProc.identity.jwt).toEqual({ header: 'authorization', issuer: 'https://auth.example', audience: 'shop', jwks: undefined, secretEnv: 'METAROUTE_JWT_SECRET' });

  const lane = async (edge: EdgeGuardConfig, side: string) => {
    const env = await startApp({ routers: [{ name: 'lane', module: undefined, config: { enabled: true } }], extProc: { ...edgeExample!.extProc, edge, warmUpStreams: 0 } });
    try {
      for (const [port, metadata] of [[81, { env: 'dev1' }], [82, {}]] as const) {
        expect((await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, metadata, ephemeral: false })).status).toBe(200);
      }
      const { json } = await api(env.admin, 'POST', '/explain', { service: 'shop', side, caller: { service: 'web' }, headers: { 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1' } });
      return { labels: json.decision.labels, removed: json.headerMutation.remove };
    } finally {
      await env.app.stop();
    }
  };
  const lanesEnv = { labels: { env: 'dev1' }, removed: [] };
  expect(await lane(loadConfig(undefined, {}).extProc.edge, 'edge')).toEqual(lanesEnv); // the default guards x-metaroute-* only
  expect(await lane(edgeExample!.extProc.edge, 'edge')).toEqual({ labels: { env: '' }, removed: ['rpc-persist-env', 'x-sct-metadata-transitive-env'] });
  expect(await lane(edgeExample!.extProc.edge, 'outbound')).toEqual(lanesEnv);
});
