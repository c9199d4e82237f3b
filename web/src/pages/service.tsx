import { useEffect, useState } from 'preact/hooks';
import { api, labelText, type ServiceDetail, type Split } from '../api';
import { usePoll } from '../hooks';
import { SplitChart } from '../split-chart';

const PAGE = 50;

export function ServicePage({ namespace, service }: { namespace: string; service: string }) {
  const base = `/v1/services/${encodeURIComponent(namespace)}/${encodeURIComponent(service)}`;
  const [filter, setFilter] = useState('');
  const [applied, setApplied] = useState('');
  const [offset, setOffset] = useState(0);
  // Polled like the split beside it: registrations, heartbeats and expiries show without a reload.
  const detail = usePoll(() => api<ServiceDetail>('GET', `${base}?offset=${offset}&limit=${PAGE}&filter=${encodeURIComponent(applied)}`), 2000, [base, offset, applied]);
  const split = usePoll(() => api<Split>('GET', `${base}/split`), 2000, [base]);
  // A refused request (a bad filter) shows its error alone: the last answer is another filter's or page's.
  const d = detail.error ? undefined : detail.data;
  // Instances gone since the page was opened: show the last page that still has some.
  useEffect(() => {
    if (d && d.page.offset === offset && offset > 0 && offset >= d.page.matching) setOffset(Math.max(0, Math.ceil(d.page.matching / PAGE) - 1) * PAGE);
  }, [d]);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Service {namespace}/{service}</h1>
      {detail.error && <p role="alert" class="error">{detail.error}</p>}
      {d && (
        <p data-testid="service-counts">
          {d.summary.healthy} healthy of {d.summary.instances} instances; Envoy cluster <code>{d.summary.cluster}</code>.{' '}
          <a href={`#/explain?service=${encodeURIComponent(d.summary.cluster)}`}>Explain a request</a>
        </p>
      )}

      <h2>Live split of decisions</h2>
      {split.error && <p role="alert" class="error">{split.error}</p>}
      {split.data ? <SplitChart split={split.data} /> : !split.error && <p>Loading…</p>}

      <h2>Subsets used by rules and routers</h2>
      {d && (d.subsets.length === 0 ? <p>No rule or router selects subsets of this service.</p> : (
        <div class="scroll">
          <table data-testid="subsets">
            <caption class="sr-only">Subsets with their sizes</caption>
            <thead><tr><th scope="col">Selector keys</th><th scope="col">Labels</th><th scope="col">Healthy / instances</th></tr></thead>
            <tbody>
              {d.subsets.map((s) => (
                <tr key={s.keys.join() + labelText(s.labels)}>
                  <td>{s.keys.join(', ')}</td>
                  <th scope="row">{labelText(s.labels)}</th>
                  <td class="num">{s.healthy} / {s.instances}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {d.subsetsOmitted > 0 && <p data-testid="subsets-omitted">The {d.subsets.length} largest subsets are shown; {d.subsetsOmitted} smaller ones are not.</p>}
        </div>
      ))}

      <h2>Instances</h2>
      <form
        class="row"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setApplied(filter);
        }}
      >
        <label for="filter">Filter</label>
        <input id="filter" type="search" value={filter} placeholder="version=v2 healthy 10.0." aria-describedby="filter-help" onInput={(e) => setFilter(e.currentTarget.value)} />
        <button type="submit">Apply filter</button>
        <span id="filter-help" class="muted">All terms must match: <code>key=value</code> labels, <code>healthy</code>, <code>unhealthy</code>, or part of the id or address.</span>
      </form>
      {d && (
        <>
          <p aria-live="polite" data-testid="matching">
            {d.page.matching === 0 ? 'No instance matches.' : `Instances ${d.page.offset + 1}–${d.page.offset + d.page.instances.length} of ${d.page.matching}${applied ? ' matching' : ''}`}
          </p>
          <div class="scroll">
            <table data-testid="instances">
              <caption class="sr-only">Instances</caption>
              <thead>
                <tr><th scope="col">Id</th><th scope="col">Address</th><th scope="col">Labels</th><th scope="col">Weight</th><th scope="col">Health</th><th scope="col">Locality</th><th scope="col">Last heartbeat</th></tr>
              </thead>
              <tbody>
                {d.page.instances.map((i) => (
                  <tr key={i.id}>
                    <th scope="row">{i.id}</th>
                    <td>{i.host}:{i.port}</td>
                    <td>{Object.keys(i.metadata).length ? labelText(i.metadata) : '—'}</td>
                    <td class="num">{i.weight}</td>
                    <td class={i.healthy ? '' : 'warn'}>{i.healthy ? 'healthy' : 'unhealthy'}</td>
                    <td>{[i.locality.region, i.locality.zone, i.locality.campus].filter(Boolean).join(' / ') || '—'}</td>
                    <td>{i.lastHeartbeat ? <time dateTime={i.lastHeartbeat}>{new Date(i.lastHeartbeat).toLocaleTimeString()}</time> : 'persistent'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="row" aria-label="Instance pages">
            <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>Previous page</button>
            <button type="button" disabled={offset + PAGE >= d.page.matching} onClick={() => setOffset(offset + PAGE)}>Next page</button>
          </nav>
        </>
      )}
    </section>
  );
}
