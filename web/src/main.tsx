import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { setToken, token, whenAuthNeeded } from './api';
import { ExplainPage } from './pages/explain';
import { OverviewPage } from './pages/overview';
import { ProxiesPage } from './pages/proxies';
import { RoutersPage } from './pages/routers';
import { RulesPage } from './pages/rules';
import { ServicePage } from './pages/service';
import './styles.css';

/** Pages by hash (`#/service/default/shop`): the admin server serves one file, any page reloads. */
const NAV = [
  { hash: '#/', label: 'Overview' },
  { hash: '#/rules', label: 'Rules' },
  { hash: '#/explain', label: 'Explain' },
  { hash: '#/proxies', label: 'Proxies' },
  { hash: '#/routers', label: 'Routers' },
];

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const changed = (): void => setHash(location.hash || '#/');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function page(hash: string) {
  const [, name = '', ...rest] = hash.split('?')[0]!.split('/').map(decodeURIComponent);
  switch (name) {
    case '':
      return <OverviewPage />;
    case 'service':
      return <ServicePage key={rest.join('/')} namespace={rest[0] ?? ''} service={rest[1] ?? ''} />;
    case 'rules':
      return <RulesPage />;
    case 'explain':
      return <ExplainPage />;
    case 'proxies':
      return <ProxiesPage />;
    case 'routers':
      return <RoutersPage />;
    default:
      return <p role="alert">No page {hash}. <a href="#/">Overview</a></p>;
  }
}

function TokenPrompt({ status, done }: { status: number; done: () => void }) {
  const [value, setValue] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <form
      class="token"
      aria-labelledby="token-title"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim() || null);
        done();
      }}
    >
      <h2 id="token-title">{status === 403 ? 'This token may not use the admin API' : 'The admin API needs a token'}</h2>
      {status === 401 && token() !== null && <p role="alert" class="error">The server did not accept the token given: it is none of its <code>auth.tokens</code> (mistyped, or removed since).</p>}
      <p>Give an admin token from the server's <code>auth.tokens</code>. It is kept for this browser tab only.</p>
      <label for="token-input">Admin token</label>
      <input id="token-input" ref={input} type="password" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">Use token</button>
    </form>
  );
}

function App() {
  const hash = useHash();
  const [auth, setAuth] = useState<number | undefined>(undefined);
  const [round, setRound] = useState(0);
  const main = useRef<HTMLElement>(null);
  useEffect(() => whenAuthNeeded((status) => setAuth(status)), []);
  // A page change moves focus to the new page's content, as a page load would (not the first load: Tab starts at the skip link).
  const shown = useRef(hash);
  useEffect(() => {
    if (shown.current !== hash) main.current?.focus();
    shown.current = hash;
  }, [hash]);
  const current = '#/' + (hash.split('?')[0]!.split('/')[1] ?? '');
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>Skip to content</a>
      <header>
        <span class="brand">metaroute</span>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.hash}>
                <a href={n.hash} aria-current={current === n.hash || (n.hash === '#/' && current === '#/service') ? 'page' : undefined}>{n.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        {token() && (
          <button type="button" class="link" onClick={() => (setToken(null), setRound((r) => r + 1))}>Forget token</button>
        )}
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {auth !== undefined ? <TokenPrompt status={auth} done={() => (setAuth(undefined), setRound((r) => r + 1))} /> : <div key={round}>{page(hash)}</div>}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
