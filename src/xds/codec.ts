import * as protobuf from 'protobufjs';
import { protoJsonChunkSteps, toProtoJson } from '../protos/json';
import type { Steps } from '../model/slices';
import { envoyRoot } from '../protos/root';
import type { Chunks } from './chunks';

/** The parts of a decoded `google.rpc.Status` a NACK carries. */
export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly user_agent_name: string;
}

/** A decoded `DiscoveryRequest` (protobufjs, keepCase; absent scalars read as defaults). */
export interface SotwRequest {
  readonly version_info: string;
  readonly node?: NodeInfo | null;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail?: ErrorDetail | null;
}

export interface DeltaRequest {
  readonly node?: NodeInfo | null;
  readonly type_url: string;
  readonly resource_names_subscribe: readonly string[];
  readonly resource_names_unsubscribe: readonly string[];
  readonly initial_resource_versions: Readonly<Record<string, string>>;
  readonly response_nonce: string;
  readonly error_detail?: ErrorDetail | null;
}

interface Codec {
  readonly root: protobuf.Root;
  readonly sotwRequest: protobuf.Type;
  readonly deltaRequest: protobuf.Type;
  readonly any: protobuf.Type;
}

let codec: Codec | undefined;

function get(): Codec {
  if (!codec) {
    const root = envoyRoot();
    codec = {
      root,
      sotwRequest: root.lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
      deltaRequest: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
      any: root.lookupType('google.protobuf.Any'),
    };
  }
  return codec;
}

/** A cached `google.protobuf.Any` in Envoy's JSON mapping (`{"@type": ..., ...}`), for the config dump. */
export function anyToJson(any: Uint8Array): Record<string, unknown> {
  const { root, any: anyType } = get();
  return toProtoJson(anyType, anyType.decode(any), root);
}

/** `anyToJson` as chunks of JSON text, converted in steps (see protoJsonChunkSteps): for the config dump of a large resource. */
export function* anyJsonChunkSteps(any: Uint8Array): Steps<string[]> {
  const { root, any: anyType } = get();
  const { type_url: typeUrl, value } = anyType.decode(any) as unknown as { type_url: string; value: Uint8Array };
  const inner = root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  if (inner.fullName.startsWith('.google.protobuf.')) return [JSON.stringify(anyToJson(any))]; // small, and JSON-mapped as a whole
  return yield* protoJsonChunkSteps(inner, value, root, `"@type":${JSON.stringify(typeUrl)}`);
}

const messageTypes = new Map<string, protobuf.Type>();

/** Memoised: protobufjs's lookup walks the namespace tree each time (84 ms of a batch registering 2,000 services, one Cluster, Listener and Route each). */
export function messageType(name: string): protobuf.Type {
  let type = messageTypes.get(name);
  if (!type) messageTypes.set(name, (type = get().root.lookupType(name)));
  return type;
}

/** Method names and streaming flags of a gRPC service declared in the Envoy protos. */
export function serviceMethods(serviceName: string): { name: string; requestStream: boolean; responseStream: boolean }[] {
  return Object.values(get().root.lookupService(serviceName).methods).map((m) => ({
    name: m.name,
    requestStream: m.requestStream === true,
    responseStream: m.responseStream === true,
  }));
}

/** Numeric value of an enum constant, so resources can be encoded without `fromObject`. */
export function enumValue(enumName: string, constant: string): number {
  const value = get().root.lookupEnum(enumName).values[constant];
  if (value === undefined) throw new Error(`unknown enum constant ${enumName}.${constant}`);
  return value;
}

export function decodeSotwRequest(bytes: Buffer): SotwRequest {
  return get().sotwRequest.decode(bytes) as unknown as SotwRequest;
}

export function decodeDeltaRequest(bytes: Buffer): DeltaRequest {
  return get().deltaRequest.decode(bytes) as unknown as DeltaRequest;
}

/** An Any field value (`{type_url, value}`) holding `message` (plain object, numeric enums). */
export function anyOf(typeName: string, message: object): { type_url: string; value: Uint8Array } {
  return { type_url: `type.googleapis.com/${typeName}`, value: messageType(typeName).encode(message).finish() };
}

/** Encodes `message` of `typeName` wrapped in an Any, as a response carries it. */
export function encodeAny(typeName: string, message: object): Uint8Array {
  return get().any.encode(anyOf(typeName, message)).finish();
}

// Field tags (field number << 3 | wire type 2 = length-delimited) of the messages assembled by hand.
const tag = (field: number): number => (field << 3) | 2;

/**
 * The `resources` field of a `DiscoveryResponse` (every Any, each tagged and length-prefixed),
 * from resources already encoded as Any: their bytes are copied, never re-encoded.
 */
export function encodeSotwResources(anys: readonly Uint8Array[]): Buffer {
  const w = protobuf.Writer.create();
  for (const any of anys) w.uint32(tag(2)).bytes(any);
  return toBuffer(w.finish());
}

/** The `resources` field of a `DiscoveryResponse` as chunks: each Any after its tag and length, referenced, not copied. */
export function sotwResourcesField(anys: readonly Uint8Array[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (const any of anys) chunks.push(fieldHead(tag(2), any.length), any);
  return chunks;
}

/**
 * A `DiscoveryResponse`: the per-stream version and nonce around its `resources` field (from
 * sotwResourcesField, or bodies encodeSotwResources made, shared by many streams: fields may
 * come in any order on the wire). Nothing is copied until grpc-js serializes the chunks (see
 * chunks.ts; a 100,000-endpoint assignment is about 8 MB).
 */
export function encodeSotwResponse(version: string, typeUrl: string, nonce: string, resourcesField: Chunks): Chunks {
  const chunks: Uint8Array[] = [protobuf.Writer.create().uint32(tag(1)).string(version).finish()];
  for (const chunk of resourcesField) chunks.push(chunk);
  chunks.push(protobuf.Writer.create().uint32(tag(4)).string(typeUrl).uint32(tag(5)).string(nonce).finish());
  return chunks;
}

/** The tag and length that start a length-delimited field of `length` bytes. */
function fieldHead(fieldTag: number, length: number): Buffer {
  const head = Buffer.allocUnsafe(1 + varintSize(length));
  putTag(head, 0, fieldTag, length);
  return head;
}

/** Bytes of a varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes of a length-delimited field (one-byte tag) holding `length` bytes. */
export function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** Writes a varint at `at`; returns where it ends. */
export function putVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Writes a one-byte tag and a length at `at`; returns where the field's bytes start. */
export function putTag(out: Buffer, at: number, tag: number, length: number): number {
  out[at++] = tag;
  return putVarint(out, at, length);
}

/** One `Resource` of a Delta response (version, Any, name), made once per resource version; the Any is not copied. */
export function encodeDeltaResource(name: string, version: string, any: Uint8Array): Chunks {
  const head = protobuf.Writer.create().uint32(tag(1)).string(version).finish();
  const tail = protobuf.Writer.create().uint32(tag(3)).string(name).finish();
  return [head, fieldHead(tag(2), any.length), any, tail];
}

/** A `DeltaDiscoveryResponse` around resources made by encodeDeltaResource (see encodeSotwResponse). */
export function encodeDeltaResponse(
  systemVersion: string,
  typeUrl: string,
  nonce: string,
  resources: readonly Chunks[],
  removed: readonly string[],
): Chunks {
  const chunks: Uint8Array[] = [protobuf.Writer.create().uint32(tag(1)).string(systemVersion).finish()];
  for (const resource of resources) {
    let length = 0;
    for (const chunk of resource) length += chunk.length;
    chunks.push(fieldHead(tag(2), length), ...resource);
  }
  const tail = protobuf.Writer.create().uint32(tag(4)).string(typeUrl).uint32(tag(5)).string(nonce);
  for (const name of removed) tail.uint32(tag(6)).string(name);
  chunks.push(tail.finish());
  return chunks;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
