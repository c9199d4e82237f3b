import * as grpc from '@grpc/grpc-js';

/** One call of a raw-bytes method, as its handler sees it. */
export interface RawCall {
  readonly metadata: grpc.Metadata;
  /** Sends one message; ignored once the call has ended. */
  send(message: Buffer): void;
  /** Ends the call with a status; later sends and ends are ignored. */
  end(code: grpc.status, details: string): void;
  /** True once the call has ended (by end() or because the client went away). */
  readonly ended: boolean;
  /** The client's address (`ip:port`), read when asked. */
  readonly peer: string;
}

/** What the handler does with what arrives on its call. */
export interface RawCallHandler {
  message(bytes: Buffer): void;
  /** The client has sent its last message. */
  halfClose(): void;
}

type CallListener = Parameters<grpc.ServerInterceptingCallInterface['start']>[0];

/** The status a refused call ends with. */
export interface Refusal {
  readonly code: grpc.status;
  readonly details: string;
}

/** Who is served: asked at a connection's first call; its answer holds for every call on that connection. */
export interface ConnectionAdmission {
  check(call: grpc.ServerInterceptingCallInterface): Refusal | undefined;
  /** Each call ended with its connection's refusal (before the handler opens). */
  refused(refusal: Refusal): void;
}

/**
 * Serves one method at grpc-js's call layer: a server interceptor that answers the call
 * itself, so grpc-js never builds its Node Duplex stream for it. On ext_proc, where every
 * stream carries one or two messages, that wrapper is the largest part of grpc-js's
 * per-stream cost. grpc-js still owns HTTP/2, framing, message limits, deadlines and
 * status. The method must also be registered on the server (with any implementation:
 * grpc-js routes by path before it runs interceptors). With an `admission`, a call its
 * connection is refused from ends with the refusal's status before the handler opens.
 */
export function callLayerInterceptor(path: string, open: (call: RawCall) => RawCallHandler, admission?: ConnectionAdmission): grpc.ServerInterceptor {
  const admit = admission && perConnection(admission);
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (forward) => (method.path === path ? call.start(new CallLayerStream(call, open, admit)) : forward()),
    });
}

/**
 * The admission's answer kept per HTTP/2 connection, so a stream costs one WeakMap lookup:
 * reading the peer certificate (`getAuthContext()`) takes 20-40 µs, and checking each stream
 * that way cost 1.6x the server CPU per stream (bench/extproc/client-names.js). A call whose
 * connection cannot be found is checked on its own.
 */
function perConnection(admission: ConnectionAdmission): (call: grpc.ServerInterceptingCallInterface) => Refusal | undefined {
  const verdicts = new WeakMap<object, Refusal | null>();
  return (call) => {
    const connection = connectionOf(call);
    let verdict = connection && verdicts.get(connection);
    if (verdict === undefined) {
      verdict = admission.check(call) ?? null;
      if (connection) verdicts.set(connection, verdict);
    }
    if (verdict) admission.refused(verdict);
    return verdict ?? undefined;
  };
}

/**
 * The HTTP/2 session a call arrived on. grpc-js has no public handle on it: its base call
 * (what the first interceptor, this one, is given) keeps the stream in a private field
 * (grpc-js 1.14, which package.json pins; test/security/grpc-tls.test.ts fails if this
 * stops finding it, as every stream would then be checked on its own).
 */
function connectionOf(call: grpc.ServerInterceptingCallInterface): object | undefined {
  return (call as unknown as { stream?: { session?: object } }).stream?.session;
}

/**
 * Reads one message at a time (grpc-js pauses the HTTP/2 stream in between) and hands it
 * over. A handler that throws fails its own call with INTERNAL: these callbacks run inside
 * grpc-js's event handlers, where a throw would take the process down.
 */
class CallLayerStream implements RawCall, CallListener {
  metadata!: grpc.Metadata;
  ended = false;
  private handler: RawCallHandler | undefined;

  constructor(
    private readonly call: grpc.ServerInterceptingCallInterface,
    private readonly open: (call: RawCall) => RawCallHandler,
    private readonly admit: ((call: grpc.ServerInterceptingCallInterface) => Refusal | undefined) | undefined,
  ) {}

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    try {
      const refusal = this.admit?.(this.call);
      if (refusal) return this.end(refusal.code, refusal.details);
      this.handler = this.open(this);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.call.startRead();
  }

  onReceiveMessage(message: Buffer): void {
    if (this.ended) return;
    try {
      this.handler!.message(message);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.call.startRead();
  }

  onReceiveHalfClose(): void {
    if (this.ended) return;
    try {
      this.handler!.halfClose();
    } catch (error) {
      this.fail(error);
    }
  }

  onCancel(): void {
    this.ended = true;
  }

  get peer(): string {
    return this.call.getPeer();
  }

  send(message: Buffer): void {
    if (!this.ended) this.call.sendMessage(message, noop);
  }

  end(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.call.sendStatus({ code, details });
  }

  private fail(error: unknown): void {
    this.end(grpc.status.INTERNAL, `handler failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

function noop(): void {}
