import type { MetadataRoute } from '../model/rule';
import type { Steps } from '../model/slices';
import type { RuleDocument, RuleSpec } from './schema';

/**
 * A validated document as the rules worker sends it to the routing thread: each rule and
 * metadata route as its own JSON text. Receiving the object graph of a 1,000-rule document
 * (structured clone, deserialized in one piece before the message handler runs) held the
 * routing thread 5-25 ms; a thousand strings take about 0.1 ms, and each is parsed in a step
 * of its own when the document is compiled (`unpackSteps`), so the parse runs in slices.
 */
export interface PackedDocument {
  readonly rules: readonly string[];
  readonly metadataRoutes: readonly string[];
}

export function packDocument(document: RuleDocument): PackedDocument {
  return { rules: document.rules.map((rule) => JSON.stringify(rule)), metadataRoutes: document.metadataRoutes.map((route) => JSON.stringify(route)) };
}

/** The document again, one rule or route parsed per step. A validated document survives JSON unchanged (plain data, no undefined values). */
export function* unpackSteps(packed: PackedDocument): Steps<RuleDocument> {
  const rules: RuleSpec[] = [];
  for (const text of packed.rules) {
    rules.push(JSON.parse(text) as RuleSpec);
    yield;
  }
  const metadataRoutes: MetadataRoute[] = [];
  for (const text of packed.metadataRoutes) {
    metadataRoutes.push(JSON.parse(text) as MetadataRoute);
    yield;
  }
  return { rules, metadataRoutes };
}
