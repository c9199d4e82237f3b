/** Minimal flag parsing: `--name value` pairs (repeatable) and positional arguments. */
export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, readonly string[]>;
  readonly positional: readonly string[];
}

export function parseArgs(argv: readonly string[], known: readonly string[]): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!known.includes(name)) throw new Error(`unknown option --${name}`);
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new Error(`option --${name} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { flags, positional };
}

/** `k=v` pairs into an object; throws on an entry without '='. */
export function keyValues(pairs: readonly string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=', pair.startsWith(':') ? 1 : 0);
    if (eq <= 0) throw new Error(`${what} must be key=value, got ${pair}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** The admin API of a server on this machine: the same METAROUTE_HOST / METAROUTE_ADMIN_PORT `serve` reads. */
export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.METAROUTE_HOST || '127.0.0.1'}:${env.METAROUTE_ADMIN_PORT || '18090'}`;
}
