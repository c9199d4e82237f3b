import { parseArgs } from 'node:util';

/** One option of a command: parsed by node:util.parseArgs, described in --help. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in --help (`FILE`, `K=V`). */
  readonly value?: string;
  readonly help: string;
}

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Positional arguments as shown in --help (`FILE`); none when absent. */
  readonly positionals?: { readonly synopsis: string; readonly min: number; readonly max: number };
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Extra lines at the end of --help. */
  readonly notes?: string;
  run(values: OptionValues, positionals: string[]): Promise<number> | number;
}

export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

export const STDIO: CommandIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

/** Bad command-line use: printed with the command's usage, exit status 2. */
export class UsageError extends Error {}

/** A failure the user can act on (unknown service, unreachable server): printed alone, exit status 1. */
export class CommandError extends Error {}

export function helpText(command: Command): string {
  const synopsis = [`metaroute ${command.name}`, Object.keys(command.options).length ? '[options]' : '', command.positionals?.synopsis ?? ''].filter(Boolean).join(' ');
  const rows = Object.entries({ ...command.options, help: { type: 'boolean', short: 'h', help: 'show this help' } as OptionSpec }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(30)} ${o.help}${o.multiple ? ' (repeatable)' : ''}`;
  });
  return `usage: ${synopsis}\n\n${command.summary}\n\noptions:\n${rows.join('\n')}\n${command.notes ? `\n${command.notes}\n` : ''}`;
}

/** Parses `argv` strictly (unknown options and extra positionals are usage errors) and runs the command. */
export async function runCommand(command: Command, argv: readonly string[], io: CommandIo = STDIO): Promise<number> {
  let values: OptionValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: (command.positionals?.max ?? 0) > 0,
      strict: true,
    });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
    if (values.help) {
      io.out(helpText(command));
      return 0;
    }
    const { min = 0, max = 0, synopsis = '' } = command.positionals ?? {};
    if (positionals.length < min) throw new UsageError(`missing ${synopsis}`);
    if (positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])}`);
    return await command.run(values, positionals);
  } catch (error) {
    const e = error as Error & { code?: string };
    if (error instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS_')) {
      io.err(`metaroute ${command.name}: ${e.message}\n\n${helpText(command)}`);
      return 2;
    }
    if (error instanceof CommandError) {
      io.err(`metaroute ${command.name}: ${e.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** The last value of a string option. */
export function text(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  const last = Array.isArray(value) ? value.at(-1) : value;
  return typeof last === 'string' ? last : undefined;
}

/** Every value of a repeatable string option. */
export function texts(values: OptionValues, name: string): string[] {
  const value = values[name];
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((v): v is string => typeof v === 'string');
}

/** `k=v` into [k, v]; a key may start with ':' (`:authority=shop`). */
export function keyValue(pair: string, what: string): [string, string] {
  const eq = pair.indexOf('=', pair.startsWith(':') ? 1 : 0);
  if (eq <= 0) throw new UsageError(`${what} must be key=value, got ${JSON.stringify(pair)}`);
  return [pair.slice(0, eq), pair.slice(eq + 1)];
}

/** `k=v` pairs into an object; a key given twice is refused (which one was meant?). */
export function keyValues(pairs: readonly string[], what: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) addKeyValue(result, keyValue(pair, what), what);
  return result;
}

/** Adds one `k=v` pair to `into`, refusing a key it already has. */
export function addKeyValue(into: Record<string, string>, [key, value]: [string, string], what: string): void {
  if (Object.hasOwn(into, key)) throw new UsageError(`${what} ${key} given twice`);
  into[key] = value;
}
