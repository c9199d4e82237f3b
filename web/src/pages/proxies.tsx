import { api, type Proxy } from '../api';
import { usePoll } from '../hooks';

export function ProxiesPage() {
  const { data, error } = usePoll(() => api<{ proxies: Proxy[] }>('GET', '/v1/proxies'), 2000, []);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Connected proxies</h1>
      <p>Envoys and proxyless gRPC clients on this server's xDS port; updated every 2 seconds.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {data && <p aria-live="polite" data-testid="proxy-count">{data.proxies.length} connected</p>}
      {data?.proxies.map((p) => (
        <article key={p.id} class="proxy" aria-labelledby={`proxy-${p.id}`} data-node={p.node?.id ?? ''}>
          <h2 id={`proxy-${p.id}`}>{p.node?.id || `stream ${p.id}`}</h2>
          <p class="muted">
            {p.node?.user_agent_name ?? 'unknown client'}{p.node?.cluster ? `, cluster ${p.node.cluster}` : ''}; {p.protocol} {p.service} from {p.peer}, since <time dateTime={p.opened_at}>{new Date(p.opened_at).toLocaleTimeString()}</time>
          </p>
          <div class="scroll">
            <table>
              <caption class="sr-only">xDS state of {p.node?.id || `stream ${p.id}`}</caption>
              <thead><tr><th scope="col">Type</th><th scope="col">Subscriptions</th><th scope="col">ACKed version</th><th scope="col">Convergence</th><th scope="col">NACK</th></tr></thead>
              <tbody>
                {Object.entries(p.types).map(([type, t]) => (
                  <tr key={type}>
                    <th scope="row">{type}</th>
                    <td>{t.wildcard ? 'all (wildcard)' : t.subscriptions.join(', ') || '—'}</td>
                    <td data-testid={`ack-${type}`}>{t.last_ack ? t.last_ack.version : 'none yet'}</td>
                    <td class="num">{t.last_ack ? `${t.last_ack.convergedMs} ms` : '—'}</td>
                    <td class={t.nack ? 'error' : ''}>{t.nack ? `version ${t.nack.version}: ${t.nack.error.message}` : 'none'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </article>
      ))}
    </section>
  );
}
