import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { BoundedLabel } from '../metrics/bounded-label';
import type { DecisionSplit } from '../metrics/decision-split';
import type { MetricsRegistry } from '../metrics/metrics';
import { responsePropagation } from '../context/propagation';
import { NO_CALLER, type Caller } from '../context/request-context';
import type { Mutation } from '../model/decision';
import type { Side } from '../model/side';
import { rawMethod } from '../protos/raw-method';
import type { RoutingEngine } from '../routing/engine';
import { callLayerInterceptor, type ConnectionAdmission, type RawCall, type RawCallHandler } from './call-layer';
import { callerFromMetadata, callerName, sideFromMetadata, StreamMetadataError } from './caller';
import { decideRequestHeaders, REFUSAL_REASONS, type DecideOptions, type Verdict } from './decide';
import { decodeProcessingRequest, FrameParts, type ExtProcRequest } from './decode';
import { encodeContinue } from './encode';
import { encodeDecision, encodeResponseHeaders, encodeUnrouted } from './responses';
import { WireError } from './wire';

export const EXT_PROC_SERVICE_NAME = 'envoy.service.ext_proc.v3.ExternalProcessor';
const EXT_PROC_PATH = `/${EXT_PROC_SERVICE_NAME}/Process`;

/** Frames pass through grpc-js as raw bytes; decoding is ours (lean, and errors map to INVALID_ARGUMENT). */
export const EXT_PROC_SERVICE: grpc.ServiceDefinition = {
  Process: rawMethod(EXT_PROC_PATH, true, true),
};

/** Why metaroute fails a stream (see failStream and createServer): the `reason` label of metaroute_extproc_stream_errors_total. */
const STREAM_ERRORS = ['malformed', 'internal', 'refused_client'];

/** A stream failed for its gRPC metadata (a sidecar bootstrap's x-metaroute-* values): every request of that Envoy fails so. */
export interface MetadataRefusal {
  /** What is wrong, naming the metadata key. */
  readonly reason: string;
  /** `namespace/service` as the stream names its caller; '' for none. */
  readonly caller: string;
  readonly peer: string;
}

/** Distinct `rule` label values of metaroute_decisions_total (1,000 rules were the largest set benchmarked). */
const MAX_RULE_LABELS = 10_000;

/**
 * envoy.service.ext_proc.v3.ExternalProcessor: one stream per HTTP request. Request
 * headers are guarded, propagated and routed; response headers carry backward
 * metadata; every other message is answered CONTINUE. In observability mode Envoy does
 * not wait for answers, so none are sent.
 */
export class ExtProcService {
  private readonly decisions;
  /** Rule names a decision is counted under: beyond this many, a custom router naming rules per request counts as `(other)`. */
  private readonly ruleLabel = new BoundedLabel(MAX_RULE_LABELS, '(other)');
  private readonly latency;
  private readonly unknownService;
  private readonly streamErrors;
  private readonly rejected;

  /**
   * `split`, when given, counts each routed decision per service and second (the console's live
   * split). `metadataRefused`, when given, hears of each stream failed for malformed metadata,
   * whose request a fail-open Envoy forwards unrouted: nothing on the hot path logs, so the
   * service's owner (app/) logs them.
   */
  constructor(
    private readonly engine: RoutingEngine,
    metrics: MetricsRegistry,
    private readonly options: DecideOptions,
    private readonly split?: DecisionSplit,
    private readonly metadataRefused?: (refusal: MetadataRefusal) => void,
  ) {
    this.decisions = metrics.counter('metaroute_decisions_total', 'Routing decisions by callee cluster, rule and outcome', ['service', 'rule', 'outcome']);
    this.latency = metrics.histogram('metaroute_decision_seconds', 'Time to decide one request (decode to encoded answer)', [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05]);
    this.unknownService = metrics.counter('metaroute_unknown_service_total', 'Requests for a service metaroute does not know (passed through unchanged)');
    this.streamErrors = metrics.counter('metaroute_extproc_stream_errors_total', 'ext_proc streams failed by metaroute (internal also counts a sidecar outbound request answered unrouted because a router failed)', ['reason'], STREAM_ERRORS.map((r) => [r]));
    this.rejected = metrics.counter('metaroute_rejected_requests_total', 'Requests refused before routing', ['reason'], REFUSAL_REASONS.map((r) => [r]));
  }

  /**
   * A gRPC server serving ext_proc at grpc-js's call layer (see call-layer.ts). `admit`, when
   * given, is asked once per connection whether its streams are served (the client certificate
   * check); each stream it refuses is counted as a stream error `refused_client`.
   */
  createServer(options: grpc.ServerOptions, admit?: ConnectionAdmission['check']): grpc.Server {
    const admission = admit && { check: admit, refused: () => this.streamErrors.inc(['refused_client']) };
    const server = new grpc.Server({ ...options, interceptors: [callLayerInterceptor(EXT_PROC_PATH, (call) => new ProcessStream(this, call), admission)] });
    // Registered for grpc-js's routing only; the interceptor answers every call.
    server.addService(EXT_PROC_SERVICE, {});
    return server;
  }

  /**
   * Fails this stream only: a malformed frame (including parts decoded lazily, such as
   * metadata_context) is INVALID_ARGUMENT; anything else (a custom router throwing at the edge;
   * on a sidecar's outbound call decide answers instead) is INTERNAL. Envoy then applies its
   * failure_mode_allow to this one request.
   */
  failStream(call: RawCall, error: unknown): void {
    const malformed = error instanceof WireError;
    this.streamErrors.inc([malformed ? 'malformed' : 'internal']);
    const metadata = error instanceof StreamMetadataError;
    if (metadata) this.metadataRefused?.({ reason: error.message, caller: callerName(call.metadata), peer: call.peer });
    const what = metadata ? 'stream metadata' : 'ProcessingRequest';
    const details = malformed ? `malformed ${what}: ${error.message}` : `metaroute failed this request: ${(error as Error)?.message ?? String(error)}`;
    call.end(malformed ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details);
  }

  /** The answer to one message, or a promise of it when a JWT check makes it asynchronous. */
  answer(frame: Buffer, caller: Caller, side: Side): AnswerOrSilence | Promise<AnswerOrSilence> {
    const request = decodeProcessingRequest(frame, this.options.maxHeaderBytes);
    // In observability mode Envoy does not read answers; the decision is still made and counted.
    const silent = request.observabilityMode;
    if (request.phase === 'request_headers') {
      const answer = this.answerRequestHeaders(request, caller, side);
      return answer instanceof Promise ? answer.then((a) => (silent ? undefined : a)) : silent ? undefined : answer;
    }
    if (silent) return undefined;
    if (request.phase === 'response_headers') {
      const mutation: Mutation = { set: [], remove: [] };
      responsePropagation(side, request.headers!, mutation);
      return encodeResponseHeaders(mutation);
    }
    return encodeContinue(request.phase);
  }

  private answerRequestHeaders(request: ExtProcRequest, caller: Caller, side: Side): Buffer | Promise<Buffer> {
    const started = performance.now();
    const input = { headers: request.headers!, caller, side, parts: new FrameParts(request) };
    const verdict = decideRequestHeaders(this.engine, this.options, input);
    return verdict instanceof Promise ? verdict.then((v) => this.encode(v, started)) : this.encode(verdict, started);
  }

  private encode(verdict: Verdict, started: number): Buffer {
    if (verdict.kind === 'refused') {
      this.rejected.inc([verdict.reason]);
      return encodeDecision(verdict.decision);
    }
    if (verdict.kind === 'inbound') return encodeDecision(verdict.decision, verdict.mutation);
    const { service, outcome, mutation, routerError } = verdict;
    // A router failing on a sidecar's outbound call is counted as when it failed the stream (as it still does at the edge).
    if (routerError !== undefined) this.streamErrors.inc(['internal']);
    const answer = routerError === undefined ? encodeDecision(outcome.decision, mutation, outcome.rule, outcome.metadataRoute) : encodeUnrouted(mutation, routerError);
    if (!service) this.unknownService.inc();
    else this.split?.record(service.key, outcome.decision);
    this.decisions.inc([service?.cluster ?? '', this.ruleLabel.of(outcome.rule), outcome.decision.kind]);
    this.latency.observe((performance.now() - started) / 1000);
    return answer;
  }
}

/** No answer: the request was in observability mode. */
type AnswerOrSilence = Buffer | undefined;

/**
 * One ext_proc stream. Answers keep message order: while one is pending (a JWT check),
 * later messages wait behind it, and so does the end of the stream.
 */
class ProcessStream implements RawCallHandler {
  private readonly caller: Caller;
  /** Undefined when the stream's metadata is malformed (a typo in the sidecar's bootstrap): its first message fails it. */
  private readonly side: Side | undefined;
  private readonly refusal: unknown;
  private pending: Promise<void> | undefined;

  constructor(private readonly service: ExtProcService, private readonly call: RawCall) {
    try {
      this.caller = callerFromMetadata(call.metadata);
      this.side = sideFromMetadata(call.metadata);
    } catch (error) {
      this.caller = NO_CALLER;
      this.refusal = error;
    }
  }

  message(frame: Buffer): void {
    if (this.pending) {
      this.waitFor(this.pending.then(() => this.answer(frame)));
      return;
    }
    const answered = this.answer(frame);
    if (answered) this.waitFor(answered);
  }

  halfClose(): void {
    if (this.pending) void this.pending.then(() => this.finish());
    else this.finish();
  }

  /** Sends this frame's answer now, or returns a promise that sends it; never throws or rejects. */
  private answer(frame: Buffer): Promise<void> | undefined {
    if (this.call.ended) return undefined; // queued behind an answer that failed the stream
    try {
      if (this.side === undefined) throw this.refusal;
      const answer = this.service.answer(frame, this.caller, this.side);
      if (answer instanceof Promise) return answer.then((a) => this.send(a)).catch((error) => this.service.failStream(this.call, error));
      this.send(answer);
    } catch (error) {
      this.service.failStream(this.call, error);
    }
    return undefined;
  }

  private waitFor(answered: Promise<void>): void {
    const settled: Promise<void> = answered.then(() => {
      if (this.pending === settled) this.pending = undefined;
    });
    this.pending = settled;
  }

  private send(answer: AnswerOrSilence): void {
    if (answer) this.call.send(answer);
  }

  private finish(): void {
    this.call.end(grpc.status.OK, 'OK');
  }
}
