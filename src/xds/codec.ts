import * as protobuf from 'protobufjs';
import { protoJsonChunkSteps, toProtoJson } from '../protos/json';
import type { Steps } from '../model/slices';
import { envoyRoot } from '../protos/root';

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

export function messageType(name: string): protobuf.Type {
  return get().root.lookupType(name);
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

/**
 * A `DiscoveryResponse` in one buffer: the per-stream version and nonce around its `resources`,
 * given either as a body encodeSotwResources made (shared by many streams: fields may come in
 * any order on the wire, so it is spliced in whole) or as the Anys themselves, each copied
 * once (a 100,000-endpoint assignment is about 8 MB).
 */
export function encodeSotwResponse(version: string, typeUrl: string, nonce: string, resources: Uint8Array | readonly Uint8Array[]): Buffer {
  const head = protobuf.Writer.create().uint32(tag(1)).string(version).finish();
  const tail = protobuf.Writer.create().uint32(tag(4)).string(typeUrl).uint32(tag(5)).string(nonce).finish();
  const anys = resources instanceof Uint8Array ? undefined : resources;
  let size = head.length + tail.length;
  if (anys) for (const any of anys) size += fieldSize(any.length);
  else size += (resources as Uint8Array).length;
  const out = Buffer.allocUnsafe(size);
  out.set(head, 0);
  let at = head.length;
  if (anys) {
    for (const any of anys) {
      at = putTag(out, at, tag(2), any.length);
      out.set(any, at);
      at += any.length;
    }
  } else {
    out.set(resources as Uint8Array, at);
    at += (resources as Uint8Array).length;
  }
  out.set(tail, at);
  return out;
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

/** One `Resource` of a Delta response (name, version, Any), encoded once per resource version. */
export function encodeDeltaResource(name: string, version: string, any: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(tag(1)).string(version);
  w.uint32(tag(2)).bytes(any);
  w.uint32(tag(3)).string(name);
  return w.finish();
}

export function encodeDeltaResponse(
  systemVersion: string,
  typeUrl: string,
  nonce: string,
  resources: readonly Uint8Array[],
  removed: readonly string[],
): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(1)).string(systemVersion);
  for (const r of resources) w.uint32(tag(2)).bytes(r);
  w.uint32(tag(4)).string(typeUrl);
  w.uint32(tag(5)).string(nonce);
  for (const name of removed) w.uint32(tag(6)).string(name);
  return toBuffer(w.finish());
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
