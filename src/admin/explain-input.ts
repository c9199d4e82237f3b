import type { ExplainRequest } from './explain';
import { HttpError } from './http';

const SIDES = ['edge', 'outbound', 'inbound'];

/** Checks the types of a POST /explain body; a wrong one is a 400 naming the field. */
export function parseExplainRequest(body: unknown): ExplainRequest {
  const object = (value: unknown, at: string): Record<string, unknown> | undefined => {
    if (value === undefined) return undefined;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, `${at}: must be a JSON object`);
    return value as Record<string, unknown>;
  };
  const string = (value: unknown, at: string): void => {
    if (value !== undefined && typeof value !== 'string') throw new HttpError(400, `${at}: must be a string`);
  };
  const stringMap = (value: unknown, at: string): void => {
    for (const [key, v] of Object.entries(object(value, at) ?? {})) string(v, `${at}.${key}`);
  };

  const request = object(body, 'body') ?? {};
  for (const field of ['cluster', 'service', 'authority', 'path', 'method', 'sourceAddress']) string(request[field], field);
  if (request.side !== undefined && !SIDES.includes(request.side as string)) throw new HttpError(400, `side: must be one of ${SIDES.join(', ')}`);
  stringMap(request.headers, 'headers');
  const caller = object(request.caller, 'caller') ?? {};
  string(caller.service, 'caller.service');
  string(caller.namespace, 'caller.namespace');
  stringMap(caller.labels, 'caller.labels');
  object(request.claims, 'claims');
  return request as ExplainRequest;
}
