import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(file) : file.endsWith('.ts') ? [file] : [];
  });
}

test("every log event the server and the agent write is in README's log table", () => {
  const written = new Set<string>();
  for (const file of sources(path.join(ROOT, 'src'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(/event: '([a-z.-]+)'/g)) written.add(match[1]!); // names may hold '-' (extproc.warm-up)
    for (const match of text.matchAll(/log\('(agent\.[a-z.-]+)'/g)) written.add(match[1]!);
  }
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| event | level | fields |'), readme.indexOf('Nothing is logged per routed request'));
  expect(written.size).toBeGreaterThan(40);
  expect([...written].filter((event) => !table.includes(`\`${event}\``)).sort()).toEqual([]);
});
