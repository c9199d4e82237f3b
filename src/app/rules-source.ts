import * as fs from 'node:fs';
import type { RuleSnapshot } from '../model/rule';
import type { Logger } from '../log/logger';
import type { Store, StoreEvent } from '../store/store';
import { resultInSlices, type Steps } from '../model/slices';
import { compileSteps, EMPTY_RULES, fileFormat, formatRuleErrors, ruleCounts, unpackSteps, type PackedDocument, type RuleError, type RuleFormat } from '../rules';
import type { RulesChecker } from './rules-checker';

/** Where the rule document is stored. */
export const RULES_KEY = 'rules';
/** How often a rules file is looked at (polling: a Kubernetes ConfigMap volume swaps a symlinked directory). */
const FILE_POLL_MS = 250;
/** An editor that truncates before it writes leaves the file empty for a moment: that must not delete every rule. */
const EMPTY_FILE = 'the rules file is empty (a save in progress?): refused, since it would delete every rule; to have no rules, write `rules: []`';

interface StoredRules {
  readonly text: string;
  readonly origin: string;
  /** How the text is read (JSON when the API was sent JSON); records written before it existed: by the origin's name. */
  readonly format?: RuleFormat;
  /** Counts rule documents (1 for the first), not store writes. Records written before it existed read as 1. */
  readonly version?: number;
}

export type RuleUpdate =
  | { ok: true; version: number }
  | { ok: false; errors: RuleError[]; message: string }
  /**
   * Another update was stored since this replica last applied one (its version is `version`), or
   * (`precondition`) since the version the caller read: nothing was stored.
   */
  | { ok: false; conflict: true; precondition?: true; version: number; message: string };

const KEEPING = 'the previous rules keep serving';

/** A rules file's text replaces what another writer stored meanwhile: tries after a conflict before it counts as a failure. */
const FILE_CONFLICT_TRIES = 3;

function preconditionFailed(version: number, expected: number): RuleUpdate {
  return { ok: false, conflict: true, precondition: true, version, message: `the rules are at version ${version}, not ${expected} (If-Match): nothing was stored; read them and try again` };
}

/** The live rule document: its text, where it came from, and how it is read (an editor sends it back as that). */
export interface RulesDocument {
  readonly text: string;
  readonly origin: string;
  readonly format: RuleFormat;
}

/** A rule document this replica applied. */
export interface AppliedRules extends RulesDocument {
  readonly version: number;
  /** When it was applied here (ms since the epoch). */
  readonly at: number;
}

/** Applied documents kept for the console's history (this replica's, since it started). */
export const RULES_HISTORY = 20;

/** A valid rules-file text the store did not take: retried after 1 s, doubling up to 30 s. */
const FILE_RETRY_FIRST_MS = 1000;
const FILE_RETRY_MAX_MS = 30_000;

/** A valid rules-file text not yet stored (etcd down): its next attempt. */
interface PendingFile {
  /** When its last attempt failed (ms since the epoch). */
  readonly failedAt: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * Where the live rule snapshot comes from. Every update (rules file edit, admin API PUT)
 * is validated first and only a valid document is written to the store; the store's
 * watch then compiles and swaps it in, on this replica and every other. Each stored
 * document is the next rule version. An invalid update changes nothing and says why.
 * Parsing and validating happen in the rules worker (RulesChecker); stored documents are
 * applied one at a time, in store order, and only unpacking and compiling run on this thread,
 * in slices between event-loop turns. The new snapshot replaces the old in one assignment
 * after the last slice: a request sees the old rules or the new ones, never a mix.
 */
export class RulesSource {
  private snapshotValue: RuleSnapshot = EMPTY_RULES;
  private stored: StoredRules = { text: '', origin: 'none' };
  private readonly listeners = new Set<(snapshot: RuleSnapshot) => void>();
  private unwatch: (() => void) | undefined;
  private watchedFile: string | undefined;
  private firstLook: NodeJS.Timeout | undefined;
  private storedVersion = 0;
  /** The store's value of the rules key as delivered (ahead of `storedVersion` while applying): what a conditional put expects. */
  private storedValue: string | undefined;
  private lastReloadValue: { ok: boolean; at: number } | undefined;
  /** The stored documents being applied, in order. */
  private applying: Promise<void> = Promise.resolve();
  /** The document this replica validated last, so applying it does not check it twice. */
  private validated: { readonly text: string; readonly format: RuleFormat; readonly document: PackedDocument } | undefined;
  private readonly applied: AppliedRules[] = [];
  /** File reloads and their retries run one at a time, so an older text never lands after a newer one. */
  private fileWork: Promise<void> = Promise.resolve();
  /** Counts file changes: an attempt for an older text gives way to the newest. */
  private fileEdits = 0;
  private pendingFile: PendingFile | undefined;
  private stopped = false;
  private prepare: ((snapshot: RuleSnapshot) => Promise<void>) | undefined;

  constructor(private readonly store: Store, private readonly checker: RulesChecker, private readonly log: Logger) {}

  get snapshot(): RuleSnapshot {
    return this.snapshotValue;
  }

  /**
   * Whether the rules from the rules file and the store are in force, and since when (ms since the
   * epoch): not after a refused file edit, while a file's valid text waits for the store, or after a
   * stored document this version refuses; older rules serve then. A refused API update changes
   * nothing and is the caller's to see: it does not count here.
   */
  get lastReload(): { ok: boolean; at: number } | undefined {
    return this.pendingFile ? { ok: false, at: this.pendingFile.failedAt } : this.lastReloadValue;
  }

  /** The configured rules file; while there is one, it is the only source of rules. */
  get file(): string | undefined {
    return this.watchedFile;
  }

  /** The stored document the current rules were compiled from, with its format (by its origin's name for a record from before the format was stored). */
  get document(): StoredRules & RulesDocument {
    return { ...this.stored, format: formatOf(this.stored) };
  }

  /** The documents applied on this replica since it started, newest first (at most RULES_HISTORY). */
  get history(): readonly AppliedRules[] {
    return this.applied;
  }

  /** Validates a document without storing it (the console's editor): its errors, each with line and path. */
  async check(text: string, format: RuleFormat): Promise<readonly RuleError[]> {
    const checked = await this.checker.check(text, 'editor', true, format);
    return checked.ok ? [] : checked.errors;
  }

  /**
   * Runs `prepare` on each new snapshot before it is swapped in: xDS computes the policies the
   * rollout's rebuild asks for in slices (that rebuild runs in one go, before the PUT answers).
   */
  prepareWith(prepare: (snapshot: RuleSnapshot) => Promise<void>): void {
    this.prepare = prepare;
  }

  onChange(listener: (snapshot: RuleSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads the stored rules; with a rules file, that file (which must be valid) replaces them and is watched. */
  async start(rulesFile: string | undefined): Promise<void> {
    const { entries, revision } = await this.store.list(RULES_KEY);
    const current = entries.find((e) => e.key === RULES_KEY);
    if (current) this.apply({ type: 'put', key: RULES_KEY, value: current.value, revision });
    this.unwatch = this.store.watch(RULES_KEY, revision, (event) => this.apply(event));
    await this.applying;
    if (rulesFile) {
      const text = fs.readFileSync(rulesFile, 'utf8');
      if (text.trim() === '') throw new Error(`rules file rejected: ${rulesFile}: ${EMPTY_FILE}`);
      const result = await this.loggingStoreFailure(rulesFile, () => this.storeFileText(text, rulesFile, 'metaroute does not start on an invalid rules file'));
      if (!result.ok) throw new Error(`rules file rejected:\n${result.message}`);
      this.watchedFile = rulesFile;
      const reload = () => this.queueFile(this.reloadFile.bind(this, rulesFile, ++this.fileEdits));
      fs.watchFile(rulesFile, { interval: FILE_POLL_MS }, (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) reload();
      });
      // The watch compares with its own first look at the file, taken a moment later: an edit
      // between the read above and that look is no change to it. One more read catches it.
      this.firstLook = setTimeout(reload, 2 * FILE_POLL_MS).unref();
    }
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    clearTimeout(this.firstLook);
    if (this.watchedFile) fs.unwatchFile(this.watchedFile);
    this.dropPendingFile();
  }

  /**
   * Validates and, if valid, stores a new rule document. Resolves once it is durable and compiled;
   * with a conflict when another update was stored since this replica applied the last one, or
   * since version `expected` (an editor's If-Match: stored only on top of what it read).
   */
  update(text: string, origin: string, expected?: number, format = fileFormat(origin)): Promise<RuleUpdate> {
    return this.loggingStoreFailure(origin, () => this.validateAndStore(text, origin, format, KEEPING, false, expected));
  }

  private async loggingStoreFailure(origin: string, store: () => Promise<RuleUpdate>): Promise<RuleUpdate> {
    try {
      return await store();
    } catch (error) {
      this.log.error({ event: 'store.failed', source: origin, err: error }, 'storing the rules failed; the previous rules keep serving');
      throw error;
    }
  }

  /** A rules file is the one source of rules: after a conflict (this replica has now seen that write) it tries again; a lasting one throws. */
  private async storeFileText(text: string, file: string, refused: string): Promise<RuleUpdate> {
    for (let tries = 1; ; tries++) {
      const result = await this.validateAndStore(text, file, fileFormat(file), refused, true);
      if (!('conflict' in result)) return result;
      if (tries === FILE_CONFLICT_TRIES) throw new Error(result.message);
    }
  }

  /**
   * `refused` ends a refusal's log line; a store failure is thrown for the caller to log (a rules
   * file's retries say which attempt failed). `fromFile`: the outcome is the rules file's, so
   * `lastReload` tells it.
   */
  private async validateAndStore(text: string, origin: string, format: RuleFormat, refused: string, fromFile: boolean, expected?: number): Promise<RuleUpdate> {
    if (text === this.stored.text && format === formatOf(this.stored)) {
      // Already valid and live: a bad edit reverted to it is an update that is in force again.
      if (fromFile) this.lastReloadValue = { ok: true, at: Date.now() };
      return { ok: true, version: this.snapshotValue.version };
    }
    const checked = await this.checker.check(text, origin, true, format);
    if (!checked.ok) {
      if (fromFile) this.lastReloadValue = { ok: false, at: Date.now() };
      this.log.warn({ event: 'rules.refused', source: origin, errors: checked.errors.length, keeping: this.snapshotValue.version, detail: formatRuleErrors(checked.errors, origin) }, `rules refused; ${refused}`);
      return { ok: false, errors: checked.errors, message: formatRuleErrors(checked.errors, origin) };
    }
    this.validated = { text, format, document: checked.document };
    await this.settled();
    // Checked against what the store holds now, and held by putIf's comparison below: no write lands between.
    if (expected !== undefined && this.storedVersion !== expected) return preconditionFailed(this.storedVersion, expected);
    const version = this.storedVersion + 1;
    // Only if no other update was stored meanwhile: two would both be `version` and one lost.
    if ((await this.store.putIf(RULES_KEY, JSON.stringify({ text, origin, format, version } satisfies StoredRules), this.storedValue)) === undefined) {
      await this.settled();
      if (text === this.stored.text && format === formatOf(this.stored)) return { ok: true, version: this.snapshotValue.version }; // the other writer stored this very document
      if (expected !== undefined) return preconditionFailed(this.storedVersion, expected);
      return { ok: false, conflict: true, version: this.storedVersion, message: `the rules changed meanwhile (version ${this.storedVersion}); read them and try again` };
    }
    await this.applying;
    return { ok: true, version };
  }

  /** Waits until every store event delivered so far is applied, so `storedValue` and `storedVersion` agree. */
  private async settled(): Promise<void> {
    let applying: Promise<void>;
    do await (applying = this.applying);
    while (applying !== this.applying);
  }

  private queueFile(job: () => Promise<void>): void {
    this.fileWork = this.fileWork.then(job);
  }

  private async reloadFile(file: string, edit: number): Promise<void> {
    if (edit !== this.fileEdits) return; // a newer change is queued and reads the file itself
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      return this.refuseFile(file, 'rules file unreadable', error);
    }
    if (text.trim() === '') return this.refuseFile(file, EMPTY_FILE);
    await this.storeFile(file, text, edit, 1);
  }

  /** A file change not taken: logged, and an older text no longer waits for the store. */
  private refuseFile(file: string, why: string, err?: unknown): void {
    this.dropPendingFile();
    this.lastReloadValue = { ok: false, at: Date.now() };
    this.log.warn({ event: 'rules.refused', source: file, keeping: this.snapshotValue.version, ...(err !== undefined && { err }) }, `${why}; ${KEEPING}`);
  }

  /**
   * Validates and stores the file's text. When the store does not take it (etcd down), the
   * text stays pending and is tried again with backoff until stored, the file changes again
   * (the newest text wins) or this stops; `rules.loaded` reports the success.
   */
  private async storeFile(file: string, text: string, edit: number, attempt: number): Promise<void> {
    if (edit !== this.fileEdits || this.stopped) return;
    try {
      await this.storeFileText(text, file, KEEPING); // logs a refusal itself
      this.dropPendingFile();
    } catch (error) {
      if (edit !== this.fileEdits || this.stopped) return;
      const retryInMs = Math.min(FILE_RETRY_FIRST_MS * 2 ** (attempt - 1), FILE_RETRY_MAX_MS);
      this.log.error({ event: 'store.failed', source: file, attempt, retryInMs, err: error }, 'storing the rules file failed; the previous rules keep serving and the file is tried again');
      this.dropPendingFile();
      const timer = setTimeout(() => this.queueFile(() => this.storeFile(file, text, edit, attempt + 1)), retryInMs);
      this.pendingFile = { failedAt: Date.now(), timer };
    }
  }

  private dropPendingFile(): void {
    if (this.pendingFile) clearTimeout(this.pendingFile.timer);
    this.pendingFile = undefined;
  }

  private apply(event: StoreEvent): void {
    if (event.key !== RULES_KEY) return;
    this.storedValue = event.value;
    this.applying = this.applying
      .then(() => this.applyStored(event))
      .catch((error: Error) => this.log.error({ event: 'rules.refused', revision: event.revision, err: error }, 'stored rules not applied'));
  }

  private async applyStored(event: StoreEvent): Promise<void> {
    const stored: StoredRules = event.type === 'put' ? (JSON.parse(event.value!) as StoredRules) : { text: '', origin: 'none', version: this.storedVersion + 1 };
    const version = stored.version ?? 1;
    this.storedVersion = version;
    const format = formatOf(stored);
    const known = this.validated?.text === stored.text && this.validated.format === format ? this.validated.document : undefined;
    const checked = known ? { ok: true as const, document: known } : await this.checker.check(stored.text, stored.origin, false, format);
    if (!checked.ok) {
      // Only validated documents are stored; this means a different metaroute version wrote it.
      this.lastReloadValue = { ok: false, at: Date.now() };
      this.log.error({ event: 'rules.refused', source: stored.origin, version, keeping: this.snapshotValue.version, detail: formatRuleErrors(checked.errors, stored.origin) }, 'stored rules refused');
      return;
    }
    const document = checked.document;
    const snapshot = await resultInSlices(unpackAndCompile(document, version));
    // A failure here must not keep the rules out: the rollout's rebuild computes what is missing (and logs its own failure).
    await this.prepare?.(snapshot).catch((error: Error) => this.log.error({ event: 'xds.rebuild.failed', err: error }, 'xds: preparing the policies of the new rules failed'));
    if (this.stopped) return;
    this.stored = stored;
    this.snapshotValue = snapshot;
    this.lastReloadValue = { ok: true, at: Date.now() };
    this.applied.unshift({ version, origin: stored.origin, at: this.lastReloadValue.at, text: stored.text, format });
    if (this.applied.length > RULES_HISTORY) this.applied.pop();
    this.log.info({ event: 'rules.loaded', source: stored.origin, version, ...ruleCounts(this.snapshotValue) }, 'rules loaded');
    for (const listener of this.listeners) listener(this.snapshotValue);
  }
}

function formatOf(stored: StoredRules): RuleFormat {
  return stored.format ?? fileFormat(stored.origin);
}

/** A checked document to its snapshot (a generator of its own, not a closure made per call: see `resultInSlices`). */
function* unpackAndCompile(document: PackedDocument, version: number): Steps<RuleSnapshot> {
  return yield* compileSteps(yield* unpackSteps(document), version);
}
