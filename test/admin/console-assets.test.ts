import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConsoleAssets } from '../../src/admin/console-assets';
import { HttpError } from '../../src/admin/http';

describe('ConsoleAssets (the built console under /ui/)', () => {
  it('serves index.html at /ui/ and the hashed assets as immutable, each with its type; anything else is a 404', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-console-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>metaroute console</title>');
    fs.writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dir, 'assets', 'index-abc123.css'), 'body{}');
    const assets = new ConsoleAssets(dir);
    expect(await assets.get('/ui/')).toMatchObject({ type: 'text/html; charset=utf-8', immutable: false, body: Buffer.from('<!doctype html><title>metaroute console</title>') });
    expect(await assets.get('/ui/assets/index-abc123.js')).toMatchObject({ type: 'text/javascript; charset=utf-8', immutable: true });
    expect(await assets.get('/ui/assets/index-abc123.css')).toMatchObject({ type: 'text/css; charset=utf-8', immutable: true });
    await expect(assets.get('/ui/assets/other.js')).rejects.toMatchObject({ status: 404 });
    await expect(assets.get('/ui/../package.json')).rejects.toMatchObject({ status: 404 });
  });

  it('answers 404 naming npm run build while the console is not built, and serves it once it is', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-console-')), 'console');
    const assets = new ConsoleAssets(dir);
    const missing = await assets.get('/ui/').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HttpError);
    expect(missing).toMatchObject({ status: 404, message: expect.stringContaining('run npm run build') });
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'index.html'), 'built');
    expect((await assets.get('/ui/')).body.toString()).toBe('built');
  });
});
