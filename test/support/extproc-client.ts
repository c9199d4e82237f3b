import * as grpc from '@grpc/grpc-js';
import { EXT_PROC_SERVICE } from '../../src/extproc/service';
import { envoyRoot } from '../../src/protos/root';

/**
 * An ext_proc client shaped like Envoy: encodes ProcessingRequests with protobufjs from
 * Envoy's own protos (independently of metaroute's hand-written decoder), lower-case
 * header keys, pseudo-headers, values in raw_value, and decodes answers the same way.
 */
const root = envoyRoot();
export const ProcessingRequest = root.lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
export const ProcessingResponse = root.lookupType('envoy.service.ext_proc.v3.ProcessingResponse');

const Client = grpc.makeGenericClientConstructor(EXT_PROC_SERVICE, 'ExternalProcessor');

export interface SendOptions {
  /** Envoy ≥1.27 style raw_value (default) or the older `value` field. */
  valueField?: 'raw_value' | 'value';
  metadataContext?: Record<string, Record<string, unknown>>;
  attributes?: Record<string, Record<string, unknown>>;
  observabilityMode?: boolean;
}

/** Decoded ProcessingResponse as a plain object (keepCase field names, bytes as Buffers). */
export type Answer = Record<string, any>;

export function encodeHeadersRequest(headers: Record<string, string>, options: SendOptions = {}): Buffer {
  const field = options.valueField ?? 'raw_value';
  const message: Record<string, unknown> = {
    request_headers: {
      headers: {
        headers: Object.entries(headers).map(([key, value]) => ({ key: key.toLowerCase(), [field]: field === 'raw_value' ? Buffer.from(value) : value })),
      },
      end_of_stream: true,
    },
  };
  if (options.metadataContext) message.metadata_context = { filter_metadata: toStructMap(options.metadataContext) };
  if (options.attributes) message.attributes = toStructMap(options.attributes);
  if (options.observabilityMode) message.observability_mode = true;
  return Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromObject(message)).finish());
}

export function decodeAnswer(frame: Buffer): Answer {
  return ProcessingResponse.toObject(ProcessingResponse.decode(frame), { defaults: false, bytes: Buffer }) as Answer;
}

export class ExtProcClient {
  private readonly client: grpc.Client;

  constructor(address: string, private readonly caller: Record<string, string> = {}, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}) {
    this.client = new Client(address, credentials, options);
  }

  /** One HTTP request = one stream: request headers out, one answer back, stream closed. */
  request(headers: Record<string, string>, options: SendOptions = {}): Promise<Answer> {
    return this.exchange([encodeHeadersRequest(headers, options)]).then((answers) => answers[0]!);
  }

  /** Sends raw frames on one stream; resolves with every answer once the server ends the stream. */
  exchange(frames: Buffer[]): Promise<Answer[]> {
    return new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(this.caller)) metadata.set(k, v);
      const call = (this.client as any).Process(metadata) as grpc.ClientDuplexStream<Buffer, Buffer>;
      const answers: Answer[] = [];
      call.on('data', (frame: Buffer) => answers.push(decodeAnswer(frame)));
      call.on('error', reject);
      call.on('end', () => resolve(answers));
      for (const frame of frames) call.write(frame);
      call.end();
    });
  }

  close(): void {
    this.client.close();
  }
}

function toValue(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return { nullValue: 0 };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value as Record<string, unknown>) };
}

function toStruct(obj: Record<string, unknown>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, toValue(v)])) };
}

function toStructMap(map: Record<string, Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, toStruct(v)]));
}

/** envoy.lb labels of an answer, as plain strings; undefined when the answer has none. */
export function lbLabels(answer: Answer): Record<string, string> | undefined {
  return namespaceFields(answer, 'envoy.lb');
}

/** The `metaroute` namespace of an answer (what the access log shows: the rule, the metadata route), as plain strings; undefined when the answer has none. */
export function explanation(answer: Answer): Record<string, string> | undefined {
  return namespaceFields(answer, 'metaroute');
}

function namespaceFields(answer: Answer, namespace: string): Record<string, string> | undefined {
  // protobufjs' bundled google.protobuf.Struct uses camelCase field names.
  const fields = answer.dynamic_metadata?.fields?.[namespace]?.structValue?.fields;
  if (!fields) return undefined;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, (v as { stringValue: string }).stringValue]));
}

/** Header mutations of a request_headers answer as key -> value (raw_value decoded). */
export function setHeaders(answer: Answer): Record<string, string> {
  const set = answer.request_headers?.response?.header_mutation?.set_headers ?? [];
  return Object.fromEntries(set.map((o: any) => [o.header.key, Buffer.from(o.header.raw_value ?? []).toString()]));
}

/** The rule named in the `metaroute` dynamic-metadata namespace (what the access log shows). */
export function explainedRule(answer: Answer): string | undefined {
  return answer.dynamic_metadata?.fields?.metaroute?.structValue?.fields?.rule?.stringValue;
}
