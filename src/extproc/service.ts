import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { IdentityOptions } from '../context/request-context';
import { RequestContext } from '../context/request-context';
import type { MetricsRegistry } from '../admin/metrics';
import type { RoutingEngine } from '../routing/engine';
import { callerFromMetadata } from './caller';
import { decodeProcessingRequest, decodeStructMap, filterMetadataEntries, type ExtProcRequest } from './decode';
import { encodeContinue, encodeImmediateResponse } from './encode';
import { encodeDecision } from './responses';
import { WireError } from './wire';

export interface ExtProcOptions {
  /** Request headers beyond this many bytes (names + values) are answered with 431. */
  readonly maxHeaderBytes: number;
  readonly identity: IdentityOptions;
}

const identity = (b: Buffer): Buffer => b;

/** Frames pass through grpc-js as raw bytes; decoding is ours (lean, and errors map to INVALID_ARGUMENT). */
export const EXT_PROC_SERVICE: grpc.ServiceDefinition = {
  Process: {
    path: '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/**
 * envoy.service.ext_proc.v3.ExternalProcessor: one stream per HTTP request. Request
 * headers are routed; every other message is answered CONTINUE unchanged. In
 * observability mode Envoy does not wait for answers, so none are sent.
 */
export class ExtProcService {
  private readonly decisions;
  private readonly latency;
  private readonly unknownService;
  private readonly streamErrors;
  private readonly oversized;

  constructor(private readonly engine: RoutingEngine, metrics: MetricsRegistry, private readonly options: ExtProcOptions) {
    this.decisions = metrics.counter('metaroute_decisions_total', 'Routing decisions by callee cluster, rule and outcome', ['service', 'rule', 'outcome']);
    this.latency = metrics.histogram('metaroute_decision_seconds', 'Time to decide one request (decode to encoded answer)', [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05]);
    this.unknownService = metrics.counter('metaroute_unknown_service_total', 'Requests for a service metaroute does not know (passed through unchanged)');
    this.streamErrors = metrics.counter('metaroute_extproc_stream_errors_total', 'ext_proc streams failed by metaroute', ['reason']);
    this.oversized = metrics.counter('metaroute_oversized_headers_total', 'Requests rejected with 431 because their headers passed the limit');
  }

  register(server: grpc.Server): void {
    server.addService(EXT_PROC_SERVICE, { Process: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.process(call) });
  }

  private process(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const caller = callerFromMetadata(call.metadata);
    call.on('data', (frame: Buffer) => {
      let request: ExtProcRequest;
      try {
        request = decodeProcessingRequest(frame, this.options.maxHeaderBytes);
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
        this.streamErrors.inc(['malformed']);
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `malformed ProcessingRequest: ${error.message}` });
        return;
      }
      const answer = request.phase === 'request_headers' ? this.answerRequestHeaders(request, caller) : encodeContinue(request.phase);
      if (!request.observabilityMode) call.write(answer);
    });
    call.on('end', () => call.end());
    call.on('error', () => {
      /* the client went away; grpc-js has already ended the call */
    });
  }

  private answerRequestHeaders(request: ExtProcRequest, caller: ReturnType<typeof callerFromMetadata>): Buffer {
    const started = performance.now();
    const headers = request.headers!;
    if (headers.oversized) {
      this.oversized.inc();
      return encodeImmediateResponse(431, `request headers exceed ${this.options.maxHeaderBytes} bytes\n`, 'metaroute_431');
    }
    const ctx = new RequestContext(headers, caller, this.options.identity, {
      filterMetadata: () => (request.metadataContext ? decodeStructMap(request.frame, filterMetadataEntries(request.frame, request.metadataContext)) : {}),
      attributes: () => decodeStructMap(request.frame, request.attributes),
    });
    const service = this.engine.target(ctx);
    const outcome = this.engine.decide(ctx, service);
    const answer = encodeDecision(outcome.decision);
    if (!service) this.unknownService.inc();
    this.decisions.inc([service?.cluster ?? '', outcome.rule, outcome.decision.kind]);
    this.latency.observe((performance.now() - started) / 1000);
    return answer;
  }
}
