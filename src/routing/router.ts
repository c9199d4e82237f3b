import type { RequestContext } from '../context/request-context';
import type { Decision } from '../model/decision';
import type { Labels } from '../model/instance';
import type { RuleSnapshot } from '../model/rule';
import type { Skipped } from '../model/trace';
import type { RegistrySnapshot, ServiceView, Subset } from '../registry/service-view';

/** What a router sees: the callee, the instances still in play, and the labels chosen so far. */
export interface RouteInput {
  readonly service: ServiceView;
  readonly candidates: Subset;
  /** Labels chosen by earlier routers; a router adds to them, never drops them. */
  readonly labels: Labels;
  readonly rules: RuleSnapshot;
  readonly registry: RegistrySnapshot;
  /** Set on explain's dry run: a result may then say what it passed over (`skipped`), which a live request never pays for. */
  readonly explaining?: boolean;
}

/** The router narrowed the instances (and usually says which labels describe them). */
export interface Narrowed {
  readonly kind: 'narrow';
  readonly candidates: Subset;
  readonly labels: Labels;
  readonly note: string;
  /** The rule that applied, for metrics and explain. */
  readonly rule?: string;
  /** The metadata router's: the metadata route that applied (its service key), for the access log. */
  readonly metadataRoute?: string;
  /** For explain (`input.explaining`): what the router passed over, and why. */
  readonly skipped?: readonly Skipped[];
}

/** The router decided; the rest of the chain does not run. */
export interface Final {
  readonly kind: 'final';
  readonly decision: Decision;
  readonly note: string;
  readonly rule?: string;
  readonly metadataRoute?: string;
  readonly skipped?: readonly Skipped[];
}

/** `undefined`: no opinion, the input passes on unchanged (and costs nothing). */
export type RouteResult = Narrowed | Final | undefined;

/**
 * The plugin interface: built-in routers implement it too. Routers run in ascending
 * `order`; `configure` is called at start and again on every configuration push, and
 * must throw on invalid config (the push is then refused and the old config kept).
 */
export interface Router {
  readonly name: string;
  readonly order: number;
  configure(config: unknown): void;
  /**
   * Optional checks of a config pushed now, beyond `configure`'s (names that could never match):
   * throw an Error naming the field to refuse it. Not run on a stored config at start, which was
   * valid when it was pushed (a config `configure` itself refuses then is skipped for the file's).
   */
  checkNew?(config: unknown): void;
  route(ctx: RequestContext, input: RouteInput): RouteResult;
  /**
   * Label keys this router may add to any decision under its current config (a lane's
   * `env`). xDS serves a subset selector for each combination with the rules' key sets.
   */
  labelKeys?(): readonly string[];
}
