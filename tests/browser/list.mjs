// The list page in a real browser (Debian's Chromium through playwright-core):
// - with JavaScript disabled, the form is filled and sent and the desks are listed, left to right
//   and right to left, and 360-px screenshots of both are saved under target/artifacts/;
// - axe-core finds no serious or critical accessibility violation on the list, an error page and
//   a desk page, LTR and RTL (axe needs JavaScript: it runs in a second context that bypasses the
//   page's policy, only for the scan);
// - at 200 % zoom (a 180-px-wide viewport at twice the pixel ratio) nothing overflows sideways.
// Usage: node list.mjs (SPORTELLO_BIN, CHROMIUM and ARTIFACTS may override the paths).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = process.env.SPORTELLO_BIN || resolve(root, 'target/debug/sportello');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.ARTIFACTS || resolve(root, 'target/artifacts');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const freePort = () => new Promise((done, fail) => {
  const s = createServer();
  s.on('error', fail);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => done(port)); });
});

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`], { env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
const stop = () => { try { server.kill('SIGTERM'); } catch { /* already gone */ } };
process.on('exit', stop);

for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/readyz`)).ok) break; } catch { /* not yet */ }
  if (i > 300) throw new Error('server did not start');
  await new Promise((r) => setTimeout(r, 100));
}

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
mkdirSync(artifacts, { recursive: true });

try {
  // 1. Without JavaScript: fill the form, send it, read the answer; screenshots at 360 px.
  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 }, deviceScaleFactor: 1 });
  for (const [ui, dir, place] of [['en', 'ltr', 'Milano'], ['ar', 'rtl', 'Milano']]) {
    const page = await noJs.newPage();
    const outside = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
    await page.goto(`${base}/list?ui=${ui}`);
    check(await page.getAttribute('html', 'dir') === dir, `${ui}: dir=${dir}`);
    await page.fill('#place', place);
    await page.selectOption('#lang', 'ar');
    await Promise.all([page.waitForURL(/place=/), page.click('button[type=submit]')]);
    const desks = await page.locator('article.sp-desk').count();
    check(desks > 0, `${ui}: the form sent without JavaScript lists ${desks} desks`);
    check(new URL(page.url()).searchParams.get('lang') === 'ar', `${ui}: the filter was sent`);
    // Mirrored, not only the text: the first desk's heading starts at the right edge in RTL.
    const box = await page.locator('article.sp-desk h3').first().boundingBox();
    const mirrored = dir === 'rtl' ? box.x + box.width > 300 : box.x < 60;
    check(mirrored, `${ui}: layout starts on the ${dir === 'rtl' ? 'right' : 'left'}`);
    const shot = resolve(artifacts, `list-360-${dir}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`     screenshot ${shot}`);
    check(outside.length === 0, `${ui}: nothing fetched from another origin (${outside.join(', ')})`);
    await page.close();
  }
  await noJs.close();

  // 2. axe-core on the list, an error page and a desk page, LTR and RTL.
  const scan = await browser.newContext({ bypassCSP: true, viewport: { width: 360, height: 740 } });
  const pages = [
    '/list?place=Milano&ui=en', '/list?place=Milano&ui=ar', '/list?place=Xyzzyqwv&lang=ar&ui=fa',
    '/list?lat=abc&lon=1&ui=de', '/d/it-milano-anolf?ui=ur', '/d/it-milano-anolf?ui=it', '/list?ui=ti',
  ];
  for (const path of pages) {
    const page = await scan.newPage();
    await page.goto(base + path);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
    });
    const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    const minor = result.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`);
    check(bad.length === 0, `axe ${path}: no serious or critical violation ${bad.map((v) => `${v.id}×${v.nodes}: ${v.help}`).join('; ')}${minor.length ? ` [minor: ${minor.join(', ')}]` : ''}`);
    await page.close();
  }
  await scan.close();

  // 3. 200 % zoom: CSS pixels halve, so a 360-px phone shows a 180-px-wide page.
  const zoom = await browser.newContext({ viewport: { width: 180, height: 400 }, deviceScaleFactor: 2 });
  for (const path of ['/list?place=Milano&ui=en', '/list?place=Milano&ui=ar', '/d/it-milano-anolf?ui=fa']) {
    const page = await zoom.newPage();
    await page.goto(base + path);
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    check(scroll <= client, `200 % zoom ${path}: no sideways scrolling (${scroll} ≤ ${client})`);
    await page.close();
  }
  await zoom.close();
} finally {
  await browser.close();
  stop();
}

if (failures.length) {
  console.error(`${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log('browser checks passed');
