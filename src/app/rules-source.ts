import * as fs from 'node:fs';
import type { RuleSnapshot } from '../model/rule';
import type { Store, StoreEvent } from '../store/store';
import { EMPTY_RULES, formatRuleErrors, loadRules, type RuleError } from '../rules';

const RULES_KEY = 'rules';

interface StoredRules {
  readonly text: string;
  readonly origin: string;
}

export type RuleUpdate = { ok: true; version: number } | { ok: false; errors: RuleError[]; message: string };

/**
 * Where the live rule snapshot comes from. Every update (rules file edit, admin API PUT)
 * is validated first and only a valid document is written to the store; the store's
 * watch then compiles and swaps it in, on this replica and every other. The store
 * revision is the rule version. An invalid update changes nothing and says why.
 */
export class RulesSource {
  private snapshotValue: RuleSnapshot = EMPTY_RULES;
  private stored: StoredRules = { text: '', origin: 'none' };
  private readonly listeners = new Set<(snapshot: RuleSnapshot) => void>();
  private unwatch: (() => void) | undefined;
  private watchedFile: string | undefined;

  constructor(private readonly store: Store, private readonly log: (msg: string) => void) {}

  get snapshot(): RuleSnapshot {
    return this.snapshotValue;
  }

  /** The text the current rules were compiled from, and where it came from. */
  get document(): StoredRules {
    return this.stored;
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
    if (rulesFile) {
      const result = await this.update(fs.readFileSync(rulesFile, 'utf8'), rulesFile);
      if (!result.ok) throw new Error(`rules file rejected:\n${result.message}`);
      this.watchedFile = rulesFile;
      fs.watchFile(rulesFile, { interval: 250 }, (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) void this.reloadFile(rulesFile);
      });
    }
  }

  stop(): void {
    this.unwatch?.();
    if (this.watchedFile) fs.unwatchFile(this.watchedFile);
  }

  /** Validates and, if valid, stores a new rule document. Resolves once it is durable and live. */
  async update(text: string, origin: string): Promise<RuleUpdate> {
    if (text === this.stored.text) return { ok: true, version: this.snapshotValue.version }; // already valid and live
    const checked = loadRules(text, origin, 0);
    if (!checked.ok) return { ok: false, errors: checked.errors, message: formatRuleErrors(checked.errors, origin) };
    const version = await this.store.put(RULES_KEY, JSON.stringify({ text, origin } satisfies StoredRules));
    return { ok: true, version };
  }

  private async reloadFile(file: string): Promise<void> {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      this.log(`rules file ${file} unreadable, keeping rules v${this.snapshotValue.version}: ${(error as Error).message}`);
      return;
    }
    const result = await this.update(text, file);
    if (result.ok) this.log(`rules file ${file} loaded as v${result.version}`);
    else this.log(`rules file ${file} rejected, keeping rules v${this.snapshotValue.version}:\n${result.message}`);
  }

  private apply(event: StoreEvent): void {
    if (event.key !== RULES_KEY) return;
    const stored: StoredRules = event.type === 'put' ? (JSON.parse(event.value!) as StoredRules) : { text: '', origin: 'none' };
    const result = loadRules(stored.text, stored.origin, event.revision);
    if (!result.ok) {
      // Only validated documents are stored; this means a different metaroute version wrote it.
      this.log(`stored rules v${event.revision} rejected, keeping v${this.snapshotValue.version}:\n${formatRuleErrors(result.errors, stored.origin)}`);
      return;
    }
    this.stored = stored;
    this.snapshotValue = result.snapshot;
    for (const listener of this.listeners) listener(result.snapshot);
  }
}
