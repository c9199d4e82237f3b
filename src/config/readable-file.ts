import * as fs from 'node:fs';

/** A file the server reads at start (a certificate, the rules): one it cannot read is a configuration problem, named by its field. */
export function checkReadableFile(file: string, field: string, problems: string[]): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    if (!fs.statSync(file).isFile()) problems.push(`${field}: ${file} is not a file`);
  } catch (error) {
    problems.push(`${field}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
