import * as grpc from '@grpc/grpc-js';

/** One call of a raw-bytes method, as its handler sees it. */
export interface RawCall {
  readonly metadata: grpc.Metadata;
  /** Sends one message; ignored once the call has ended. */
  send(message: Buffer): void;
  /** Ends the call with a status; later sends and ends are ignored. */
  end(code: grpc.status, details: string): void;
}

/** What the handler does with what arrives on its call. */
export interface RawCallHandler {
  message(bytes: Buffer): void;
  /** The client has sent its last message. */
  halfClose(): void;
}

type CallListener = Parameters<grpc.ServerInterceptingCallInterface['start']>[0];

/**
 * Serves one method at grpc-js's call layer: a server interceptor that answers the call
 * itself, so grpc-js never builds its Node Duplex stream for it. On ext_proc, where every
 * stream carries one or two messages, that wrapper is the largest part of grpc-js's
 * per-stream cost. grpc-js still owns HTTP/2, framing, message limits, deadlines and
 * status. The method must also be registered on the server (with any implementation:
 * grpc-js routes by path before it runs interceptors).
 */
export function callLayerInterceptor(path: string, open: (call: RawCall) => RawCallHandler): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (forward) => (method.path === path ? call.start(new CallLayerStream(call, open)) : forward()),
    });
}

/** Reads one message at a time (grpc-js pauses the HTTP/2 stream in between) and hands it over. */
class CallLayerStream implements RawCall, CallListener {
  metadata!: grpc.Metadata;
  private handler: RawCallHandler | undefined;
  private ended = false;

  constructor(
    private readonly call: grpc.ServerInterceptingCallInterface,
    private readonly open: (call: RawCall) => RawCallHandler,
  ) {}

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    this.handler = this.open(this);
    this.call.startRead();
  }

  onReceiveMessage(message: Buffer): void {
    if (this.ended) return;
    this.handler!.message(message);
    this.call.startRead();
  }

  onReceiveHalfClose(): void {
    if (!this.ended) this.handler!.halfClose();
  }

  onCancel(): void {
    this.ended = true;
  }

  send(message: Buffer): void {
    if (!this.ended) this.call.sendMessage(message, noop);
  }

  end(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.call.sendStatus({ code, details });
  }
}

function noop(): void {}
