import * as fs from 'node:fs';
import { Agent } from '../agent/agent';
import { BatchAgent } from '../agent/batch-agent';
import { keyList, loadedLine, loadStaticMetadata } from '../agent/metadata';
import { DEFAULT_NAMESPACE } from '../model/instance';
import { parseInstance } from '../registry/instance-input';
import { defaultAdminUrl, keyValues, parseArgs } from './args';

/** The process around the agent, replaceable so tests drive the real CLI in process. */
export interface AgentCliDeps {
  readonly env: NodeJS.ProcessEnv;
  log(line: string): void;
  onSignal(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  exit(code: number): void;
}

const processDeps: AgentCliDeps = {
  env: process.env,
  log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  onSignal: (signal, handler) => process.once(signal, handler),
  exit: (code) => process.exit(code),
};

const FLAGS = ['file', 'admin', 'service', 'namespace', 'host', 'port', 'id', 'weight', 'ttl', 'label', 'metadata-file', 'provider', 'transitive', 'token', 'token-file'];

/**
 * `metaroute agent`: registers the instance it runs beside, keeps it alive, and
 * deregisters it on SIGTERM/SIGINT (then exits 0). Resolves once registered; the
 * heartbeat timer keeps the process running.
 */
export async function runAgent(argv: string[], deps: AgentCliDeps = processDeps): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  const last = (name: string) => args.flags.get(name)?.at(-1);
  const required = (name: string) => {
    const value = last(name);
    if (value === undefined || value === '') throw new Error(`--${name} is required`);
    return value;
  };
  const number = (name: string, fallback?: number) => {
    const text = last(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new Error(`--${name} must be a number, got ${text}`);
    return value;
  };

  const file = last('file');
  if (file !== undefined) return runBatchAgent(file, last('admin'), number('ttl', 15)!, token(last, deps.env), deps);

  const service = required('service');
  const host = required('host');
  const port = number('port');
  if (port === undefined) throw new Error('--port is required');
  const ttlSeconds = number('ttl', 15)!;
  const metadata = await loadStaticMetadata({
    config: keyValues(args.flags.get('label'), '--label'),
    transitive: (args.flags.get('transitive') ?? []).flatMap(keyList),
    file: last('metadata-file'),
    provider: last('provider'),
    env: deps.env,
  });
  const registration = {
    service,
    namespace: last('namespace') ?? DEFAULT_NAMESPACE,
    host,
    port,
    id: last('id'),
    weight: number('weight'),
    metadata: metadata.metadata,
  };
  // Checked here with the server's own rules, so a bad flag fails before any network call.
  const parsed = parseInstance({ ...registration, ephemeral: true, ttlSeconds }, { ttlSeconds });
  if (!parsed.ok) throw new Error(`invalid registration: ${parsed.errors.join('; ')}`);
  deps.log(loadedLine(metadata.metadata));

  const agent = new Agent({ admin: last('admin') ?? defaultAdminUrl(deps.env), registration, ttlSeconds, token: token(last, deps.env), log: deps.log });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.log(`${signal}: deregistering`);
    void agent.stop().then(() => deps.exit(0));
  };
  deps.onSignal('SIGTERM', () => shutdown('SIGTERM'));
  deps.onSignal('SIGINT', () => shutdown('SIGINT'));
  try {
    await agent.start();
  } catch (error) {
    if (stopping) return 0;
    deps.log(`giving up: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

/**
 * `metaroute agent --file instances.json`: keeps every instance of the file (a JSON list of
 * registrations, as POST /v1/instances takes them) registered, with batched heartbeats.
 */
async function runBatchAgent(file: string, admin: string | undefined, ttlSeconds: number, tokenValue: string | undefined, deps: AgentCliDeps): Promise<number> {
  const list = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(list)) throw new Error(`${file}: must be a JSON list of instances`);
  const instances = list.map((entry, i) => {
    // Checked here with the server's own rules, so a bad entry fails before any network call.
    const parsed = parseInstance({ ...(entry as object), ephemeral: true, ttlSeconds }, { ttlSeconds }, `${file}[${i}]`);
    if (!parsed.ok) throw new Error(`invalid registration: ${parsed.errors.join('; ')}`);
    return parsed.instance;
  });
  const agent = new BatchAgent({ admin: admin ?? 'http://127.0.0.1:18090', instances, ttlSeconds, token: tokenValue, log: deps.log });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.log(`${signal}: deregistering`);
    void agent.stop().then(() => deps.exit(0));
  };
  deps.onSignal('SIGTERM', () => shutdown('SIGTERM'));
  deps.onSignal('SIGINT', () => shutdown('SIGINT'));
  try {
    await agent.start();
  } catch (error) {
    if (stopping) return 0;
    deps.log(`giving up: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

/** `--token`, else `--token-file` (a mounted secret), else METAROUTE_TOKEN; a flag's value shows in `ps`, the others do not. */
function token(last: (name: string) => string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const flag = last('token');
  const file = last('token-file');
  if (flag !== undefined && file !== undefined) throw new Error('give --token or --token-file, not both');
  if (file !== undefined) return fs.readFileSync(file, 'utf8').trim();
  return flag ?? (env.METAROUTE_TOKEN || undefined);
}
