import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { api, type startApp } from '../support/app';

/** Rules of the console tests: `x-canary: gray` goes to version v2, everything else to v1. */
export const RULES = `rules:
  - name: canary-header
    service: shop
    sources:
      - arguments:
          - type: header
            key: x-canary
            match: { type: EXACT, value: gray }
    destinations:
      - name: canary
        labels: { version: v2 }
  - name: everyone
    service: shop
    destinations:
      - name: stable
        labels: { version: v1 }
`;
export const GRAY = { ':method': 'GET', ':path': '/cart', ':authority': 'shop.default', 'x-canary': 'gray' };
export const PLAIN = { ':method': 'GET', ':path': '/cart', ':authority': 'shop.default' };

const ROOT = path.resolve(__dirname, '../..');

/** Builds the console from this checkout's web/ unless dist/console is newer than every source (the tests check what these sources make). */
export function buildConsole(): void {
  const built = path.join(ROOT, 'dist/console/index.html');
  const newest = (dir: string): number => Math.max(...fs.readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs)));
  const sources = Math.max(newest(path.join(ROOT, 'web')), fs.statSync(path.join(ROOT, 'package-lock.json')).mtimeMs);
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs > sources) return;
  execFileSync('npm', ['run', '--silent', 'build:console'], { cwd: ROOT, stdio: 'pipe' });
}

/** shop: 4 instances (v1, v2; one unhealthy, two persistent); catalog: 120; and RULES. */
export async function seed(env: Awaited<ReturnType<typeof startApp>>): Promise<void> {
  const shop = [
    { id: 'shop-v1-a', host: '10.0.1.1', port: 8080, metadata: { version: 'v1' }, locality: { region: 'eu', zone: 'eu-a' }, ephemeral: true },
    { id: 'shop-v1-b', host: '10.0.1.2', port: 8080, metadata: { version: 'v1' }, locality: { region: 'eu', zone: 'eu-b' }, weight: 50, ephemeral: false },
    { id: 'shop-v2-a', host: '10.0.2.1', port: 8080, metadata: { version: 'v2' }, locality: { region: 'eu', zone: 'eu-a' }, ephemeral: true },
    { id: 'shop-v2-b', host: '10.0.2.2', port: 8080, metadata: { version: 'v2' }, locality: { region: 'eu', zone: 'eu-b' }, healthy: false, ephemeral: false },
  ].map((i) => ({ service: 'shop', ...i }));
  const catalog = Array.from({ length: 120 }, (_, i) => ({ service: 'catalog', host: `10.1.${i >> 8}.${i & 255}`, port: 9000, metadata: { shard: String(i % 4) } }));
  const registered = await api(env.admin, 'POST', '/v1/instances/batch', { register: [...shop, ...catalog] });
  if (registered.status !== 200) throw new Error(`registration failed: ${registered.text}`);
  const rules = await api(env.admin, 'PUT', '/v1/rules', RULES);
  if (rules.status !== 200) throw new Error(`rules refused: ${rules.text}`);
}
