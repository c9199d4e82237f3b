import * as fs from 'node:fs';
import { Agent } from '../agent/agent';
import { agentLogLevel, type AgentLog } from '../agent/agent-log';
import { BatchAgent, type BatchAgentOptions } from '../agent/batch-agent';
import { keyList, loadedLine, loadStaticMetadata, MetadataError, MetadataSourceError, type StaticMetadata } from '../agent/metadata';
import { createLogger, LOG_LEVELS } from '../log/logger';
import { DEFAULT_NAMESPACE } from '../model/instance';
import { sameInstanceCheck } from '../registry/batch-input';
import { parseInstance, sameAddressCheck } from '../registry/instance-input';
import { ADMIN_HELP, ADMIN_TLS_OPTIONS, adminTls, defaultAdminUrl } from './admin-client';
import { CommandError, keyValues, runCommand, STDIO, text, texts, UsageError, type Command, type CommandIo, type OptionValues } from './command';

/** The process around the agent, replaceable so tests drive the real CLI in process. */
export interface AgentCliDeps {
  readonly env: NodeJS.ProcessEnv;
  log: AgentLog;
  onSignal(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  exit(code: number): void;
}

/** The real process: JSON log lines on stderr at METAROUTE_LOG_LEVEL (info when unset or not a level). */
const processDeps = (): AgentCliDeps => {
  const level = LOG_LEVELS.find((l) => l === process.env.METAROUTE_LOG_LEVEL) ?? 'info';
  const logger = createLogger(level).child({ component: 'agent' });
  return {
    env: process.env,
    log: (event, message) => logger[agentLogLevel(event)]({ event }, message),
    onSignal: (signal, handler) => process.once(signal, handler),
    // Lines still being written when the process exits could land after the ones pino's exit hook writes at once.
    exit: (code) => logger.flush(() => process.exit(code)),
  };
};

const OPTIONS = {
  file: { type: 'string', value: 'FILE', help: 'keep every instance of a JSON list registered, by batch, with batched heartbeats (with --admin, --ttl, --token, --client-cert)' },
  admin: { type: 'string', value: 'URL', help: ADMIN_HELP },
  service: { type: 'string', value: 'NAME', help: 'service to register (required)' },
  namespace: { type: 'string', value: 'NS', help: `namespace (default ${DEFAULT_NAMESPACE})` },
  host: { type: 'string', value: 'IP', help: "this instance's IP address (required)" },
  port: { type: 'string', value: 'N', help: "this instance's port (required)" },
  id: { type: 'string', value: 'ID', help: 'instance id (default host:port)' },
  weight: { type: 'string', value: 'N', help: 'load-balancing weight' },
  ttl: { type: 'string', value: 'SECONDS', help: 'dropped this long after the last heartbeat (default 15, at least 1)' },
  label: { type: 'string', multiple: true, value: 'K=V', help: 'a metadata label' },
  'metadata-file': { type: 'string', value: 'FILE', help: 'labels from a file (k=v lines, or JSON)' },
  provider: { type: 'string', value: 'NAME', help: 'labels from a provider (docs/AGENT.md)' },
  transitive: { type: 'string', multiple: true, value: 'K,K', help: "metadata keys to mark transitive (whole call chain), added to the environment's list" },
  token: { type: 'string', value: 'TOKEN', help: 'registration token (shows in ps; prefer --token-file or METAROUTE_TOKEN)' },
  'token-file': { type: 'string', value: 'FILE', help: 'registration token from a file (a mounted secret)' },
  ...ADMIN_TLS_OPTIONS,
} as const;

/**
 * `metaroute agent`: registers the instance it runs beside, keeps it alive, and
 * deregisters it on SIGTERM/SIGINT (then exits 0). Resolves once registered; the
 * heartbeat timer keeps the process running.
 */
export function agentCommand(deps?: AgentCliDeps): Command {
  return {
    name: 'agent',
    summary: 'Register the instance this runs beside, heartbeat every ttl/3, and deregister it on SIGTERM/SIGINT.',
    options: OPTIONS,
    notes: 'Options and metadata sources: docs/AGENT.md.',
    run: (values) => runAgent(values, deps ?? processDeps()),
  };
}

/** Runs `metaroute agent ARGS` in process (tests). */
export function runAgentArgs(argv: string[], deps: AgentCliDeps, io: CommandIo = STDIO): Promise<number> {
  return runCommand(agentCommand(deps), argv, io);
}

async function runAgent(values: OptionValues, deps: AgentCliDeps): Promise<number> {
  const file = text(values, 'file');
  if (file !== undefined) {
    const ttl = Number(text(values, 'ttl') ?? 15);
    if (!Number.isFinite(ttl)) throw new UsageError(`--ttl must be a number, got ${text(values, 'ttl')}`);
    return runBatchAgent(file, { admin: text(values, 'admin') ?? defaultAdminUrl(deps.env), ttlSeconds: ttl, token: token(values, deps.env), tls: adminTls(values, deps.env) }, deps);
  }
  const required = (name: string) => {
    const value = text(values, name);
    if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
    return value;
  };
  const number = (name: string, fallback?: number) => {
    const given = text(values, name);
    if (given === undefined) return fallback;
    const value = Number(given);
    if (given.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got ${given}`);
    return value;
  };

  const service = required('service');
  const host = required('host');
  const port = number('port');
  if (port === undefined) throw new UsageError('--port is required');
  const ttlSeconds = number('ttl', 15)!;
  const metadata = await staticMetadata(values, deps.env);
  const registration = {
    service,
    namespace: text(values, 'namespace') ?? DEFAULT_NAMESPACE,
    host,
    port,
    id: text(values, 'id'),
    weight: number('weight'),
    metadata: metadata.metadata,
  };
  // Checked here with the server's own rules, so a bad flag fails before any network call.
  const parsed = parseInstance({ ...registration, ephemeral: true, ttlSeconds }, { ttlSeconds });
  if (!parsed.ok) throw new UsageError(`invalid registration: ${parsed.errors.join('; ')}`);
  deps.log('agent.metadata', loadedLine(metadata.metadata));

  const agent = new Agent({ admin: text(values, 'admin') ?? defaultAdminUrl(deps.env), registration, ttlSeconds, token: token(values, deps.env), tls: adminTls(values, deps.env), log: deps.log });
  return runUntilSignal(agent, deps);
}

/** The metadata the flags and the environment give: bad metadata is a usage error naming it, as a bad flag is; a source that fails to read or run exits 1. */
async function staticMetadata(values: OptionValues, env: NodeJS.ProcessEnv): Promise<StaticMetadata> {
  try {
    return await loadStaticMetadata({
      config: keyValues(texts(values, 'label'), '--label'),
      transitive: texts(values, 'transitive').flatMap(keyList),
      file: text(values, 'metadata-file'),
      provider: text(values, 'provider'),
      env,
    });
  } catch (error) {
    if (error instanceof MetadataSourceError) throw new CommandError(error.message);
    throw error instanceof MetadataError ? new UsageError(error.message) : error;
  }
}

/**
 * `metaroute agent --file instances.json`: keeps every instance of the file (a JSON list of
 * registrations, as POST /v1/instances takes them) registered, with batched heartbeats.
 */
async function runBatchAgent(file: string, options: Omit<BatchAgentOptions, 'instances' | 'log'>, deps: AgentCliDeps): Promise<number> {
  const { ttlSeconds } = options;
  // A batch refuses an instance or an address twice: checked here across the whole file, since the
  // server sees it 2,000 entries a call and would name the entry by its index in the call.
  const sameInstance = sameInstanceCheck();
  const sameAddress = sameAddressCheck();
  const instances = readInstanceList(file).map((entry, i) => {
    // Checked here with the server's own rules, so a bad entry fails before any network call.
    const at = `${file}[${i}]`;
    const parsed = parseInstance({ ...(entry as object), ephemeral: true, ttlSeconds }, { ttlSeconds }, at);
    if (!parsed.ok) throw new CommandError(`invalid registration: ${parsed.errors.join('; ')}`);
    const twice = sameInstance(parsed.instance, at) ?? sameAddress(parsed.instance, at);
    if (twice) throw new CommandError(`invalid registration: ${twice}`);
    return parsed.instance;
  });
  const agent = new BatchAgent({ ...options, instances, log: deps.log });
  return runUntilSignal(agent, deps);
}

/** The JSON list `--file` names; one that cannot be read or parsed fails as a bad entry does, naming the file. */
function readInstanceList(file: string): unknown[] {
  const attempt = <T>(what: string, step: () => T): T => {
    try {
      return step();
    } catch (error) {
      throw new CommandError(`${what}: ${(error as Error).message}`);
    }
  };
  const json = attempt(`cannot read --file ${file}`, () => fs.readFileSync(file, 'utf8'));
  const list = attempt(`${file}: not JSON`, () => JSON.parse(json) as unknown);
  if (!Array.isArray(list)) throw new CommandError(`${file}: must be a JSON list of instances`);
  return list;
}

/** Runs an agent until SIGTERM or SIGINT, which deregister before the process exits. */
async function runUntilSignal(agent: { start(): Promise<void>; stop(): Promise<void> }, deps: AgentCliDeps): Promise<number> {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.log('agent.stopping', `${signal}: deregistering`);
    void agent.stop().then(() => deps.exit(0));
  };
  deps.onSignal('SIGTERM', () => shutdown('SIGTERM'));
  deps.onSignal('SIGINT', () => shutdown('SIGINT'));
  try {
    await agent.start();
  } catch (error) {
    if (stopping) return 0;
    deps.log('agent.failed', `giving up: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

/** `--token`, else `--token-file` (a mounted secret), else METAROUTE_TOKEN; a flag's value shows in `ps`, the others do not. */
function token(values: OptionValues, env: NodeJS.ProcessEnv): string | undefined {
  const flag = text(values, 'token');
  const file = text(values, 'token-file');
  if (flag !== undefined && file !== undefined) throw new UsageError('give --token or --token-file, not both');
  if (file !== undefined) {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new CommandError(`cannot read --token-file: ${(error as Error).message}`);
    }
  }
  return flag ?? (env.METAROUTE_TOKEN || undefined);
}
