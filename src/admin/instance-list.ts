import type { Instance } from '../model/instance';
import type { Registry } from '../registry/registry';
import { serialize } from './schemas';

/** Instances serialized per chunk, a chunk per event-loop turn (`sendChunks`): a few milliseconds (20,000 at once held the loop 210-290 ms). */
const INSTANCES_PER_TURN = 500;

/**
 * `GET /v1/instances`: every instance registered (of one service or namespace, if asked), as
 * SCHEMAS.Instances, in chunks of INSTANCES_PER_TURN. Instances are replaced, never
 * changed, so the references taken in one pass are the registry at one moment, however long the
 * client takes to read.
 */
export function instanceListChunks(registry: Registry, service: string | null, namespace: string | null): Generator<string> {
  const instances: Instance[] = [];
  for (const view of registry.snapshot().services.values()) {
    if (service && view.name !== service) continue;
    if (namespace && view.namespace !== namespace) continue;
    for (const instance of view.instances) instances.push(instance);
  }
  return chunks(instances);
}

function* chunks(instances: readonly Instance[]): Generator<string> {
  yield '{"instances":[';
  for (let at = 0; at < instances.length; at += INSTANCES_PER_TURN) {
    const list = serialize.instanceList(instances.slice(at, at + INSTANCES_PER_TURN));
    yield (at > 0 ? ',' : '') + list.slice(1, -1);
  }
  yield ']}';
}
