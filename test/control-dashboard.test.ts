// The web dashboard in a real browser (Debian's chromium through playwright-core): it shows
// the host's plugins, follows a crash and the restart without a reload, calls a method from
// its form, and restarts a plugin with its button. PLUGWIRE_UPDATE_SCREENSHOT=1 also writes
// docs/img/dashboard.png from the page as the test leaves it.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serveControl } from '@plugwire/control';
import { chromium } from 'playwright-core';
import { cleanups, webFolder } from './control-helpers.js';
import { echoFolder, manager, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const later = cleanups();
const { socketDir } = checkLeaks();
const CHROMIUM = process.env.PLUGWIRE_CHROMIUM ?? '/usr/bin/chromium';
const skip =
  process.env.PLUGWIRE_SKIP_BROWSER === '1'
    ? 'PLUGWIRE_SKIP_BROWSER=1'
    : existsSync(CHROMIUM)
      ? false
      : `no Chromium at ${CHROMIUM} (scripts/ensure-chromium.mjs installs it)`;

test('the dashboard shows live plugin states, follows a crash and the restart, calls a method and restarts a plugin', {
  skip,
}, async () => {
  const dir = join(tempDir(), 'plugins');
  echoFolder(dir, 'echo');
  webFolder(dir, 'web');
  // A restart delay long enough for a person (and the test) to see `crashed`.
  const m = manager(socketDir, {
    dirs: [dir],
    autoStart: true,
    killGrace: 500,
    supervisor: { initialDelay: 1_000 },
  });
  later(() => m.close());
  const server = await serveControl(m, { port: 0, sampleInterval: 250 });
  later(() => server.close());
  await m.loadAll();
  // Something for the charts and the log: a call every 50 ms for as long as the test runs
  // (those made while the plugin is down fail, and show as errors).
  for (let i = 0; i < 20; i++) await m.call('echo', 'add', [i, i]);
  const load = setInterval(() => {
    m.call('echo', 'add', [1, 2]).catch(() => {});
  }, 50);
  later(() => clearInterval(load));
  await m.call('web', 'log', ['hello from the web plugin']);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  later(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });

  // The token goes in once; the server swaps it for a cookie and a clean URL.
  await page.goto(`${server.url}/?token=${server.token}`);
  assert.equal(new URL(page.url()).search, '');
  const echoRow = page.locator('tr[data-plugin="echo"]');
  await echoRow.locator('.state[data-state="running"]').waitFor({ timeout: 15_000 });
  await page.locator('tr[data-plugin="web"] .state[data-state="running"]').waitFor();

  // Every state the echo row shows from now on, seen by the page itself.
  // (Scripts for the page are strings: tsx would wrap functions in helpers the page lacks.)
  await page.evaluate(`(() => {
    window.seen = [];
    window.marker = 'no reload';
    const record = () => {
      const s = document.querySelector('tr[data-plugin="echo"] .state')?.dataset.state;
      if (s && window.seen[window.seen.length - 1] !== s) window.seen.push(s);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
  })()`);
  const pid = m.get('echo').pid!;
  process.kill(pid, 'SIGKILL');
  const newPid = (old: number) => `(() => {
    const row = document.querySelector('tr[data-plugin="echo"]');
    const cell = row?.querySelector('.pid')?.textContent;
    return row?.querySelector('.state')?.dataset.state === 'running' && cell !== '${old}' && cell !== '–';
  })()`;
  // page.evaluate, polled: waitForFunction would eval the string inside the page, which the
  // dashboard's Content-Security-Policy forbids (as it should).
  const until = async (expr: string, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!(await page.evaluate(expr))) {
      if (Date.now() > deadline) throw new Error(`the page never satisfied: ${expr}`);
      await page.waitForTimeout(50);
    }
  };
  await until(newPid(pid));
  const seen = (await page.evaluate('window.seen')) as string[];
  const crashedAt = seen.indexOf('crashed');
  assert.ok(crashedAt >= 0, `states seen: ${seen.join(' → ')}`);
  assert.equal(seen[seen.length - 1], 'running', seen.join(' → '));
  assert.equal(await page.evaluate('window.marker'), 'no reload');

  // The call form: echo.add(2, 40).
  await echoRow.locator('td.name').click();
  await page.locator('#detail-name', { hasText: 'echo' }).waitFor();
  await page.locator('#call-method').selectOption({ label: 'add' });
  await page.locator('#call-args').fill('[2, 40]');
  await page.locator('#call-submit').click();
  await page.locator('#call-result.ok', { hasText: '42' }).waitFor();

  // The restart button: a new process, and the states list shows the way there.
  const before = m.get('echo').pid!;
  await echoRow.locator('button[data-action="restart"]').click();
  await until(newPid(before));
  await page.locator('#states li', { hasText: 'running → stopping' }).waitFor();
  assert.notEqual(m.get('echo').pid, before);
  assert.equal(m.get('echo').restarts, 2);

  // The charts have data points by now; then the picture for the docs.
  await until(`document.querySelectorAll('#chart-calls canvas').length === 1`);
  const shot = join(tempDir(), 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.deepEqual([...readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  if (process.env.PLUGWIRE_UPDATE_SCREENSHOT === '1') {
    const img = fileURLToPath(new URL('../docs/img/', import.meta.url));
    mkdirSync(img, { recursive: true });
    copyFileSync(shot, join(img, 'dashboard.png'));
  }
  assert.deepEqual(problems, []);
});
