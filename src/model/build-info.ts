import * as fs from 'node:fs';
import * as path from 'node:path';

/** metaroute's version, from the package.json two levels above this file (src/model/ or dist/model/). */
export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
