import { useState } from 'preact/hooks';
import { api, labelText, parsePairs, type Decision, type ExplainRequest, type Explanation, type Overview } from '../api';
import { describe, useLoad } from '../hooks';

function initialService(): string {
  const query = location.hash.split('?')[1] ?? '';
  return new URLSearchParams(query).get('service') ?? '';
}

export function decisionText(d: Decision): string {
  switch (d.kind) {
    case 'subset': return `subset ${labelText(d.labels ?? {})}`;
    case 'cluster': return `cluster ${d.cluster} ${labelText(d.labels ?? {})}`;
    case 'endpoints': return `endpoints ${(d.endpoints ?? []).join(', ')}`;
    case 'reject': return `reject ${d.status}: ${d.body}`;
    default: return `pass (${d.reason})`;
  }
}

/** The header changes besides the decision's own: `set name=value` lines, then `remove name`. */
function HeaderChanges({ mutation }: { mutation: Explanation['headerMutation'] }) {
  if (mutation.set.length === 0 && mutation.remove.length === 0) return <p data-testid="header-changes">None besides the decision's own.</p>;
  return (
    <ul data-testid="header-changes" class="changes wrap">
      {mutation.set.map((h, i) => <li key={`set ${i}`}>set <code>{h.key}={h.value}</code></li>)}
      {mutation.remove.map((name, i) => <li key={`remove ${i}`}>remove <code>{name}</code></li>)}
    </ul>
  );
}

/** Suggestions drawn per keystroke: all of 10,000 services took the page 1.6 s to type six characters. */
const MAX_SUGGESTIONS = 50;

function suggestions(services: ReadonlyArray<{ cluster: string }>, typed: string): string[] {
  const out: string[] = [];
  for (const { cluster } of services) {
    if (out.length === MAX_SUGGESTIONS) break;
    if (cluster.includes(typed)) out.push(cluster);
  }
  return out;
}

export function ExplainPage() {
  const services = useLoad(() => api<Overview>('GET', '/v1/overview'), []);
  const [form, setForm] = useState({ service: initialService(), method: 'GET', path: '/', query: '', headers: '', cookies: '', side: 'edge', callerService: '', callerNamespace: '', callerLabels: '', callerTransitive: '', claims: '', sourceAddress: '' });
  const [answer, setAnswer] = useState<Explanation | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const field = (name: keyof typeof form) => ({
    id: `explain-${name}`,
    name,
    value: form[name],
    onInput: (e: { currentTarget: { value: string } }) => setForm({ ...form, [name]: e.currentTarget.value }),
  });

  const submit = async (): Promise<void> => {
    setError(undefined);
    setAnswer(undefined);
    try {
      const headers = parsePairs(form.headers, ':');
      const cookies = parsePairs(form.cookies, '=');
      if (Object.keys(cookies).length) headers['cookie'] = Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
      const query = new URLSearchParams(parsePairs(form.query, '=')).toString();
      const body: ExplainRequest = { service: form.service, method: form.method, path: form.path + (query ? `${form.path.includes('?') ? '&' : '?'}${query}` : ''), headers, side: form.side as ExplainRequest['side'] };
      const transitive = form.callerTransitive.split(/[\s,]+/).filter((name) => name !== '');
      if (form.callerService) body.caller = { service: form.callerService, ...(form.callerNamespace && { namespace: form.callerNamespace }), labels: parsePairs(form.callerLabels, '='), ...(transitive.length > 0 && { transitive }) };
      if (form.sourceAddress.trim()) body.sourceAddress = form.sourceAddress.trim();
      if (form.claims.trim()) {
        try {
          body.claims = JSON.parse(form.claims);
        } catch (e) {
          throw new Error(`claims: not JSON (${(e as Error).message})`);
        }
      }
      setAnswer(await api<Explanation>('POST', '/explain', JSON.stringify(body)));
    } catch (e) {
      setError(describe(e as Error));
    }
  };

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Explain a request</h1>
      <p>The request goes through the same decision as ext_proc (guards, identity, callee, every router), on the live state, without being counted.</p>
      <form class="grid" onSubmit={(e) => (e.preventDefault(), void submit())}>
        <label for="explain-service">Service (cluster)</label>
        <input {...field('service')} list="explain-services" required placeholder="shop.default" />
        <datalist id="explain-services">{suggestions(services.data?.services ?? [], form.service).map((cluster) => <option key={cluster} value={cluster} />)}</datalist>
        <label for="explain-method">Method</label>
        <input {...field('method')} />
        <label for="explain-path">Path</label>
        <input {...field('path')} />
        <label for="explain-query">Query parameters (name=value, one per line)</label>
        <textarea {...field('query')} rows={2} />
        <label for="explain-headers">Headers (name: value, one per line)</label>
        <textarea {...field('headers')} rows={3} placeholder="x-canary: gray" />
        <label for="explain-cookies">Cookies (name=value, one per line)</label>
        <textarea {...field('cookies')} rows={2} />
        <label for="explain-side">Which call</label>
        <select {...field('side')}>
          <option value="edge">edge gateway (client headers untrusted)</option>
          <option value="outbound">sidecar outbound (a caller in the mesh)</option>
          <option value="inbound">sidecar inbound</option>
        </select>
        <label for="explain-callerService">Caller service</label>
        <input {...field('callerService')} />
        <label for="explain-callerNamespace">Caller namespace</label>
        <input {...field('callerNamespace')} placeholder="default" />
        <label for="explain-callerLabels">Caller labels (name=value, one per line)</label>
        <textarea {...field('callerLabels')} rows={2} />
        <label for="explain-callerTransitive">Caller labels that travel the call chain (names, comma-separated)</label>
        <input {...field('callerTransitive')} placeholder="env" />
        <label for="explain-sourceAddress">Client address (caller_ip; a gateway's Envoy sends it)</label>
        <input {...field('sourceAddress')} placeholder="203.0.113.7" />
        <label for="explain-claims">Verified claims (JSON)</label>
        <textarea {...field('claims')} rows={2} placeholder='{"sub": "alice"}' />
        <span />
        <button type="submit">Explain</button>
      </form>
      {error && <p role="alert" class="error">{error}</p>}
      {answer && (
        <div aria-live="polite">
          <h2>Decision</h2>
          <p data-testid="decision" class="decision">
            <strong>{decisionText(answer.decision)}</strong>
            {answer.service && <> for {answer.service}</>}
            {answer.rule && <> by rule <code>{answer.rule}</code></>}
            {answer.refused && <> (refused: {answer.refused})</>}
          </p>
          {answer.endpointsIgnored && (
            <p data-testid="endpoints-ignored" class="warning"><strong>Envoy ignores this endpoint list:</strong> {answer.endpointsIgnored}</p>
          )}
          {answer.labelsIgnored && (
            <p data-testid="labels-ignored" class="warning"><strong>Envoy ignores these labels:</strong> {answer.labelsIgnored}</p>
          )}
          <h2>Request header changes</h2>
          <HeaderChanges mutation={answer.headerMutation} />
          <div class="scroll">
            <table data-testid="steps">
              <caption>Each router's input and output</caption>
              <thead><tr><th scope="col">Router</th><th scope="col">Candidates in</th><th scope="col">Candidates out</th><th scope="col">Labels chosen</th><th scope="col">Note</th></tr></thead>
              <tbody>
                {answer.steps.map((s, i) => (
                  <tr key={i}>
                    <th scope="row">{s.router}</th>
                    <td class="num">{s.before}</td>
                    <td class="num">{s.after}</td>
                    <td>{labelText(s.labels)}</td>
                    <td>
                      {s.note}
                      {s.skipped.length > 0 && (
                        <ul data-testid="skipped" class="changes wrap">
                          {s.skipped.map((k) => <li key={k.destination}>passed over <code>{k.destination}</code> (priority {k.priority}): {k.reason}</li>)}
                        </ul>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}
