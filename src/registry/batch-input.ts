import { DEFAULT_NAMESPACE, INSTANCE_ID, type Instance, type InstanceRef } from '../model/instance';
import { yieldTurn } from '../model/slices';
import { invalidField, parseInstance, sameAddressCheck, type InstanceDefaults } from './instance-input';

/** Entries of one batch call: beyond it, split the batch (the agent and CLI do). */
export const MAX_BATCH_ENTRIES = 10_000;
/**
 * Entries validated per event-loop turn, so a large batch never stalls ext_proc answers. The
 * first turn is the body's own: it already held the loop for JSON.parse (about 1 ms per 1,000
 * registrations), so validation starts in the next one.
 */
const VALIDATE_PER_TURN = 500;
/** Errors after which validation stops: a batch of thousands of bad entries made tens of thousands (20-40 ms a turn). */
const MAX_ERRORS = 100;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$/;

export interface Batch {
  readonly register: Instance[];
  readonly deregister: InstanceRef[];
}

export type BatchParse = { ok: true; batch: Batch } | { ok: false; errors: string[] };

/**
 * Validates a batch `{register: [instance...], deregister: [{namespace?, service, id}...]}`
 * as a whole: any bad entry refuses all of it, each error naming its index and field
 * (`register[3].port`). An instance may appear only once in a batch, and an address once per service.
 */
export async function parseBatch(input: unknown, defaults: InstanceDefaults): Promise<BatchParse> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { ok: false, errors: ['body: must be an object with register and/or deregister lists'] };
  const o = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(o)) if (key !== 'register' && key !== 'deregister') errors.push(`${key}: unknown field (register, deregister)`);
  const lists = { register: o.register ?? [], deregister: o.deregister ?? [] };
  for (const [name, list] of Object.entries(lists)) if (!Array.isArray(list)) errors.push(`${name}: must be a list`);
  if (errors.length) return { ok: false, errors };
  const register = lists.register as unknown[];
  const deregister = lists.deregister as unknown[];
  if (register.length + deregister.length > MAX_BATCH_ENTRIES) {
    return { ok: false, errors: [`body: ${register.length + deregister.length} entries, at most ${MAX_BATCH_ENTRIES} per batch`] };
  }
  const batch: Batch = { register: [], deregister: [] };
  const sameInstance = sameInstanceCheck();
  const once = (ref: InstanceRef, at: string) => {
    const twice = sameInstance(ref, at);
    if (twice) errors.push(twice);
  };
  const sameAddress = sameAddressCheck();
  for (let i = 0; i < register.length; i++) {
    if (i % VALIDATE_PER_TURN === 0) await yieldTurn();
    const at = `register[${i}]`;
    if (tooMany(errors, at)) return { ok: false, errors };
    const parsed = parseInstance(register[i], defaults, at);
    if (!parsed.ok) errors.push(...parsed.errors);
    else {
      once(parsed.instance, at);
      const taken = sameAddress(parsed.instance, at);
      if (taken) errors.push(taken);
      batch.register.push(parsed.instance);
    }
  }
  const refs = await parseRefs(deregister, 'deregister', errors);
  refs.forEach((ref, i) => {
    if (ref) {
      once(ref, `deregister[${i}]`);
      batch.deregister.push(ref);
    }
  });
  return errors.length ? { ok: false, errors } : { ok: true, batch };
}

/**
 * The list of a `POST /v1/heartbeats` body, `{instances: [{namespace?, service, id}...]}`, or what
 * is wrong with its shape. A top-level field other than `instances` is refused by name, as in every
 * other body: `{"instances": [], "ttl": 5}` was answered 200 with the field unread, and an agent's
 * misspelt `{"instance": [...]}` met only `instances: must be a list`, which hides the typo.
 */
export function heartbeatsList(input: unknown): { ok: true; list: unknown[] } | { ok: false; errors: string[] } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { ok: false, errors: ['body: must be an object {"instances": [...]}'] };
  const o = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(o)) if (key !== 'instances') errors.push(`${key}: unknown field (instances)`);
  if (o.instances === undefined) errors.push('instances: required, a list of {namespace, service, id}');
  else if (!Array.isArray(o.instances)) errors.push('instances: must be a list');
  return errors.length ? { ok: false, errors } : { ok: true, list: o.instances as unknown[] };
}

/** A check that no instance comes twice in one list: the second is named with the first (`register[1]: the same instance as register[0]`). */
export function sameInstanceCheck(): (ref: InstanceRef, at: string) => string | undefined {
  const seen = new Map<string, string>();
  return (ref, at) => {
    const key = `${ref.namespace}/${ref.service}/${ref.id}`;
    const first = seen.get(key);
    if (first) return `${at}: the same instance as ${first}`;
    seen.set(key, at);
    return undefined;
  };
}

/** `parseRef` of every entry of the list named `field`, VALIDATE_PER_TURN per event-loop turn (from the next one), until MAX_ERRORS. */
export async function parseRefs(list: readonly unknown[], field: string, errors: string[]): Promise<(InstanceRef | undefined)[]> {
  const refs: (InstanceRef | undefined)[] = [];
  for (let i = 0; i < list.length; i++) {
    if (i % VALIDATE_PER_TURN === 0) await yieldTurn();
    if (tooMany(errors, `${field}[${i}]`)) break;
    refs.push(parseRef(list[i], `${field}[${i}]`, errors));
  }
  return refs;
}

/** Whether validation stops before the entry `at`: MAX_ERRORS were found (then the last error says so). */
function tooMany(errors: string[], at: string): boolean {
  if (errors.length < MAX_ERRORS) return false;
  errors.push(`validation stopped at ${at}, after ${errors.length} errors`);
  return true;
}

/**
 * `{namespace?, service, id}` naming a registered instance. Every heartbeat goes through here
 * (20,000 a second in bench/registry/run.js): it allocates the result and nothing else.
 */
export function parseRef(input: unknown, at: string, errors: string[]): InstanceRef | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    errors.push(`${at}: must be an object {namespace, service, id}`);
    return undefined;
  }
  const o = input as Record<string, unknown>;
  const before = errors.length;
  for (const key in o) if (key !== 'namespace' && key !== 'service' && key !== 'id') errors.push(`${at}.${key}: unknown field (namespace, service, id)`);
  const namespace = o.namespace ?? DEFAULT_NAMESPACE;
  checkName(namespace, at, 'namespace', errors);
  checkName(o.service, at, 'service', errors);
  checkName(o.id, at, 'id', errors, INSTANCE_ID);
  return errors.length > before ? undefined : { namespace: namespace as string, service: o.service as string, id: o.id as string };
}

function checkName(value: unknown, at: string, field: string, errors: string[], pattern = NAME): void {
  if (typeof value !== 'string' || !pattern.test(value)) errors.push(invalidField(`${at}.${field}`, value, "a name of letters, digits, '_', '.', '-', ':'"));
}
