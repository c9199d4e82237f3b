import { diffLines } from 'diff';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type RuleError } from '../api';
import { describe, useLoad } from '../hooks';

/** How the server reads a document's text (src/rules/parse.ts, restated: that module needs Node.js). */
type RuleFormat = 'yaml' | 'json';
/** `format` is missing from a server before it told one: `withFormat` fills it. */
interface LiveRules { version: number; origin: string; format?: RuleFormat; text: string }
interface History { versions: Array<{ version: number; origin: string; at: string; format?: RuleFormat; text: string }> }

/**
 * A document's format as the server tells it; a server from before it told one (a replica not yet
 * upgraded, behind the same address as the one that served this page) read it by its origin's
 * name (src/rules/parse.ts fileFormat, restated), and so does this.
 */
function withFormat<T extends { origin: string; format?: RuleFormat }>(doc: T): T & { format: RuleFormat } {
  return { ...doc, format: doc.format ?? (doc.origin.toLowerCase().endsWith('.json') ? 'json' : 'yaml') };
}

/** What a document is sent back as: a JSON one sent as YAML was stored as YAML, and read so by every replica. */
const MEDIA_TYPES: Record<RuleFormat, string> = { yaml: 'application/yaml', json: 'application/json' };

/** Validation runs this long after the last keystroke (the server checks one document at a time). */
const CHECK_DELAY_MS = 300;

/**
 * The edit not applied yet, and the live version it began from: kept while the tab is open, so
 * visiting another page, or the token prompt (which replaces the page), does not lose it.
 */
let kept: { draft: string; base: number; format: RuleFormat } | undefined;

export function RulesPage() {
  const live = useLoad(() => api<LiveRules>('GET', '/v1/rules').then(withFormat), []);
  const history = useLoad(() => api<History>('GET', '/v1/rules/history').then((h) => ({ versions: h.versions.map(withFormat) })), []);
  const [draft, setDraft] = useState<string | undefined>(kept?.draft);
  /** The live version this edit began from: Apply refuses once the live rules moved on, as it would undo that change unseen. */
  const [base, setBase] = useState<number | undefined>(kept?.base);
  /** The format of the document the draft was loaded from: the live one's, or a previous version's. */
  const [format, setFormat] = useState<RuleFormat>(kept?.format ?? 'yaml');
  const [errors, setErrors] = useState<RuleError[] | undefined>(undefined);
  const [checking, setChecking] = useState(false);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const editor = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLOListElement>(null);

  useEffect(() => {
    if (live.data && draft === undefined) (setDraft(live.data.text), setBase(live.data.version), setFormat(live.data.format));
  }, [live.data]);

  useEffect(() => {
    if (draft !== undefined && base !== undefined && live.data) kept = draft === live.data.text && format === live.data.format ? undefined : { draft, base, format };
  }, [draft, base, format, live.data]);

  useEffect(() => {
    if (draft === undefined) return;
    let current = true;
    setChecking(true);
    const timer = setTimeout(() => {
      api<{ ok: boolean; errors: RuleError[] }>('POST', '/v1/rules/check', draft, MEDIA_TYPES[format]).then(
        (r) => current && (setErrors(r.errors), setChecking(false)),
        (e: Error) => current && (setErrors([{ path: '', message: describe(e) }]), setChecking(false)),
      );
    }, CHECK_DELAY_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [draft, format]);

  const text = draft ?? '';
  const lines = text.split('\n');
  const errorLines = new Set((errors ?? []).map((e) => e.line).filter((l): l is number => l !== undefined));
  const changed = live.data !== undefined && (text !== live.data.text || format !== live.data.format);

  const goToLine = (line: number): void => {
    const area = editor.current;
    if (!area) return;
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  };

  /** Nothing was stored: the diff below moves to the version now live, for the operator to check before applying again. */
  const changedMeanwhile = async (): Promise<void> => {
    const now = await api<LiveRules>('GET', '/v1/rules');
    setBase(now.version);
    live.reload();
    setStatus({ ok: false, text: `The live rules changed since this edit began (now version ${now.version}, from ${now.origin}); nothing was applied. The changes below are now against version ${now.version}: check them, then Apply again.` });
  };

  const apply = async (): Promise<void> => {
    setStatus(undefined);
    try {
      // The page reads the live rules once: the server stores this edit only while the version it began from is live (If-Match),
      // so a change applied since (another console, the API) is never overwritten unseen.
      const result = await api<{ version: number }>('PUT', '/v1/rules', text, MEDIA_TYPES[format], base === undefined ? {} : { 'if-match': `"${base}"` });
      setBase(result.version);
      setStatus({ ok: true, text: `Applied: version ${result.version} is live.` });
      live.reload();
      history.reload();
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) return changedMeanwhile().catch((err: Error) => setStatus({ ok: false, text: err.message }));
      const details = e instanceof ApiError ? e.details.join('\n') : '';
      setStatus({ ok: false, text: `${(e as Error).message}${details ? `\n${details}` : ''}` });
    }
  };

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Rules</h1>
      {live.error && <p role="alert" class="error">{live.error}</p>}
      {live.data && (
        <p data-testid="live-version">
          Live: version {live.data.version}, from {live.data.origin} ({live.data.format.toUpperCase()}).{changed ? ' The editor differs from it.' : ''}
        </p>
      )}
      <div class="editor">
        <ol ref={gutter} class="gutter" aria-hidden="true">
          {lines.map((_, i) => (
            <li key={i} class={errorLines.has(i + 1) ? 'bad' : ''} data-line={i + 1}>{i + 1}</li>
          ))}
        </ol>
        <label for="rules-editor" class="sr-only">Rule document ({format.toUpperCase()})</label>
        <textarea
          id="rules-editor"
          ref={editor}
          spellcheck={false}
          wrap="off"
          value={text}
          aria-invalid={errors !== undefined && errors.length > 0}
          aria-describedby="rules-check"
          onInput={(e) => setDraft(e.currentTarget.value)}
          onScroll={(e) => gutter.current && (gutter.current.scrollTop = e.currentTarget.scrollTop)}
        />
      </div>
      <div id="rules-check" aria-live="polite" data-testid="rules-check">
        {checking ? <p class="muted">Checking…</p> : errors === undefined ? null : errors.length === 0 ? (
          <p class="ok">Valid.</p>
        ) : (
          <ul class="errors">
            {errors.map((e, i) => (
              <li key={i} data-line={e.line}>
                {e.line !== undefined ? <button type="button" class="link" onClick={() => goToLine(e.line!)}>Line {e.line}{e.column !== undefined ? `:${e.column}` : ''}</button> : 'Document'}
                {': '}{e.path && <code>{e.path}</code>}{e.path && ': '}{e.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      <div class="row">
        <button type="button" disabled={!changed || checking || (errors?.length ?? 0) > 0} onClick={() => void apply()}>Apply</button>
        <button type="button" disabled={!changed} onClick={() => live.data && (setDraft(live.data.text), setBase(live.data.version), setFormat(live.data.format))}>Revert to live</button>
      </div>
      {status && <p role={status.ok ? 'status' : 'alert'} class={status.ok ? 'ok pre' : 'error pre'} data-testid="apply-status">{status.text}</p>}

      <h2>Changes against the live version</h2>
      {live.data && <Diff before={live.data.text} after={text} />}

      <h2>Previous versions</h2>
      {history.error && <p role="alert" class="error">{history.error}</p>}
      {history.data && (
        <ul class="history" data-testid="history">
          {history.data.versions.map((v) => (
            <li key={v.version}>
              Version {v.version} from {v.origin} ({v.format.toUpperCase()}), applied <time dateTime={v.at}>{new Date(v.at).toLocaleString()}</time>{' '}
              <button type="button" onClick={() => (setDraft(v.text), setFormat(v.format), editor.current?.focus())}>Load version {v.version} into the editor</button>
            </li>
          ))}
        </ul>
      )}
      <p class="muted">Versions applied by this server since it started; every document that is stored has been validated.</p>
    </section>
  );
}

function Diff({ before, after }: { before: string; after: string }) {
  if (before === after) return <p>No changes.</p>;
  const parts = diffLines(before, after);
  return (
    <pre class="diff" data-testid="diff" tabIndex={0} aria-label="Diff against the live rules">
      {parts.map((p, i) => {
        const body = p.value.replace(/\n$/, '').split('\n');
        if (!p.added && !p.removed) {
          const shown = body.length > 6 ? [...body.slice(0, 2), '…', ...body.slice(-2)] : body;
          return <span key={i}>{shown.map((l) => `  ${l}\n`).join('')}</span>;
        }
        return <span key={i} class={p.added ? 'add' : 'del'}>{body.map((l) => `${p.added ? '+' : '-'} ${l}\n`).join('')}</span>;
      })}
    </pre>
  );
}
