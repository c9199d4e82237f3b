import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * docs/ARCHITECTURE.md lists src/'s folders so that dependencies point down the list: a folder
 * imports only the folders listed before it (folders on one bullet are one layer).
 */
const ROOT = path.join(__dirname, '../..');
const SRC = path.join(ROOT, 'src');

function layersFromDoc(): Map<string, number> {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Modules (`src/`)'), doc.indexOf('\n## ', doc.indexOf('## Modules (`src/`)') + 1));
  const layers = new Map<string, number>();
  let layer = 0;
  for (const line of section.split('\n')) {
    const bullet = /^- ((?:`[a-z-]+\/`(?:, )?)+):/.exec(line);
    if (!bullet) continue;
    for (const [, folder] of bullet[1]!.matchAll(/`([a-z-]+)\/`/g)) layers.set(folder!, layer);
    layer++;
  }
  return layers;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

const folderOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

test('every src/ folder is in docs/ARCHITECTURE.md, and imports only folders listed above its own', () => {
  const layers = layersFromDoc();
  const folders = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  expect(folders.filter((f) => !layers.has(f))).toEqual([]);

  const upward: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const [, specifier] of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = folderOf(path.resolve(path.dirname(file), specifier!));
      if (to !== from && layers.has(to) && layers.get(to)! > layers.get(from)!) upward.push(`${path.relative(ROOT, file)} imports ${to}/`);
    }
  }
  expect(upward).toEqual([]);
});
