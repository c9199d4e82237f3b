import { useState } from 'preact/hooks';
import { api, type Overview } from '../api';
import { usePoll } from '../hooks';

/** Services listed at most: the table is drawn again at every poll, and 10,000 rows held the page 0.3 s each time. */
const SHOWN = 200;

export function OverviewPage() {
  const { data, error } = usePoll(() => api<Overview>('GET', '/v1/overview'), 5000, []);
  const [filter, setFilter] = useState('');
  const matching = data?.services.filter((s) => !filter || `${s.namespace}/${s.service}`.includes(filter) || s.cluster.includes(filter)) ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Overview</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {!data ? !error && <p>Loading…</p> : (
        <>
          <dl class="cards">
            <div><dt>Server</dt><dd data-testid="phase">{data.phase}</dd><dd class="muted">metaroute {data.version}</dd></div>
            <div><dt>Store</dt><dd data-testid="store">{data.store.kind}</dd><dd class="muted wrap">{data.store.where}</dd></div>
            <div>
              <dt>Rules</dt>
              <dd data-testid="rules-version">version {data.rules.version}</dd>
              <dd class="muted">{data.rules.rules} rules, {data.rules.metadataRoutes} metadata routes, from {data.rules.origin}</dd>
              {data.rules.lastReload && !data.rules.lastReload.ok && <dd class="error">older rules serve than the rules file or store holds (the log says why: rules.refused, store.failed)</dd>}
            </div>
            <div><dt>Connected proxies</dt><dd data-testid="proxies">{data.proxies}</dd><dd class="muted"><a href="#/proxies">xDS streams</a></dd></div>
          </dl>
          <div class="row" role="search">
            <label for="service-filter">Find a service</label>
            <input id="service-filter" type="search" value={filter} placeholder="shop" aria-describedby="service-shown" onInput={(e) => setFilter(e.currentTarget.value.trim())} />
          </div>
          <p id="service-shown" aria-live="polite" data-testid="services-shown">
            {matching.length > SHOWN ? `The first ${SHOWN} of ${matching.length} ${filter ? 'matching ' : ''}services are listed: give part of a name to find one.` : filter ? `${matching.length} of ${data.services.length} services match.` : ''}
          </p>
          <div class="scroll">
            <table>
              <caption>Services ({data.services.length})</caption>
              <thead>
                <tr><th scope="col">Service</th><th scope="col">Cluster</th><th scope="col">Healthy / total</th></tr>
              </thead>
              <tbody>
                {matching.slice(0, SHOWN).map((s) => (
                  <tr key={s.cluster}>
                    <th scope="row"><a href={`#/service/${encodeURIComponent(s.namespace)}/${encodeURIComponent(s.service)}`}>{s.namespace}/{s.service}</a></th>
                    <td>{s.cluster}</td>
                    <td class={s.healthy < s.instances ? 'warn num' : 'num'}>{s.healthy} / {s.instances}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
