import type { IncomingMessage, ServerResponse } from 'node:http';
import { LONE_SURROGATE_MESSAGE, loneSurrogatePath } from '../model/text';
import { formatPath } from '../rules/errors';
import { resultInSlices } from '../model/slices';
import { jsonInSteps } from './json-in-steps';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly details: readonly string[] = []) {
    super(message);
  }
}

const MAX_BODY = 1024 * 1024;
const MAYBE_SURROGATE = /\\u[dD][89a-fA-F]/;

/** Reads a request body up to 1 MiB; a larger one is a 413, not a memory problem. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads a JSON body; a string Envoy could not parse (a lone surrogate) is a 400 naming its field.
 * `parse` must give what `JSON.parse` gives (a reader of one endpoint's bodies, maybe in slices).
 */
export async function readJson(req: IncomingMessage, parse: (text: string) => unknown = parseInSlices): Promise<unknown> {
  const text = await readBody(req);
  let value: unknown;
  try {
    value = await parse(text);
  } catch (error) {
    throw new HttpError(400, `body is not valid JSON: ${(error as Error).message}`);
  }
  // UTF-8 decoding never yields a lone surrogate (it gives U+FFFD): only a `\uD800`-`\uDFFF`
  // escape can, so most bodies (a 2,000-entry heartbeat call: 0.4 ms) need no walk.
  const bad = MAYBE_SURROGATE.test(text) ? loneSurrogatePath(value) : undefined;
  if (bad) throw new HttpError(400, `${formatPath(bad) || 'body'}: ${LONE_SURROGATE_MESSAGE}`);
  return value;
}

/** `JSON.parse` in slices between event-loop turns, for large bodies (`json-in-steps.ts`). */
function parseInSlices(text: string): Promise<unknown> {
  return resultInSlices(jsonInSteps(text));
}

export function send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
