import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { parseAuthConfig } from '../../src/admin/auth';
import { api, startApp, until } from '../support/app';
import { ExtProcClient, explainedRule, lbLabels } from '../support/extproc-client';
import { CHROMIUM, describeWith } from '../support/requires';
import { TYPE, XdsTestClient } from '../xds/helpers';
import { buildConsole, GRAY, PLAIN, RULES, seed } from './fixture';

/**
 * The console in a real browser (Debian's Chromium driven by playwright-core) against a real
 * metaroute: instances registered and rules stored through the admin API, decisions made by
 * real ext_proc requests over gRPC, a real xDS stream. Each page must show that real data.
 * With CONSOLE_SCREENSHOTS=<dir> (npm run screenshots:console) each page is saved there.
 */
const SCREENSHOTS = process.env['CONSOLE_SCREENSHOTS'];
const AXE = require.resolve('axe-core/axe.min.js');
/** A custom router that, asked with `x-act: pick`, picks one instance itself: an endpoint list. */
const SLOT_PICK = path.join(__dirname, '..', 'routing', 'fixtures', 'slot-pick-router.js');

/** Fails on serious and critical violations (axe-core, injected into the page). */
async function expectAccessible(page: Page, what: string): Promise<void> {
  await page.addScriptTag({ path: AXE });
  // Evaluated in the page (this file is compiled without the DOM's types).
  const violations = await page.evaluate<string[]>(`axe.run().then((result) => result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`);
  expect({ page: what, violations }).toEqual({ page: what, violations: [] });
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** No horizontal scrolling of the page itself (wide tables scroll inside their own box). */
async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth + 1');
}

describeWith(CHROMIUM, 'web console (Chromium)', () => {
  let env: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let extProc: ExtProcClient;
  let envoy: XdsTestClient;
  let ui: string;

  beforeAll(async () => {
    buildConsole();
    if (SCREENSHOTS) fs.mkdirSync(SCREENSHOTS, { recursive: true });
    // Ephemeral instances must outlive the suite: a browser slow to start under CI load let 30 s ones expire before the first page.
    env = await startApp({ registry: { ttlSeconds: 3600, instances: [] }, routers: [{ name: undefined, module: SLOT_PICK, config: {} }] });
    ui = `${env.admin}/ui/`;
    await seed(env);
    extProc = new ExtProcClient(env.extProc);
    await until(async () => lbLabels(await extProc.request(GRAY))?.['version'] === 'v2', 'the rules to reach ext_proc');

    // An Envoy-shaped xDS client: ACKs the clusters, NACKs shop's endpoints.
    envoy = new XdsTestClient(env.app.ports.xds);
    envoy.send({ node: { id: 'gateway-1', cluster: 'edge', user_agent_name: 'envoy' }, type_url: TYPE.CDS, resource_names: [] });
    const clusters = await envoy.next();
    envoy.ack(clusters, []);
    envoy.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const endpoints = await envoy.next();
    envoy.send({ type_url: TYPE.EDS, version_info: '', response_nonce: endpoints.nonce, resource_names: ['shop.default'], error_detail: { code: 3, message: 'console test: endpoints refused' } });

    browser = await chromium.launch({ executablePath: CHROMIUM.path!, args: ['--no-sandbox'] });
    // The console's CSP allows only its own scripts; axe-core is injected by the test, so CSP is bypassed here.
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
    page = await context.newPage();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    envoy?.close();
    extProc?.close();
    await env?.app.stop();
  });

  it('overview: services with healthy / total, rules version and count, connected proxies, store', async () => {
    await page.goto(ui);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const shopRow = page.getByRole('row', { name: /default\/shop/ });
    await shopRow.waitFor();
    expect(await shopRow.textContent()).toContain('3 / 4');
    expect(await page.getByRole('row', { name: /default\/catalog/ }).textContent()).toContain('120 / 120');
    expect(await page.getByTestId('rules-version').textContent()).toBe('version 1');
    expect(await page.locator('.cards').textContent()).toContain('2 rules');
    await until(async () => (await page.getByTestId('proxies').textContent()) === '1', 'the overview to show the connected proxy', 8000);
    expect(await page.getByTestId('store').textContent()).toBe('embedded');
    expect(await page.getByTestId('phase').textContent()).toBe('serving');
    await expectAccessible(page, 'overview');
    await screenshot(page, 'overview');
  });

  it('is usable from the keyboard: skip link, then the page links in order, Enter opens a page', async () => {
    await page.goto(ui);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string | undefined>('document.activeElement?.textContent')).toBe('Skip to content');
    const focused: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      focused.push((await page.evaluate<string | undefined>('document.activeElement?.textContent')) ?? '');
    }
    expect(focused).toEqual(['Overview', 'Rules', 'Explain', 'Proxies', 'Routers']);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab'); // back on "Rules"
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Rules', level: 1 }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/rules');
    // Focus moved to the new page's content, as a page load would (in an effect after the page renders: wait for it).
    await page.waitForFunction("document.activeElement?.id === 'main'", undefined, { timeout: 5000 }).catch(() => undefined);
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('main');
  });

  it('service: instances with labels, weight, health, locality and heartbeat; filtered and paged; subsets with sizes', async () => {
    await page.goto(`${ui}#/service/default/shop`);
    await page.getByTestId('instances').waitFor();
    const row = (id: string) => page.getByRole('row', { name: new RegExp(`^${id}`) });
    await row('shop-v2-b').waitFor();
    const v2b = (await row('shop-v2-b').locator('td').allTextContents());
    expect(v2b).toEqual(['10.0.2.2:8080', 'version=v2', '100', 'unhealthy', 'eu / eu-b', 'persistent']);
    const v1b = await row('shop-v1-b').locator('td').allTextContents();
    expect(v1b.slice(0, 4)).toEqual(['10.0.1.2:8080', 'version=v1', '50', 'healthy']);
    // An ephemeral instance shows when it last registered or heartbeated.
    expect(await row('shop-v1-a').locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await page.getByTestId('service-counts').textContent()).toContain('3 healthy of 4 instances');
    // The rules select version=v1 and version=v2: two subsets, with their sizes.
    const subsets = page.getByTestId('subsets');
    expect(await subsets.getByRole('row', { name: /version=v1/ }).locator('td').last().textContent()).toBe('2 / 2');
    expect(await subsets.getByRole('row', { name: /version=v2/ }).locator('td').last().textContent()).toBe('1 / 2');

    await page.getByLabel('Filter').fill('version=v2 zone=eu-a');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 1–1 of 1 matching', 'the filter to apply');
    expect(await page.getByTestId('instances').locator('tbody th').allTextContents()).toEqual(['shop-v2-a']);
    await expectAccessible(page, 'service');

    await page.goto(`${ui}#/service/default/catalog`);
    await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 1–50 of 120', 'the first page');
    await page.getByRole('button', { name: 'Next page' }).click();
    await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 51–100 of 120', 'the second page');
    await page.getByRole('button', { name: 'Next page' }).click();
    await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 101–120 of 120', 'the last page');
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    expect(await page.getByTestId('instances').locator('tbody tr').count()).toBe(20);
  });

  it('service: registrations and deregistrations show without reloading; a page emptied by them moves back to the last one left', async () => {
    const cart = (i: number) => ({ service: 'cart', id: `cart-${i}`, host: `10.2.0.${i}`, port: 7000, metadata: { version: 'v1' } });
    const batch = async (body: object) => expect((await api(env.admin, 'POST', '/v1/instances/batch', body)).status).toBe(200);
    await batch({ register: Array.from({ length: 60 }, (_, i) => cart(i)) });
    try {
      await page.goto(`${ui}#/service/default/cart`);
      await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 1–50 of 60', 'the first page');
      await page.getByRole('button', { name: 'Next page' }).click();
      await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 51–60 of 60', 'the second page');

      await batch({ register: [cart(60)] });
      await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 51–61 of 61', 'the registration to show', 10_000);
      expect(await page.getByTestId('service-counts').textContent()).toContain('61 healthy of 61 instances');
      expect(await page.getByTestId('instances').locator('tbody th').last().textContent()).toBe('cart-60');

      await batch({ deregister: Array.from({ length: 20 }, (_, i) => ({ service: 'cart', id: `cart-${i + 41}` })) });
      await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 1–41 of 41', 'the emptied page to move back', 10_000);
      expect(await page.getByTestId('service-counts').textContent()).toContain('41 healthy of 41 instances');
    } finally {
      await batch({ deregister: Array.from({ length: 61 }, (_, i) => ({ service: 'cart', id: `cart-${i}` })) });
    }
  });

  it('service: the split chart moves while ext_proc requests flow, without reloading', async () => {
    await page.goto(`${ui}#/service/default/shop`);
    await page.getByRole('heading', { name: 'Live split of decisions' }).waitFor();
    const series = (name: string) => page.locator(`li[data-series="${name}"]`);
    const total = async (name: string): Promise<number> => ((await series(name).count()) ? Number(await series(name).getAttribute('data-total')) : 0);
    // Start from a settled chart: earlier tests' decisions may still be on their way into it.
    const served = async (destination: string): Promise<number> =>
      ((await api(env.admin, 'GET', '/v1/services/default/shop/split')).json.series as { destination: string; counts: number[] }[])
        .filter((x) => x.destination === destination).flatMap((x) => x.counts).reduce((a, b) => a + b, 0);
    await until(async () => (await total('subset version=v2')) === (await served('version=v2')) && (await total('subset version=v1')) === (await served('version=v1')), 'the chart to settle', 10_000);
    const before = { v2: await total('subset version=v2'), v1: await total('subset version=v1') };

    for (let i = 0; i < 30; i++) await extProc.request(GRAY);
    for (let i = 0; i < 10; i++) await extProc.request(PLAIN);
    await until(async () => (await total('subset version=v2')) === before.v2 + 30 && (await total('subset version=v1')) === before.v1 + 10, 'the chart to count the decisions', 10_000);
    const bars = await page.locator('.chart svg rect').count();
    expect(bars).toBeGreaterThan(1);

    for (let i = 0; i < 20; i++) await extProc.request(GRAY);
    await until(async () => (await total('subset version=v2')) === before.v2 + 50, 'the chart to move again', 10_000);
    expect(await series('subset version=v2').textContent()).toMatch(/^subset version=v2: \d+ \(\d+ in the last 10 s, \d+%\)$/);
    await expectAccessible(page, 'service with split');
    await screenshot(page, 'service');
  });

  it('rules: an invalid edit shows the error at its line and changes nothing; a valid one is applied and changes what ext_proc answers', async () => {
    await page.goto(`${ui}#/rules`);
    const editor = page.getByLabel('Rule document (YAML)');
    await until(async () => (await editor.inputValue()) === RULES, 'the live document in the editor');
    await until(async () => (await page.getByTestId('rules-check').textContent()) === 'Valid.', 'the live document to check valid');
    expect(await page.getByTestId('live-version').textContent()).toContain('version 1');
    expect(await page.getByTestId('history').textContent()).toContain('Version 1 from api');

    // Typing a bad match type: the error names line 8, the gutter marks it, Apply is off.
    const badLine = RULES.split('\n').findIndex((l) => l.includes('EXACT')) + 1;
    const invalid = RULES.replace('type: EXACT', 'type: EXACTLY');
    await editor.fill(invalid);
    await until(async () => (await page.locator('.errors li').count()) > 0, 'the error to show', 5000);
    const error = page.locator('.errors li').first();
    expect(await error.getAttribute('data-line')).toBe(String(badLine));
    expect(await error.textContent()).toContain(`Line ${badLine}`);
    expect(await error.textContent()).toContain('rules[0].sources[0].arguments[0].match.type');
    expect(await page.locator(`.gutter li[data-line="${badLine}"]`).getAttribute('class')).toBe('bad');
    expect(await page.getByRole('button', { name: 'Apply' }).isDisabled()).toBe(true);
    expect(await page.getByTestId('diff').textContent()).toContain('+             match: { type: EXACTLY, value: gray }');
    await expectAccessible(page, 'rules with an error');
    await screenshot(page, 'rules-error');
    // The error's line button puts the caret on that line.
    await error.getByRole('button').click();
    const selected = await editor.evaluate((el: { value: string; selectionStart: number; selectionEnd: number }) => el.value.slice(el.selectionStart, el.selectionEnd));
    expect(selected).toBe(invalid.split('\n')[badLine - 1]);
    expect((await api(env.admin, 'GET', '/v1/rules')).json.version).toBe(1);
    expect(lbLabels(await extProc.request(GRAY))).toEqual({ version: 'v2' });

    // A valid edit: gray goes to the stable version now, blue to the canary.
    await editor.fill(RULES.replace('value: gray', 'value: blue'));
    await until(async () => (await page.getByTestId('rules-check').textContent()) === 'Valid.', 'the edit to check valid');
    await page.getByRole('button', { name: 'Apply' }).click();
    await until(async () => (await page.getByTestId('apply-status').textContent()) === 'Applied: version 2 is live.', 'the apply to answer');
    await until(async () => lbLabels(await extProc.request(GRAY))?.['version'] === 'v1', 'ext_proc to route gray to v1');
    expect(lbLabels(await extProc.request({ ...GRAY, 'x-canary': 'blue' }))).toEqual({ version: 'v2' });
    await until(async () => (await page.getByTestId('live-version').textContent())!.startsWith('Live: version 2'), 'the page to show version 2');
    expect(await page.getByTestId('history').locator('li').count()).toBe(2);
    await screenshot(page, 'rules');
  });

  it('explain: the form answers with each router and the decision ext_proc makes for the same request', async () => {
    await page.goto(`${ui}#/explain`);
    await page.getByLabel('Service (cluster)').fill('shop.default');
    await page.getByLabel('Path').fill('/cart');
    await page.getByLabel('Headers (name: value, one per line)').fill('x-canary: blue');
    await page.getByLabel('Query parameters (name=value, one per line)').fill('page=2');
    await page.getByLabel('Cookies (name=value, one per line)').fill('session=abc');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.getByTestId('decision').waitFor();
    const live = await extProc.request({ ...GRAY, ':path': '/cart?page=2', cookie: 'session=abc', 'x-canary': 'blue' });
    expect(lbLabels(live)).toEqual({ version: 'v2' });
    expect(await page.getByTestId('decision').textContent()).toBe(`subset version=${lbLabels(live)!['version']} for default/shop by rule ${explainedRule(live)}`);
    // One row per router that ran, in chain order (a final decision ends the chain).
    const routers = await page.getByTestId('steps').locator('tbody th').allTextContents();
    expect(routers).toContain('rule');
    expect(routers).toEqual((await api(env.admin, 'GET', '/v1/routers')).json.routers.slice(0, routers.length));
    expect(await page.getByTestId('steps').getByRole('row', { name: /^rule/ }).textContent()).toContain('version=v2');
    await expectAccessible(page, 'explain');

    // A request no rule sends to the canary, with the caller filled in.
    await page.getByLabel('Headers (name: value, one per line)').fill('');
    await page.getByLabel('Caller service', { exact: true }).fill('web');
    await page.getByRole('button', { name: 'Explain' }).click();
    await until(async () => (await page.getByTestId('decision').textContent()) === 'subset version=v1 for default/shop by rule everyone', 'the second explanation');
    expect(await page.getByTestId('header-changes').textContent({ timeout: 5000 })).toBe("None besides the decision's own.");

    // An outbound call whose caller's env label travels the chain: the propagation headers, as the API answers them.
    await page.getByLabel('Which call').selectOption('outbound');
    await page.getByLabel('Caller labels (name=value, one per line)').fill('env=dev1');
    await page.getByLabel('Caller labels that travel the call chain (names, comma-separated)').fill('env');
    await page.getByRole('button', { name: 'Explain' }).click();
    const changes = page.getByTestId('header-changes').locator('li');
    await until(async () => (await changes.count()) > 0, 'the header changes');
    const { headerMutation } = (await api(env.admin, 'POST', '/explain', {
      service: 'shop.default', method: 'GET', path: '/cart?page=2', headers: { cookie: 'session=abc' }, side: 'outbound',
      caller: { service: 'web', labels: { env: 'dev1' }, transitive: ['env'] },
    })).json as { headerMutation: { set: Array<{ key: string; value: string }>; remove: string[] } };
    expect(headerMutation.set).toContainEqual({ key: 'rpc-persist-env', value: 'dev1' });
    expect(await changes.allTextContents()).toEqual([...headerMutation.set.map((h) => `set ${h.key}=${h.value}`), ...headerMutation.remove.map((name) => `remove ${name}`)]);
    expect(await page.getByTestId('endpoints-ignored').count()).toBe(0);
    await screenshot(page, 'explain');

    // A custom router's own endpoint pick on catalog, a subset-mode cluster: Envoy ignores the list, and the page warns.
    await page.getByLabel('Service (cluster)').fill('catalog.default');
    await page.getByLabel('Headers (name: value, one per line)').fill('x-act: pick\nx-slot: 1');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.getByTestId('endpoints-ignored').waitFor();
    expect(await page.getByTestId('decision').textContent()).toMatch(/^endpoints 10\.1\.0\.\d+:9000 for default\/catalog$/);
    expect(await page.getByTestId('endpoints-ignored').textContent()).toBe(
      'Envoy ignores this endpoint list: catalog.default is in subset mode (no metadata route with mode: endpoint): Envoy reads an endpoint list only on an endpoint-mode (override_host) cluster, so its load balancer picks any endpoint of the cluster',
    );
    await expectAccessible(page, 'explain with an ignored endpoint list');
  });

  it('proxies: the connected xDS client with its subscriptions, ACKed and NACKed versions and convergence; updates without reloading', async () => {
    await page.goto(`${ui}#/proxies`);
    const gateway = page.locator('article[data-node="gateway-1"]');
    await gateway.waitFor();
    const cds = gateway.getByRole('row', { name: /^cds/ });
    expect(await cds.locator('td').nth(0).textContent()).toBe('all (wildcard)');
    expect(await cds.locator('td').nth(1).textContent()).not.toBe('none yet');
    expect(await cds.locator('td').nth(2).textContent()).toMatch(/^\d+ ms$/);
    const eds = gateway.getByRole('row', { name: /^eds/ });
    expect(await eds.locator('td').nth(0).textContent()).toBe('shop.default');
    expect(await eds.locator('td').nth(3).textContent()).toContain('console test: endpoints refused');
    expect(await page.getByTestId('proxy-count').textContent()).toBe('1 connected');

    const second = new XdsTestClient(env.app.ports.xds);
    try {
      second.send({ node: { id: 'grpc-client-7', user_agent_name: 'grpc-node-js' }, type_url: TYPE.CDS, resource_names: ['shop.default'] });
      second.ack(await second.next(), ['shop.default']);
      await page.locator('article[data-node="grpc-client-7"]').waitFor({ timeout: 8000 });
      expect(await page.getByTestId('proxy-count').textContent()).toBe('2 connected');
      await expectAccessible(page, 'proxies');
      await screenshot(page, 'proxies');
    } finally {
      second.close();
    }
    await until(async () => (await page.getByTestId('proxy-count').textContent()) === '1 connected', 'the closed stream to leave the list', 8000);
  });

  it('routers: the chain in order with each configuration; a push is validated and a refused one changes nothing', async () => {
    await page.goto(`${ui}#/routers`);
    const chain = page.getByTestId('chain');
    await chain.locator('li').first().waitFor();
    expect(await chain.locator('li h2').allTextContents()).toEqual(['100 · lane', '200 · rule', '300 · metadata', '350 · slot-pick', '400 · nearby', '500 · canary', '900 · recover']);
    const canary = chain.locator('li[data-router="canary"]');
    const config = canary.getByLabel('Configuration of canary (JSON)');
    await config.fill('{"colour": "red"}');
    await canary.getByRole('button', { name: 'Push canary configuration' }).click();
    await canary.getByRole('alert').waitFor();
    expect(await canary.getByRole('alert').textContent()).toContain('colour');
    expect((await api(env.admin, 'GET', '/v1/routers')).json.chain.find((r: { name: string }) => r.name === 'canary').config).toEqual({});
    await config.fill('{not json');
    await canary.getByRole('button', { name: 'Push canary configuration' }).click();
    await until(async () => ((await canary.getByRole('alert').textContent()) ?? '').startsWith('Not JSON'), 'the JSON error');

    const lane = chain.locator('li[data-router="lane"]');
    await lane.getByLabel('Configuration of lane (JSON)').fill('{"key": "env"}');
    await lane.getByRole('button', { name: 'Push lane configuration' }).click();
    await until(async () => (await lane.getByRole('status').count()) > 0, 'the push to answer');
    expect(await lane.getByRole('status').textContent()).toBe('Configured.');
    await until(async () => JSON.stringify((await api(env.admin, 'GET', '/v1/routers')).json.chain[0].config) === '{"key":"env"}', 'the lane config to be live');
    await expectAccessible(page, 'routers');
    await screenshot(page, 'routers');

    // Someone pushes lane's config through the API meanwhile: this page's push must not undo it unseen.
    expect((await api(env.admin, 'PUT', '/v1/routers/lane/config', { key: 'env', strict: true })).status).toBe(200);
    await lane.getByLabel('Configuration of lane (JSON)').fill('{"key": "env", "enabled": false}');
    await lane.getByRole('button', { name: 'Push lane configuration' }).click();
    await until(async () => (await lane.getByRole('alert').count()) > 0, 'the push to be refused');
    expect(await lane.getByRole('alert').textContent()).toBe('The configuration changed since this page showed it; nothing was pushed. Now: {"key":"env","strict":true}. Push again to replace it with yours.');
    expect((await api(env.admin, 'GET', '/v1/routers')).json.chain[0].config).toEqual({ key: 'env', strict: true });
    await lane.getByRole('button', { name: 'Push lane configuration' }).click();
    await until(async () => (await lane.getByRole('status').count()) > 0, 'the second push');
    expect((await api(env.admin, 'GET', '/v1/routers')).json.chain[0].config).toEqual({ key: 'env', enabled: false });
  });

  it('is readable on a narrow window: no page-wide horizontal scrolling on any page', async () => {
    const narrow = await context.newPage();
    try {
      await narrow.setViewportSize({ width: 390, height: 800 });
      for (const hash of ['#/', '#/service/default/shop', '#/rules', '#/explain', '#/proxies', '#/routers']) {
        await narrow.goto(`${ui}${hash}`);
        await narrow.locator('h1').waitFor();
        await narrow.waitForLoadState('networkidle').catch(() => undefined);
        expect({ hash, fits: await fitsWidth(narrow) }).toEqual({ hash, fits: true });
      }
      await narrow.goto(`${ui}#/service/default/shop`);
      await narrow.getByTestId('instances').waitFor();
      await screenshot(narrow, 'service-narrow');
    } finally {
      await narrow.close();
    }
  });
});

describeWith(CHROMIUM, 'web console with admin auth (Chromium)', () => {
  const TOKEN = 'console-admin-token-0123456789abcdef';
  let env: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;

  beforeAll(async () => {
    buildConsole();
    const problems: string[] = [];
    const auth = parseAuthConfig({ requireAdminAuth: true, tokens: [{ token: TOKEN, admin: true }] }, {}, problems);
    expect(problems).toEqual([]);
    env = await startApp({ auth });
    browser = await chromium.launch({ executablePath: CHROMIUM.path!, args: ['--no-sandbox'] });
    // This page keeps the server's Content-Security-Policy (no axe here): the console runs under it.
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await env?.app.stop();
  });

  it('asks for the token, then shows the data; a wrong token is asked for again', async () => {
    expect((await api(env.admin, 'GET', '/v1/overview')).status).toBe(401);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${env.admin}/ui/`);
    await page.getByRole('heading', { name: 'The admin API needs a token' }).waitFor();
    await page.getByLabel('Admin token').fill('not-the-token-but-long-enough');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('heading', { name: 'The admin API needs a token' }).waitFor();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await until(async () => (await page.getByTestId('phase').count()) > 0 && (await page.getByTestId('phase').textContent()) === 'serving', 'the overview with the token');
    await page.getByRole('button', { name: 'Forget token' }).waitFor();
  });

  it('says when the token given was refused, and an edit survives the prompt', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${env.admin}/ui/#/rules`);
    await page.getByLabel('Admin token').fill('not-the-token-but-long-enough');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('heading', { name: 'The admin API needs a token' }).waitFor();
    await until(async () => (await page.getByRole('alert').count()) > 0, 'the refusal to show');
    expect(await page.getByRole('alert').textContent()).toContain('did not accept the token');

    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    const editor = page.getByLabel('Rule document (YAML)');
    await until(async () => (await page.getByTestId('live-version').count()) > 0, 'the rules page');
    await editor.fill('rules: []\n# an edit that took a while\n');
    await until(async () => (await page.getByTestId('rules-check').textContent()) === 'Valid.', 'the edit to check valid');
    // The token stops working (rotated on the server): Apply meets 401 and the prompt.
    await page.evaluate("sessionStorage.setItem('metaroute.token', 'rotated-away-0123456789abcdef')");
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await until(async () => (await page.getByTestId('rules-check').textContent()) === 'Valid.', 'the rules page again');
    expect(await editor.inputValue()).toBe('rules: []\n# an edit that took a while\n');
  });
});

describeWith(CHROMIUM, 'web console: a service cut into more subsets than its page lists (Chromium)', () => {
  let env: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;

  beforeAll(async () => {
    buildConsole();
    env = await startApp();
    // A per-user selector over 1,004 users: 6 instances share one user, registered last (so only the page's sort puts it first), the rest have one each.
    const users = Array.from({ length: 1009 }, (_, i) => ({ service: 'users', host: `10.2.${i >> 8}.${i & 255}`, port: 80, metadata: { user: i >= 1003 ? 'shared' : `u${i}` } }));
    expect((await api(env.admin, 'POST', '/v1/instances/batch', { register: users })).status).toBe(200);
    const rules = 'rules:\n  - name: per-user\n    service: users\n    destinations:\n      - name: own\n        labels: { user: shared }\n';
    expect((await api(env.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
    browser = await chromium.launch({ executablePath: CHROMIUM.path!, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await env?.app.stop();
  });

  it('lists the 1,000 largest subsets and says how many smaller ones it leaves out', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${env.admin}/ui/#/service/default/users`);
    const omitted = page.getByTestId('subsets-omitted');
    await omitted.waitFor();
    expect(await omitted.textContent()).toBe('The 1000 largest subsets are shown; 4 smaller ones are not.');
    const rows = page.getByTestId('subsets').locator('tbody tr');
    expect(await rows.count()).toBe(1000);
    expect(await rows.first().locator('td').last().textContent()).toBe('6 / 6');
  });
});

describeWith(CHROMIUM, 'web console: an operator\'s edits and inputs (Chromium)', () => {
  let env: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;
  let page: Page;
  let ui: string;

  beforeAll(async () => {
    buildConsole();
    env = await startApp({ registry: { ttlSeconds: 3600, instances: [] } });
    ui = `${env.admin}/ui/`;
    await seed(env);
    browser = await chromium.launch({ executablePath: CHROMIUM.path!, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await env?.app.stop();
  });

  it('rules: Apply does not overwrite a change someone else made since the edit began', async () => {
    await page.goto(`${ui}#/rules`);
    const editor = page.getByLabel('Rule document (YAML)');
    await until(async () => (await editor.inputValue()) === RULES, 'the live document in the editor');
    const theirs = RULES.replace('name: everyone', 'name: everyone-else');
    expect((await api(env.admin, 'PUT', '/v1/rules', theirs)).json.version).toBe(2);

    await editor.fill(RULES.replace('value: gray', 'value: blue'));
    await until(async () => (await page.getByTestId('rules-check').textContent()) === 'Valid.', 'the edit to check valid');
    await page.getByRole('button', { name: 'Apply' }).click();
    await until(async () => (await page.getByTestId('apply-status').count()) > 0, 'the apply to answer');
    expect(await page.getByTestId('apply-status').textContent()).toContain('The live rules changed since this edit began (now version 2');
    expect((await api(env.admin, 'GET', '/v1/rules')).json).toMatchObject({ version: 2, text: theirs });
    // The diff is now against version 2: it shows what Apply would undo; a second Apply is a decision.
    await until(async () => (await page.getByTestId('live-version').textContent())!.startsWith('Live: version 2'), 'the page to show version 2');
    expect(await page.getByTestId('diff').textContent()).toContain('-   - name: everyone-else');
    await page.getByRole('button', { name: 'Apply' }).click();
    await until(async () => (await page.getByTestId('apply-status').textContent()) === 'Applied: version 3 is live.', 'the second apply');
  });

  it('rules: an edit not applied is still in the editor after visiting another page', async () => {
    await page.goto(`${ui}#/rules`);
    const editor = page.getByLabel('Rule document (YAML)');
    await until(async () => (await page.getByTestId('rules-check').textContent()) === 'Valid.', 'the live document to check valid');
    const live = await editor.inputValue();
    await editor.fill(`${live}# not applied yet\n`);
    await page.getByRole('link', { name: 'Explain' }).click();
    await page.getByRole('heading', { name: 'Explain a request' }).waitFor();
    await page.getByRole('link', { name: 'Rules' }).click();
    await until(async () => (await page.getByTestId('live-version').count()) > 0, 'the rules page');
    await until(async () => (await editor.inputValue()) !== '', 'the editor to fill');
    expect(await editor.inputValue()).toBe(`${live}# not applied yet\n`);
    await page.getByRole('button', { name: 'Revert to live' }).click();
    expect(await editor.inputValue()).toBe(live);
  });

  it('explain: a header value with commas is one header', async () => {
    await page.goto(`${ui}#/explain`);
    await page.getByLabel('Service (cluster)').fill('shop.default');
    await page.getByLabel('Headers (name: value, one per line)').fill('x-canary: gray\naccept: text/html, application/json');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.locator('[data-testid=decision], [role=alert]').first().waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    const { json } = await api(env.admin, 'POST', '/explain', { service: 'shop.default', method: 'GET', path: '/', side: 'edge', headers: { 'x-canary': 'gray', accept: 'text/html, application/json' } });
    expect(await page.getByTestId('decision').textContent()).toBe(`subset version=${json.decision.labels.version} for default/shop by rule ${json.rule}`);
  });

  it('service: a refused filter shows its error, not the previous filter\'s instances', async () => {
    await page.goto(`${ui}#/service/default/catalog`);
    await until(async () => (await page.getByTestId('matching').count()) > 0 && (await page.getByTestId('matching').textContent()) === 'Instances 1–50 of 120', 'the first page');
    await page.getByLabel('Filter').fill('shard=1');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await until(async () => (await page.getByTestId('matching').textContent()) === 'Instances 1–30 of 30 matching', 'the filter to apply');
    await page.getByLabel('Filter').fill(Array.from({ length: 17 }, (_, i) => `t${i}`).join(' '));
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('filter: 17 terms, at most 16');
    expect(await page.getByTestId('matching').count()).toBe(0);
  });

  it('explain: a caller_ip rule is explained for the client address given', async () => {
    const rules = 'rules:\n  - name: office\n    service: shop\n    sources:\n      - arguments:\n          - { type: caller_ip, match: { type: EXACT, value: 203.0.113.7 } }\n    destinations:\n      - { name: canary, labels: { version: v2 } }\n';
    expect((await api(env.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
    await page.goto(`${ui}#/explain`);
    await page.getByLabel('Service (cluster)').fill('shop.default');
    await page.getByLabel(/^Client address/).fill('203.0.113.7');
    await page.getByRole('button', { name: 'Explain' }).click();
    await until(async () => (await page.getByTestId('decision').count()) > 0, 'the explanation');
    expect(await page.getByTestId('decision').textContent()).toBe('subset version=v2 for default/shop by rule office');
  });

  it('overview: many services are listed a few hundred at a time, and found by name', async () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ service: `svc-${i}`, host: `10.3.${i >> 8}.${i & 255}`, port: 80 }));
    expect((await api(env.admin, 'POST', '/v1/instances/batch', { register: many })).status).toBe(200);
    await page.goto(ui);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const rows = page.locator('table tbody tr');
    // The server computes the overview at most once a second: the explain page's may be the one answered first, then the next poll's.
    await until(async () => (await rows.count()) === 200, 'the first 200 services', 8000);
    expect(await page.getByTestId('services-shown').textContent()).toBe('The first 200 of 302 services are listed: give part of a name to find one.');
    await page.getByLabel('Find a service').fill('svc-299');
    await until(async () => (await rows.count()) === 1, 'the filter');
    expect(await rows.first().textContent()).toContain('default/svc-299');
    expect(await page.getByTestId('services-shown').textContent()).toBe('1 of 302 services match.');

    // Explain suggests at most 50 services, those containing what was typed.
    await page.goto(`${ui}#/explain`);
    const options = page.locator('#explain-services option');
    await until(async () => (await options.count()) === 50, 'the first 50 suggestions');
    await page.getByLabel('Service (cluster)').fill('svc-29');
    await until(async () => (await options.count()) === 11, 'the suggestions for svc-29');
    expect(await options.evaluateAll((list) => list.map((o) => o.getAttribute('value')))).toContain('svc-299.default');
  });
});
