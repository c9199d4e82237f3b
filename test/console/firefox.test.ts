import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startApp, until } from '../support/app';
import { ExtProcClient, lbLabels } from '../support/extproc-client';
import { describeWith, FIREFOX } from '../support/requires';
import { buildConsole, GRAY, RULES, seed } from './fixture';

/**
 * The console in Firefox (Debian's firefox-esr, driven by puppeteer-core over WebDriver
 * BiDi), against a real metaroute: each page renders its real data, the split moves with
 * real ext_proc requests, the editor marks an error's line. The full checks (accessibility,
 * keyboard, narrow window, every round trip) run in Chromium (console.test.ts).
 */
describeWith(FIREFOX, 'web console (Firefox)', () => {
  let env: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;
  let page: Page;
  let extProc: ExtProcClient;

  /** Text of the first element matching `selector`, in the page. */
  const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '').catch(() => '');

  beforeAll(async () => {
    buildConsole();
    // Ephemeral instances must outlive the suite: a browser slow to start under CI load let 30 s ones expire before the first page.
    env = await startApp({ registry: { ttlSeconds: 3600, instances: [] } });
    await seed(env);
    extProc = new ExtProcClient(env.extProc);
    await until(async () => lbLabels(await extProc.request(GRAY))?.['version'] === 'v2', 'the rules to reach ext_proc');
    browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX.path!, headless: true, protocol: 'webDriverBiDi' });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    extProc?.close();
    await env?.app.stop();
  });

  it('overview and service pages show the registered services, instances and the live split', async () => {
    await page.goto(`${env.admin}/ui/`);
    await until(async () => (await text('tbody')).includes('default/shop'), 'the services table', 10_000);
    expect(await text('tbody')).toContain('3 / 4');
    expect(await text('[data-testid="rules-version"]')).toBe('version 1');

    await page.goto(`${env.admin}/ui/#/service/default/shop`);
    await until(async () => (await text('[data-testid="service-counts"]')).includes('3 healthy of 4 instances'), 'the service page', 10_000);
    expect(await text('[data-testid="instances"] tbody')).toContain('shop-v2-b');
    const counted = async () => Number(await page.$eval('li[data-series="subset version=v2"]', (el) => el.getAttribute('data-total')).catch(() => 0));
    await until(async () => (await counted()) > 0, 'the requests made while starting to show', 10_000);
    const before = await counted();
    for (let i = 0; i < 12; i++) await extProc.request(GRAY);
    await until(async () => (await counted()) === before + 12, 'the split to count the requests', 10_000);
  });

  it('rules: an invalid edit is marked at its line', async () => {
    await page.goto(`${env.admin}/ui/#/rules`);
    await page.waitForSelector('#rules-editor');
    await until(async () => (await page.$eval('#rules-editor', (el) => (el as unknown as { value: string }).value)) === RULES, 'the live rules in the editor', 10_000);
    // Typed, not set: the check follows real keystrokes.
    await page.click('#rules-editor');
    await page.keyboard.down('Control');
    await page.keyboard.press('End');
    await page.keyboard.up('Control');
    await page.keyboard.type('  - name: broken\n');
    await until(async () => (await text('.errors li')).includes('rules[2]'), 'the error to show', 10_000);
    const errorLine = RULES.split('\n').length; // the typed line, after the document's last
    expect(await page.$eval('.errors li', (el) => el.getAttribute('data-line'))).toBe(String(errorLine));
    expect(await page.$eval(`.gutter li[data-line="${errorLine}"]`, (el) => el.className)).toBe('bad');
    expect(await page.$eval('.errors li', (el) => el.textContent)).toMatch(/^Line \d+:\d+: rules\[2\]/);
  });

  it('explain answers the form with the decision, and an outbound call with its propagation headers', async () => {
    await page.goto(`${env.admin}/ui/#/explain`);
    await page.waitForSelector('#explain-service');
    await page.type('#explain-service', 'shop.default');
    await page.type('#explain-headers', 'x-canary: gray');
    await page.click('button[type="submit"]');
    await until(async () => (await text('[data-testid="decision"]')) === 'subset version=v2 for default/shop by rule canary-header', 'the explanation', 10_000);

    // The same request as web's outbound call, its env label travelling the chain: the propagation header it carries.
    await page.select('#explain-side', 'outbound');
    await page.type('#explain-callerService', 'web');
    await page.type('#explain-callerLabels', 'env=dev1');
    await page.type('#explain-callerTransitive', 'env');
    await page.click('button[type="submit"]');
    const changes = () => page.$$eval('[data-testid="header-changes"] li', (items) => items.map((item) => item.textContent ?? ''));
    await until(async () => (await changes()).includes('set rpc-persist-env=dev1'), 'the header changes', 10_000);
  });

  it('proxies and routers pages render', async () => {
    await page.goto(`${env.admin}/ui/#/proxies`);
    await until(async () => (await text('[data-testid="proxy-count"]')) === '0 connected', 'the proxies page', 10_000);
    await page.goto(`${env.admin}/ui/#/routers`);
    await until(async () => (await page.$$eval('[data-testid="chain"] li h2', (els) => els.map((e) => e.textContent))).join() === '100 · lane,200 · rule,300 · metadata,400 · nearby,500 · canary,900 · recover', 'the router chain', 10_000);
  });
});
