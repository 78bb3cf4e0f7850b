#!/usr/bin/env node
// Drives sluice's status page in headless Chromium for tests/integration/test_status_page.py.
// Usage: node status_page.js '<json>' with
//   {url, inbox, token, dead_event_id, dead_sink, screenshot, chromium}
// Prints one JSON object (the observations) on stdout; the Python test asserts on it, so this
// script checks nothing itself beyond what it needs to go on. Exit 2: Chromium cannot start.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const args = JSON.parse(process.argv[2]);
const out = { console_errors: [], page_errors: [], refusal_console: [] };
let phase = 'load';

function within(ms, what, fn) {
  const end = Date.now() + ms;
  return (async () => {
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
}

async function main() {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: args.chromium || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  } catch (e) {
    process.stdout.write(JSON.stringify({ launch_error: String(e.message || e) }));
    process.exit(2);
  }
  const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    (phase === 'refusal' ? out.refusal_console : out.console_errors).push(m.text());
  });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  try {
    const resp = await page.goto(args.url, { waitUntil: 'load' });
    out.status = resp.status();
    out.csp = resp.headers()['content-security-policy'] || '';
    await within(10000, 'the live feed to connect', () =>
      page.$eval('#feed-state', (e) => e.textContent === 'live feed: connected'));
    await within(10000, 'the sources table', () => page.$$eval('#sources tbody tr', (r) => r.length > 0));
    out.sources_text = await page.$eval('#sources tbody', (e) => e.textContent);

    // A new file appears in the feed within a second.
    const name = `page-${Date.now()}.txt`;
    const t0 = Date.now();
    fs.writeFileSync(path.join(args.inbox, name), 'hello');
    await within(5000, 'the new event in the feed', () =>
      page.$$eval('#feed tbody tr[data-kind="event"] td.subject', (cells, n) =>
        cells.some((c) => c.textContent.endsWith(n)), name));
    out.event_latency_ms = Date.now() - t0;
    out.event_name = name;

    // A hostile name renders as text.
    const dir = path.join(args.inbox, '<script>window.__pwned=1<');
    fs.mkdirSync(dir);
    const hostile = 'script><img src=x onerror="window.__pwned=2">.txt';
    fs.writeFileSync(path.join(dir, hostile), 'x');
    await within(5000, 'the hostile event in the feed', () =>
      page.$$eval('#feed tbody tr[data-kind="event"] td.subject', (cells) =>
        cells.some((c) => c.textContent.includes('</script><img'))));
    out.hostile_text = await page.$$eval('#feed tbody tr[data-kind="event"] td.subject', (cells) =>
      cells.map((c) => c.textContent).find((t) => t.includes('<script>')) || '');
    out.pwned = await page.evaluate(() => window.__pwned ?? null);
    out.injected_elements = await page.$$eval('#feed script, #feed img, #sources script, #sources img',
      (e) => e.length);

    // Replay: refused without the token and with a wrong one, done with the right one.
    phase = 'refusal';
    const row = `#dead tbody tr[data-id="${args.dead_event_id}"]`;
    await within(10000, 'the dead letter on the page', () => page.$(row));
    await page.fill('#token', '');
    await page.click(`${row} button.replay`);
    await within(5000, 'the refusal', () => page.$eval('#admin-msg', (e) => e.textContent.includes('refused')));
    out.without_token_msg = await page.$eval('#admin-msg', (e) => e.textContent);
    await page.$eval('#admin-msg', (e) => { e.textContent = ''; });
    await page.fill('#token', 'not-the-token');
    await page.click(`${row} button.replay`);
    await within(5000, 'the refusal', () => page.$eval('#admin-msg', (e) => e.textContent.includes('refused')));
    out.wrong_token_msg = await page.$eval('#admin-msg', (e) => e.textContent);
    phase = 'replay';
    await page.fill('#token', args.token);
    await page.click(`${row} button.replay`);
    await within(5000, 'the replay', () => page.$eval('#admin-msg', (e) => e.textContent.startsWith('replayed')));
    out.with_token_msg = await page.$eval('#admin-msg', (e) => e.textContent);
    await within(10000, 'the replayed delivery in the feed', () =>
      page.$$eval('#feed tbody tr[data-kind="delivery"]', (rows, id) =>
        rows.some((r) => r.dataset.id === id && r.textContent.includes('done')), args.dead_event_id));
    out.replayed_delivery_seen = true;
    out.page_contains_token = (await page.content()).includes(args.token);
    await page.screenshot({ path: args.screenshot, fullPage: true });
    out.screenshot = args.screenshot;
  } catch (e) {
    out.error = String(e.message || e);
    try {
      await page.screenshot({ path: args.screenshot, fullPage: true });
      out.screenshot = args.screenshot;
    } catch (_) { /* the error above is what matters */ }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e.stack || e) }));
  process.exit(1);
});
