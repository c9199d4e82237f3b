import type { Decision, Mutation } from '../model/decision';
import type { Labels } from '../model/instance';
import type { Side } from '../model/side';
import type { TraceStep } from '../model/trace';

// POST /explain's request and answer. Only types, from model/ files that need no Node.js: the
// console (web/) imports them type-only, and its type-check, which has no Node.js types, fails
// if this file or what it imports starts using Node.js.

/**
 * A request to explain, as JSON: the inputs Envoy's ext_proc filter sends, spelled out.
 * It goes through the same pipeline as a live request (size limits, edge guard, JWT check,
 * callee identification, router chain), so explain and Envoy cannot disagree.
 */
export interface ExplainRequest {
  /**
   * The cluster Envoy's route chose (`xds.cluster_name`): `shop.default`, or `shop` in the default
   * namespace. On a sidecar's side (`outbound`, `inbound`), whose route takes `:authority` and
   * sends no cluster, the name the app called: the `:authority` when none is given.
   */
  cluster?: string;
  /** Shorthand for `cluster`. */
  service?: string;
  authority?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  /** A sidecar's identity (`x-metaroute-caller-*`); `transitive`: its label keys that travel the chain (outbound calls carry them as persistent metadata). */
  caller?: { service?: string; namespace?: string; labels?: Labels; transitive?: string[] };
  /** Which ext_proc call: `edge` (a gateway, the default: client headers untrusted), `outbound`, `inbound`. */
  side?: Side;
  /** Verified identity claims, as jwt_authn would forward them. */
  claims?: Record<string, unknown>;
  /** The client address Envoy reports (`source.address`), for caller_ip sources. */
  sourceAddress?: string;
}

export interface Explanation {
  service: string;
  cluster: string;
  rule: string;
  decision: Decision;
  /** Why the request was refused before routing (`spoofed_header`, ...), or ''. */
  refused: string;
  steps: TraceStep[];
  /**
   * The request header changes besides the decision's own (the cluster switch header): call-chain
   * metadata propagation, and at an edge the protected headers stripped (`onSpoofed: strip`).
   */
  headerMutation: Mutation;
  /** Why Envoy will not honour the decision's endpoint list (a subset-mode cluster), or ''. */
  endpointsIgnored: string;
  /** Why Envoy will not honour the decision's labels (no subset selector has exactly their keys), or ''. */
  labelsIgnored: string;
}
