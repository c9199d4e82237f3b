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
  ) {}

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    try {
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
