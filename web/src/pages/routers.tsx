import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type RouterEntry } from '../api';
import { describe, useLoad } from '../hooks';

export function RoutersPage() {
  const chain = useLoad(() => api<{ chain: RouterEntry[] }>('GET', '/v1/routers'), []);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Router chain</h1>
      <p>Routers run in ascending order; each narrows the candidates or decides. A pushed configuration is tried on the live router first and refused, changing nothing, if the router does not accept it.</p>
      {chain.error && <p role="alert" class="error">{chain.error}</p>}
      <ol class="chain" data-testid="chain">
        {chain.data?.chain.map((r) => <RouterCard key={r.name} router={r} pushed={chain.reload} />)}
      </ol>
    </section>
  );
}

function RouterCard({ router, pushed }: { router: RouterEntry; pushed: () => void }) {
  const [text, setText] = useState(JSON.stringify(router.config ?? {}, null, 2));
  /** The config this edit began from: the server refuses a push once it changed (If-Match), as it would be undone unseen. */
  const [base, setBase] = useState(router.etag);
  useEffect(() => setBase(router.etag), [router.etag]);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const id = `router-${router.name}`;
  const push = async (): Promise<void> => {
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch (e) {
      setStatus({ ok: false, text: `Not JSON: ${(e as Error).message}` });
      return;
    }
    try {
      await api('PUT', `/v1/routers/${encodeURIComponent(router.name)}/config`, JSON.stringify(config), 'application/json', { 'if-match': base });
      setStatus({ ok: true, text: 'Configured.' });
      pushed(); // the chain again, with this config's etag
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 412)) return setStatus({ ok: false, text: describe(e as Error) });
      const now = await current().catch(() => undefined);
      if (now) setBase(now.etag);
      setStatus({ ok: false, text: `The configuration changed since this page showed it; nothing was pushed. Now: ${JSON.stringify(now?.config ?? null)}. Push again to replace it with yours.` });
    }
  };
  const current = async (): Promise<RouterEntry> => {
    const { chain } = await api<{ chain: RouterEntry[] }>('GET', '/v1/routers');
    const entry = chain.find((r) => r.name === router.name);
    if (!entry) throw new Error(`router ${router.name} is no longer in the chain`);
    return entry;
  };
  return (
    <li class="router" data-router={router.name}>
      <h2 id={`${id}-title`}>{router.order} · {router.name}</h2>
      <label for={`${id}-config`}>Configuration of {router.name} (JSON)</label>
      <textarea id={`${id}-config`} rows={Math.min(12, text.split('\n').length + 1)} spellcheck={false} value={text} onInput={(e) => (setText(e.currentTarget.value), setStatus(undefined))} />
      <div class="row">
        <button type="button" onClick={() => void push()}>Push {router.name} configuration</button>
      </div>
      {status && <p role={status.ok ? 'status' : 'alert'} class={status.ok ? 'ok' : 'error'}>{status.text}</p>}
    </li>
  );
}
