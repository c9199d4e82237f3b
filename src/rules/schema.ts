import type { LabelSourceType, MatchType, Destination, MetadataRoute } from '../model/rule';

/**
 * A validated rule document with every default filled in: what `validateRules` returns,
 * what `compileRules` compiles, and what the config dump shows. It is plain data, and
 * validating it again yields an equal document.
 */
export interface RuleDocument {
  readonly rules: readonly RuleSpec[];
  readonly metadataRoutes: readonly MetadataRoute[];
}

export interface RuleSpec {
  readonly name: string;
  readonly service: string;
  readonly namespace: string;
  readonly direction: 'inbound' | 'outbound';
  readonly sources: readonly SourceSpec[];
  readonly destinations: readonly Destination[];
  /** 'all', 'none' or the name of one of `destinations`. */
  readonly failover: string;
  readonly stickyBy?: LabelSourceSpec;
}

export interface SourceSpec {
  readonly service: string;
  readonly namespace: string;
  readonly arguments: readonly ArgumentSpec[];
}

/** As written: `key` is absent for sources without one (method, path, caller_service, caller_ip). */
export interface LabelSourceSpec {
  readonly type: LabelSourceType;
  readonly key?: string;
}

export interface ArgumentSpec extends LabelSourceSpec {
  readonly match: MatchSpec;
}

export interface MatchSpec {
  readonly type: MatchType;
  /** Absent only for EXISTS, where it is otherwise 'true' or 'false'. */
  readonly value?: string;
}
