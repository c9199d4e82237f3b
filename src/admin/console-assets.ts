import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { HttpError } from './http';

/** Where `npm run build` puts the console (web/ built by Vite): beside the compiled server, `dist/console`. */
export const CONSOLE_DIR = path.resolve(__dirname, '../../dist/console');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Vite names assets by content hash: they never change under their name. */
  readonly immutable: boolean;
}

/**
 * The console's built files, read once on first use and served from memory. They hold no
 * data (every page reads the admin API, with the token when auth is on), so they are
 * served without a token: the browser cannot attach one to a page load, and the console
 * asks for it when the API answers 401.
 */
export class ConsoleAssets {
  private files: Promise<Map<string, Asset>> | undefined;

  constructor(private readonly dir: string = CONSOLE_DIR) {}

  /** The asset for a path under `/ui/`; `/ui/` itself is index.html. */
  async get(pathname: string): Promise<Asset> {
    const files = await (this.files ??= this.load().catch((error: Error) => {
      this.files = undefined; // not built yet: try again on the next request
      throw error;
    }));
    const name = pathname === '/ui/' ? 'index.html' : pathname.slice('/ui/'.length);
    const asset = files.get(name);
    if (!asset) throw new HttpError(404, `no console file ${JSON.stringify(name)}`);
    return asset;
  }

  private async load(): Promise<Map<string, Asset>> {
    const files = new Map<string, Asset>();
    let names: string[];
    try {
      names = (await fs.readdir(this.dir, { recursive: true })) as string[];
    } catch {
      throw new HttpError(404, `the console is not built (no ${this.dir}): run npm run build`);
    }
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (!(await fs.stat(file)).isFile()) continue;
      const urlName = name.split(path.sep).join('/');
      files.set(urlName, { body: await fs.readFile(file), type: TYPES[path.extname(name)] ?? 'application/octet-stream', immutable: urlName.startsWith('assets/') });
    }
    return files;
  }
}
