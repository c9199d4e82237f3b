import { existsSync } from 'node:fs';

/**
 * Suites that need a program npm cannot install (Envoy, etcd, Chromium). Outside CI a missing
 * program skips the suite with one line saying why and how to install it; under CI=true it is
 * a failure, never a skip.
 */
export interface Requirement {
  /** What is missing, for the message: "Envoy". */
  readonly what: string;
  /** The program's path, or undefined when it is not installed. */
  readonly path: string | undefined;
  /** The command that installs it. */
  readonly install: string;
}

export const IN_CI = process.env['CI'] === 'true' || process.env['CI'] === '1';

/** `describe` when the program is there; otherwise a skip (or, in CI, a failing test). */
export function describeWith(requirement: Requirement, name: string, body: () => void): void {
  if (requirement.path) {
    describe(name, body);
    return;
  }
  const reason = `${requirement.what} not found; install it with: ${requirement.install}`;
  if (IN_CI) {
    test(`${name} (requires ${requirement.what})`, () => {
      throw new Error(`CI=true: ${reason}`);
    });
    return;
  }
  process.stderr.write(`skipped "${name}": ${reason}\n`);
  describe.skip(name, body);
}

/** Debian's Chromium, driven by playwright-core through executablePath (the console's browser tests). */
export const CHROMIUM: Requirement = {
  what: 'Chromium',
  path: [process.env['CHROMIUM_BIN'], '/usr/bin/chromium'].find((p): p is string => !!p && existsSync(p)),
  install: 'apt-get install -y chromium (or set CHROMIUM_BIN)',
};

/** Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi (the console's Firefox check). */
export const FIREFOX: Requirement = {
  what: 'Firefox',
  path: [process.env['FIREFOX_BIN'], '/usr/bin/firefox-esr'].find((p): p is string => !!p && existsSync(p)),
  install: 'apt-get install -y firefox-esr (or set FIREFOX_BIN)',
};
