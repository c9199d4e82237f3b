import * as fs from 'node:fs';
import * as path from 'node:path';
import { LABEL_KEY, MAX_LABELS } from '../model/instance';

/** `METAROUTE_METADATA_CONTENT_<KEY>=value` becomes metadata `<key>` (lower-cased, `_` kept). */
export const ENV_PREFIX = 'METAROUTE_METADATA_CONTENT_';
/** Spring Cloud Tencent's spelling of the same, read too; METAROUTE_ wins when both set a key. */
export const SCT_ENV_PREFIX = 'SCT_METADATA_CONTENT_';
/** Comma list of metadata keys that are transitive; not itself a metadata key. */
export const ENV_TRANSITIVE = `${ENV_PREFIX}TRANSITIVE`;
export const SCT_ENV_TRANSITIVE = `${SCT_ENV_PREFIX}TRANSITIVE`;
/** The instance metadata key that publishes the transitive key list. */
export const TRANSITIVE_KEY = 'metaroute.transitive';
export const LOADED_PREFIX = 'Loaded static metadata info: ';


export class MetadataError extends Error {}
/** A source that could not be read or run (a file, a provider): not a bad flag, the agent's own failure. */
export class MetadataSourceError extends MetadataError {}

export type Metadata = Record<string, string>;

/** The four sources, lowest precedence first. */
export interface MetadataLayers {
  readonly config: Metadata;
  readonly file: Metadata;
  readonly env: Metadata;
  readonly provider: Metadata;
}

export interface StaticMetadata {
  /** What the instance registers with, `metaroute.transitive` included when any key is transitive. */
  readonly metadata: Metadata;
  readonly transitive: readonly string[];
}

/**
 * Merges the layers (provider > environment > file > config) and publishes the transitive
 * keys as `metaroute.transitive`. A transitive key that no layer sets is an error: a typo
 * there would otherwise silently stop a value from travelling the call chain.
 */
export function mergeMetadata(layers: MetadataLayers, transitive: readonly string[]): StaticMetadata {
  const merged: Metadata = { ...layers.config, ...layers.file, ...layers.env, ...layers.provider };
  const keys = [...new Set(transitive)];
  const missing = keys.filter((k) => merged[k] === undefined);
  if (missing.length) throw new MetadataError(`transitive keys without a value: ${missing.join(', ')} (no --label, --metadata-file, ${ENV_PREFIX}<KEY> or ${SCT_ENV_PREFIX}<KEY> variable, or --provider sets them)`);
  if (keys.length) merged[TRANSITIVE_KEY] = keys.join(',');
  const count = Object.keys(merged).length;
  if (count > MAX_LABELS) throw new MetadataError(`${count} metadata keys${keys.length ? ` (${TRANSITIVE_KEY} included)` : ''}, at most ${MAX_LABELS}: the server refuses more`);
  const sorted: Metadata = {};
  for (const key of Object.keys(merged).sort()) sorted[key] = merged[key]!;
  return { metadata: sorted, transitive: keys };
}

export interface MetadataSources {
  /** `--label k=v` pairs: the lowest layer. */
  readonly config: Metadata;
  /** Transitive keys named on the command line, added to the environment's list. */
  readonly transitive: readonly string[];
  readonly file?: string;
  readonly provider?: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Reads every configured source and merges them. */
export async function loadStaticMetadata(sources: MetadataSources): Promise<StaticMetadata> {
  for (const key of Object.keys(sources.config)) checkKey(key, '--label');
  const env = metadataFromEnv(sources.env);
  const layers: MetadataLayers = {
    config: sources.config,
    file: sources.file ? readMetadataFile(sources.file) : {},
    env: env.metadata,
    provider: sources.provider ? await metadataFromProvider(sources.provider) : {},
  };
  return mergeMetadata(layers, [...sources.transitive, ...env.transitive]);
}

/** The one line operators grep for to check an instance's tags. */
export function loadedLine(metadata: Metadata): string {
  return `${LOADED_PREFIX}${JSON.stringify(metadata)}`;
}

export function metadataFromEnv(env: NodeJS.ProcessEnv): { metadata: Metadata; transitive: string[] } {
  const metadata: Metadata = {};
  // SCT's spelling first, so METAROUTE_'s overwrites a key both set.
  for (const [prefix, transitiveName] of [[SCT_ENV_PREFIX, SCT_ENV_TRANSITIVE], [ENV_PREFIX, ENV_TRANSITIVE]] as const) {
    for (const [name, value] of Object.entries(env)) {
      if (!name.startsWith(prefix) || name === transitiveName || value === undefined) continue;
      metadata[checkKey(name.slice(prefix.length).toLowerCase(), `environment variable ${name}`)] = value;
    }
  }
  // Lower-cased like the environment keys they usually name.
  const transitive = [...keyList(env[SCT_ENV_TRANSITIVE] ?? ''), ...keyList(env[ENV_TRANSITIVE] ?? '')].map((k) => k.toLowerCase());
  return { metadata, transitive: [...new Set(transitive)] };
}

/** `a, b,c` into keys. */
export function keyList(text: string): string[] {
  return text
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
}

function readMetadataFile(file: string): Metadata {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new MetadataSourceError(`cannot read --metadata-file ${file}: ${(error as Error).message}`);
  }
  return parseMetadataFile(text, file);
}

/** `key=value` lines; `#` starts a comment line; blank lines are skipped. Errors name file:line. */
export function parseMetadataFile(text: string, file: string): Metadata {
  const metadata: Metadata = {};
  const firstLine = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const at = `${file}:${i + 1}`;
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new MetadataError(`${at}: expected key=value, got ${JSON.stringify(line)}`);
    const key = checkKey(line.slice(0, eq).trim(), at);
    if (firstLine.has(key)) throw new MetadataError(`${at}: duplicate key ${key} (first set on line ${firstLine.get(key)})`);
    firstLine.set(key, i + 1);
    metadata[key] = line.slice(eq + 1).trim();
  });
  return metadata;
}

/** A CommonJS module exporting `getMetadata(): Record<string, string> | Promise<...>` (or as `default.getMetadata`). */
export async function metadataFromProvider(modulePath: string): Promise<Metadata> {
  const resolved = path.resolve(modulePath);
  const at = `provider ${modulePath}`;
  const mod = await providerCall(at, 'cannot load it', () => require(resolved) as { getMetadata?: unknown; default?: { getMetadata?: unknown } });
  const getMetadata = mod.getMetadata ?? mod.default?.getMetadata;
  if (typeof getMetadata !== 'function') throw new MetadataError(`${at}: must export a getMetadata() function`);
  const value = await providerCall(at, 'getMetadata() failed', () => (getMetadata as () => unknown)());
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new MetadataError(`${at}: getMetadata() must return an object of strings`);
  const metadata: Metadata = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new MetadataError(`${at}: value of ${key} must be a string, got ${typeof v}`);
    metadata[checkKey(key, at)] = v;
  }
  return metadata;
}

/** The provider's own failure as a MetadataError: its first line (require appends its stack), no trace. */
async function providerCall<T>(at: string, what: string, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new MetadataSourceError(`${at}: ${what}: ${String((error as Error | null)?.message ?? error).split('\n', 1)[0]}`);
  }
}

function checkKey(key: string, at: string): string {
  if (!LABEL_KEY.test(key)) throw new MetadataError(`${at}: invalid metadata key ${JSON.stringify(key)} (letters, digits, '_', '.', '/', '-'; starting with a letter or digit)`);
  return key;
}
