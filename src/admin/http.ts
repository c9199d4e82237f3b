import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { repeatedKeyMessage, repeatedKeySteps } from '../model/json-keys';
import { LONE_SURROGATE_MESSAGE, loneSurrogatePath } from '../model/text';
import { formatPath } from '../rules/errors';
import { resultInSlices, yieldTurn } from '../model/slices';
import { JsonShapeError, jsonInSteps } from './json-in-steps';

/** Details an error answer lists (more than a batch's validation gathers before it stops): tens of thousands took 20-50 ms to serialize. */
const MAX_DETAILS = 200;

export class HttpError extends Error {
  readonly details: readonly string[];

  constructor(readonly status: number, message: string, details: readonly string[] = []) {
    super(message);
    this.details = details.length <= MAX_DETAILS ? details : [...details.slice(0, MAX_DETAILS - 1), `... and ${details.length - MAX_DETAILS + 1} more`];
  }
}

/**
 * Refuses a query parameter the route does not read, and one given twice, with 400 naming it:
 * `GET /v1/instances?servce=shop` listed every instance of every service, and a repeated one
 * silently used its first value. `expected` lists the route's own parameters.
 */
export function knownParams(query: URLSearchParams, expected: readonly string[]): void {
  const names = [...query.keys()];
  const unknown = [...new Set(names.filter((k) => !expected.includes(k)))];
  if (unknown.length) throw new HttpError(400, `unknown query parameter(s): ${unknown.join(', ')} (expected ${expected.join(', ')})`);
  const repeated = [...new Set(names.filter((k, i) => names.indexOf(k) !== i))];
  if (repeated.length) throw new HttpError(400, `query parameter(s) given more than once: ${repeated.join(', ')}`);
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
 * Refuses a body on a call that reads none (a single heartbeat, a DELETE): its sender most
 * likely meant another call (a batch), and ignoring the body would answer 200 for what was not
 * asked. No body, `Content-Length: 0` and an empty chunked body are accepted. `call` names the
 * call in the message, `instead` says what the sender may have meant.
 */
export async function refuseBody(req: IncomingMessage, call: string, instead: string): Promise<void> {
  const declared = req.headers['content-length'];
  // A declared length is refused unread (node:http discards the rest once answered).
  if (declared !== undefined) {
    if (Number(declared) > 0) throw new HttpError(400, `${call} takes no body (${declared} bytes sent); nothing was changed. ${instead}`);
    return;
  }
  if (await chunkedBodySent(req)) throw new HttpError(400, `${call} takes no body (a chunked one was sent); nothing was changed. ${instead}`);
}

/**
 * Whether a chunked body has any bytes: decided at its first, the rest dropped as it arrives
 * (never kept, and not waited for: a body that never ends is not read to its end).
 */
function chunkedBodySent(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const settle = (sent: boolean): void => {
      req.off('data', onData).off('end', onEnd).off('error', reject);
      if (sent) req.resume(); // flowing with no listener: node:http reads and drops the rest
      resolve(sent);
    };
    const onData = (chunk: Buffer): void => {
      if (chunk.length > 0) settle(true);
    };
    const onEnd = (): void => settle(false);
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

/**
 * Reads a JSON body; a string Envoy could not parse (a lone surrogate) is a 400 naming its field,
 * and so is a body nested or wide past `jsonInSteps`' limits, refused before it is parsed.
 * `parse` must give what `JSON.parse` gives (a reader of one endpoint's bodies, maybe in slices).
 */
export async function readJson(req: IncomingMessage, parse: (text: string) => unknown = strictInSlices): Promise<unknown> {
  const text = await readBody(req);
  let value: unknown;
  try {
    value = await parse(text);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (error instanceof JsonShapeError) throw new HttpError(400, error.message);
    throw new HttpError(400, `body is not valid JSON: ${(error as Error).message}`);
  }
  // UTF-8 decoding never yields a lone surrogate (it gives U+FFFD): only a `\uD800`-`\uDFFF`
  // escape can, so most bodies (a 2,000-entry heartbeat call: 0.4 ms) need no walk.
  const bad = MAYBE_SURROGATE.test(text) ? loneSurrogatePath(value) : undefined;
  if (bad) throw new HttpError(400, `${formatPath(bad) || 'body'}: ${LONE_SURROGATE_MESSAGE}`);
  return value;
}

/**
 * `JSON.parse` in slices between event-loop turns, for large bodies (`json-in-steps.ts`), and a
 * key repeated in one object refused, as in a JSON rule document: JSON.parse keeps the last, so
 * `{"service":"shop",...,"service":"cart"}` registered cart. The scan costs about what the parse
 * does (a 10,000-entry batch: 6-12 ms), so it runs in slices too.
 */
async function strictInSlices(text: string): Promise<unknown> {
  const value = await resultInSlices(jsonInSteps(text));
  const repeated = await resultInSlices(repeatedKeySteps(text));
  if (repeated) throw new HttpError(400, `${formatPath(repeated.path) || 'body'}: ${repeatedKeyMessage(repeated.key)}`);
  return value;
}

export function send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A 200 answer written a chunk per event-loop turn, as the client reads it: a stream pipeline
 * wrote a 40 MB config dump's chunks in one turn while the client kept up (a 450 ms stall,
 * mostly measuring and copying the strings). A client that goes away ends it; nothing failed.
 */
export async function sendChunks(res: ServerResponse, chunks: Iterable<string> | AsyncIterable<string>, contentType = 'application/json'): Promise<void> {
  // A pipelined request's answer waits for the one before it: its connection may close first, and then the answer hears nothing.
  const connection = res.req.socket;
  res.writeHead(200, { 'content-type': contentType });
  if (res.req.method === 'HEAD') {
    res.end(); // the headers alone: a lazy `chunks` builds nothing
    return;
  }
  for await (const chunk of chunks) {
    if (res.destroyed || connection.destroyed) return;
    if (!res.write(chunk)) await drainedOrClosed(res, connection); // 'drain' may come on a nextTick: no turn for others
    await yieldTurn();
  }
  res.end();
}

function drainedOrClosed(res: ServerResponse, connection: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      connection.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    connection.on('close', done);
  });
}
