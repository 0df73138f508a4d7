// The map widget in a real browser (Debian's Chromium through playwright-core), against a real
// server on loopback started here, and a second local origin (another port) playing a partner site:
// - /demo loads the widget; Arabic mirrors it (computed direction, controls and labels on the right);
// - a need is picked and a position granted (geolocation permission): the list is exactly
//   /api/v1/nearest's answer for the same query (ids in order); list item → marker and back;
// - the whole assistant works by keyboard alone;
// - axe-core finds no serious or critical violation, LTR and RTL;
// - nothing is requested from any other origin, no cookie is set, nothing is stored;
// - two widgets on one partner page (the second origin), presets applied, host CSS kept out;
// - the iframe form /embed inside a partner page;
// - the first view's weight (compressed bytes transferred, from CDP) is at most 250 KB, printed,
//   with the /list page's; 360-px screenshots LTR and RTL; nothing scrolls sideways at 200 % zoom.
// - a position from the address (a DB-IP file written by dbip.py, PyPI mmdb-writer) shows DB-IP's credit;
// - an operator's PMTiles base map (three files written by basemap.py: Protomaps and OpenMapTiles
//   vector schemas, PNG) is drawn from Range requests to the own origin, its attribution sanitised;
//   without one, its renderer is never fetched.
// Usage: node widget.mjs (SPORTELLO_BIN, CHROMIUM, ARTIFACTS and PYTOOLS_PYTHON may override the paths).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { createServer as httpServer } from 'node:http';
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
const BUDGET = 250 * 1024;

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const freePort = () => new Promise((done, fail) => {
  const s = netServer();
  s.on('error', fail);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => done(port)); });
});

const started = [];
process.on('exit', () => { for (const p of started) { try { p.kill('SIGTERM'); } catch { /* already gone */ } } });
/** A real server on a free loopback port, with `args` added to `serve`. */
const startServer = async (args = []) => {
  const p = await freePort();
  const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${p}`, ...args], { env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  started.push(child);
  const url = `http://127.0.0.1:${p}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${url}/readyz`)).ok) break; } catch { /* not yet */ }
    if (i > 600) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return url;
};
const stop = () => { for (const p of started) { try { p.kill('SIGTERM'); } catch { /* already gone */ } } };
const base = await startServer();

// The partner site: another origin (another port) that embeds the widget twice, and the iframe.
const hostile = '* { color: #f0f !important; font-size: 30px !important; } li { display: none !important; } select, input, button { display: none !important; }';
const partnerPages = {
  '/two.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner</title><style>${hostile}</style></head><body>
<h1>Comune partner</h1>
<div id="a" data-sportello data-lang="it" data-center="45.4642,9.19" data-zoom="12"></div>
<div id="b" data-sportello data-lang="ar" data-center="45.4642,9.19" data-zoom="11" data-domain="housing" data-lang-filter="ar,fr"></div>
<script src="${base}/widget.js" defer></script></body></html>`,
  '/iframe.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner iframe</title></head><body>
<iframe id="f" title="Help desks" src="${base}/embed?lang=fr&center=50.85,4.35&zoom=11&domain=work-rights" width="360" height="900" allow="geolocation"></iframe></body></html>`,
};
const partner = httpServer((req, res) => {
  const page = partnerPages[req.url];
  res.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page || 'not found');
});
const partnerPort = await freePort();
await new Promise((ok) => partner.listen(partnerPort, '127.0.0.1', ok));
const partnerBase = `http://127.0.0.1:${partnerPort}`;

const api = async (path) => (await fetch(base + path)).json();
const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
mkdirSync(artifacts, { recursive: true });

/** Every request a page makes outside the allowed origins is recorded. */
const watch = (page, allowed) => {
  const outside = [];
  page.on('request', (r) => { const u = r.url(); if (!allowed.some((o) => u.startsWith(`${o}/`)) && !u.startsWith('data:')) outside.push(u); });
  return outside;
};
const listIds = (page, scope = '') => page.locator(`${scope} .spw-item`).evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
const waitList = (page, scope = '') => page.locator(`${scope} .spw-item`).first().waitFor({ timeout: 15000 });

try {
  // 1. /demo, Arabic, a need, a granted position; the list against the API; list ↔ marker.
  const turin = { latitude: 45.0703, longitude: 7.6869 };
  const ctx = await browser.newContext({ viewport: { width: 360, height: 800 }, geolocation: turin, permissions: ['geolocation'] });
  const page = await ctx.newPage();
  const outside = watch(page, [base]);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/demo`);
  await waitList(page);
  check(await page.locator('a[href="/list?ui=en"]').first().isVisible(), '/demo shows a link to /list for people without JavaScript');
  const startIds = await listIds(page);
  const centre = await api('/api/v1/nearest?lat=45.46420&lon=9.19000&k=10');
  check(JSON.stringify(startIds) === JSON.stringify(centre.features.map((f) => f.id)), `without a known address the list starts at the partner's centre (${startIds.length} desks)`);
  const ltrShot = resolve(artifacts, 'widget-360-ltr.png');
  await page.locator('.spw').screenshot({ path: ltrShot });
  console.log(`     screenshot ${ltrShot}`);

  await page.selectOption('#spw-ui', 'ar');
  await page.locator('.spw[dir="rtl"]').waitFor();
  await waitList(page);
  const rtl = await page.evaluate(() => {
    const sr = document.querySelector('[data-sportello]').shadowRoot;
    const box = sr.querySelector('.spw');
    const r = box.getBoundingClientRect();
    const label = sr.querySelector('label[for="spw-need"]').getBoundingClientRect();
    const submit = sr.querySelector('button[type="submit"]').getBoundingClientRect();
    const zoom = sr.querySelector('.leaflet-control-zoom').getBoundingClientRect();
    const map = sr.querySelector('.spw-map').getBoundingClientRect();
    const name = sr.querySelector('.spw-name').getBoundingClientRect();
    return {
      dir: getComputedStyle(box).direction, lang: box.getAttribute('lang'),
      labelRight: r.right - label.right, labelLeft: label.left - r.left,
      submitRight: r.right - submit.right, submitLeft: submit.left - r.left,
      zoomRight: map.right - zoom.right, zoomLeft: zoom.left - map.left,
      nameRight: r.right - name.right,
      text: sr.querySelector('label[for="spw-need"]').textContent,
    };
  });
  check(rtl.dir === 'rtl' && rtl.lang === 'ar', `Arabic: computed direction ${rtl.dir}, lang ${rtl.lang}`);
  check(rtl.labelRight < 20 && rtl.labelLeft > rtl.labelRight, `Arabic: labels start on the right (${Math.round(rtl.labelRight)} px from the right edge)`);
  check(rtl.submitRight < 20 && rtl.submitLeft > 60, `Arabic: the button sits on the right (${Math.round(rtl.submitRight)} px)`);
  check(rtl.zoomRight < 20 && rtl.zoomLeft > 200, `Arabic: the map's zoom buttons move to the right (${Math.round(rtl.zoomRight)} px)`);
  check(/[\u0600-\u06FF]/.test(rtl.text), `Arabic: labels in Arabic (“${rtl.text}”)`);

  await page.selectOption('#spw-need', 'family-reunification');
  await page.getByRole('button', { name: 'استخدم موقعي' }).click();
  await page.waitForFunction(() => {
    const sr = document.querySelector('[data-sportello]').shadowRoot;
    const first = sr.querySelector('.spw-item');
    return first && first.getAttribute('data-id').startsWith('it-torino');
  }, null, { timeout: 15000 });
  const ids = await listIds(page);
  const want = await api(`/api/v1/nearest?lat=${turin.latitude.toFixed(5)}&lon=${turin.longitude.toFixed(5)}&k=10&domain=family-reunification`);
  const wantIds = want.features.map((f) => f.id);
  check(JSON.stringify(ids) === JSON.stringify(wantIds), `the list equals /api/v1/nearest for the position and need (${ids.join(', ')})`);
  const rtlShot = resolve(artifacts, 'widget-360-rtl.png');
  await page.locator('.spw').screenshot({ path: rtlShot });
  console.log(`     screenshot ${rtlShot}`);

  // List item → marker: its popup opens with the desk's name.
  const second = page.locator('.spw-item').nth(1);
  const secondName = want.features[1].properties.name;
  await second.locator('.spw-show').click();
  await page.locator('.leaflet-popup').waitFor({ timeout: 5000 });
  check((await page.locator('.leaflet-popup').textContent()).includes(secondName), `list item → its marker's popup opens (${secondName})`);
  // Marker → list item: clicking the marker of the third desk (in view, beside the second) marks its item.
  await page.locator('.leaflet-popup-close-button').click();
  const third = page.locator('.spw-pin', { hasText: /^(.*,)?3(,.*)?$/ }).first();
  const [mapBox, pinBox] = [await page.locator('.spw-map').boundingBox(), await third.boundingBox()];
  const inView = pinBox && pinBox.x >= mapBox.x && pinBox.x + pinBox.width <= mapBox.x + mapBox.width && pinBox.y >= mapBox.y && pinBox.y + pinBox.height <= mapBox.y + mapBox.height;
  check(inView, 'the third desk’s marker is in view beside the second');
  // Dispatched on the marker itself: a neighbour's marker may overlap it where a pointer would land.
  await third.dispatchEvent('click');
  const current = await page.locator('.spw-item.spw-current').getAttribute('data-id');
  check(current === wantIds[2], `marker → its list item is marked (${current})`);
  const markers = await page.locator('.spw-pin').count();
  const places = new Set(want.features.map((f) => f.geometry.coordinates.join(','))).size;
  check(markers === places, `one marker per place, desks at one place share it (${markers} markers, ${places} places)`);
  // Zoomed out, the other desks come from /api/v1/points: a cluster or dot per cell or place.
  const pointsAnswers = [];
  page.on('response', (r) => { if (r.url().includes('/api/v1/points?')) pointsAnswers.push(r.json()); });
  for (let i = 0; i < 9; i++) {
    await page.locator('.leaflet-control-zoom-out').click();
    await page.waitForTimeout(400);
  }
  await page.waitForTimeout(1000);
  const answer = await pointsAnswers[pointsAnswers.length - 1];
  const clustered = answer.features.filter((f) => f.properties.cluster).reduce((n, f) => n + f.properties.point_count, 0);
  const others = new Set(answer.features.filter((f) => !f.properties.cluster && !wantIds.includes(f.id)).map((f) => f.geometry.coordinates.map((c) => c.toFixed(5)).join(','))).size;
  const drawnCount = (await page.locator('.spw-cluster').allTextContents()).reduce((n, t) => n + Number(t), 0);
  const drawn = [await page.locator('.spw-cluster').count(), await page.locator('.spw-dot').count()];
  check(drawnCount === clustered && drawn[1] === others && clustered + others > 0, `the other desks are on the map as /api/v1/points answers (${drawn[0]} clusters of ${drawnCount} desks, ${drawn[1]} dots)`);

  const cookies = await ctx.cookies();
  const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
  check(cookies.length === 0 && stored === 0, `no cookie (${cookies.length}) and nothing stored (${stored})`);
  check(outside.length === 0, `nothing requested from another origin (${outside.join(', ')})`);
  check(errors.length === 0, `no script error (${errors.join('; ')})`);
  await ctx.close();

  // 2. The whole assistant by keyboard alone.
  const kctx = await browser.newContext({ viewport: { width: 360, height: 800 } });
  const kp = await kctx.newPage();
  await kp.goto(`${base}/demo`);
  await waitList(kp);
  const active = () => kp.evaluate(() => {
    let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a ? (a.id || a.className || a.tagName) : '';
  });
  const tabTo = async (id, max = 60) => {
    for (let i = 0; i < max; i++) {
      if ((await active()) === id) return true;
      await kp.keyboard.press('Tab');
    }
    return false;
  };
  check(await tabTo('spw-need'), 'keyboard: Tab reaches the need picker');
  await kp.keyboard.press('ArrowDown');
  await kp.keyboard.press('ArrowDown');
  const need = await kp.locator('#spw-need').inputValue();
  check(need !== '', `keyboard: arrows choose a need (${need})`);
  check(await tabTo('spw-place'), 'keyboard: Tab reaches the town field');
  await kp.keyboard.type('Bruxelles');
  await kp.keyboard.press('Enter');
  await kp.waitForFunction(() => {
    const sr = document.querySelector('[data-sportello]').shadowRoot;
    const f = sr.querySelector('.spw-item');
    return f && f.getAttribute('data-id').startsWith('be-');
  }, null, { timeout: 15000 });
  const kIds = await listIds(kp);
  const kWant = (await api(`/api/v1/nearest?place=Bruxelles&k=10&domain=${need}`)).features.map((f) => f.id);
  // The widget sends the town's position rounded to 5 decimals: the same desks.
  check(JSON.stringify(kIds) === JSON.stringify(kWant), `keyboard: Enter in the town field lists the desks near it (${kIds.slice(0, 3).join(', ')}…)`);
  check((await active()) === 'spw-title', 'keyboard: focus moves to the results heading');
  // Words: what the search understood is shown, and the list is /api/v1/search's.
  await kp.locator('#spw-need').selectOption('');
  await kp.locator('#spw-q').fill('ricongiungimento familiare');
  await kp.locator('#spw-q').press('Enter');
  await kp.waitForFunction(() => document.querySelector('[data-sportello]').shadowRoot.querySelector('.spw-understood').textContent.length > 0, null, { timeout: 15000 });
  const understood = await kp.locator('.spw-understood').textContent();
  const town = await api('/api/v1/locate?place=Bruxelles&limit=1');
  const [tlon, tlat] = town.features[0].geometry.coordinates;
  const words = await api(`/api/v1/search?q=ricongiungimento%20familiare&lat=${tlat.toFixed(5)}&lon=${tlon.toFixed(5)}&limit=10`);
  const label = (await api('/api/v1/domains?ui=en')).domains.find((d) => d.code === words.understood_domains[0]).label;
  check(understood.includes(label), `words: the widget says what it understood (“${understood}”)`);
  check(JSON.stringify(await listIds(kp)) === JSON.stringify(words.features.map((f) => f.id)), 'words: the list equals /api/v1/search for the same text and town');
  check(await tabTo('spw-button spw-button--secondary spw-show'), 'keyboard: Tab reaches a desk’s “show on the map”');
  await kp.keyboard.press('Enter');
  await kp.locator('.leaflet-popup').waitFor({ timeout: 5000 });
  const onMarker = await kp.evaluate(() => document.querySelector('[data-sportello]').shadowRoot.activeElement?.classList.contains('spw-pin'));
  check(onMarker, 'keyboard: Enter opens the desk on the map and focuses its marker');
  // A crowded area is a keyboard stop: Tab from the form reaches a cluster, Enter zooms in.
  // The sample never clusters (55 public desks, clusters start above 200 in view): a second
  // server serves 3,000 synthetic desks.
  const crowdedDir = resolve(root, 'target/browser-crowded');
  const synth = spawnSync(bin, ['synth', '--count', '3000', '--seed', '7', '--out', `${crowdedDir}.geojson`], { stdio: 'inherit' });
  const built = spawnSync(bin, ['build', '--input', `${crowdedDir}.geojson`, '--out', crowdedDir, '--no-tiles'], { stdio: ['ignore', 'ignore', 'inherit'] });
  check(synth.status === 0 && built.status === 0, 'a bundle of 3,000 synthetic desks for the crowded map');
  const crowded = await startServer(['--bundle', crowdedDir]);
  const zooms = [];
  kp.on('request', (r) => { const m = /\/api\/v1\/points\?.*zoom=(\d+)/.exec(r.url()); if (m) zooms.push(+m[1]); });
  const crowdedAnswers = [];
  kp.on('response', (r) => { if (r.url().includes('/api/v1/points?')) crowdedAnswers.push(r.json()); });
  await kp.goto(`${crowded}/embed?lang=en&center=48,10&zoom=4`);
  await waitList(kp);
  await kp.locator('.spw-cluster').first().waitFor({ timeout: 10000 });
  await kp.waitForTimeout(500);
  // Clusters of neighbouring cells that would overlap on screen are drawn as one, counts added.
  const apiClusters = (await crowdedAnswers[crowdedAnswers.length - 1]).features.filter((f) => f.properties.cluster);
  const circles = await kp.locator('.spw-cluster').evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2, d: r.width, n: Number(e.textContent) }; }));
  const overlapping = circles.filter((a, i) => circles.some((b, j) => j > i && Math.hypot(a.x - b.x, a.y - b.y) < a.d)).length;
  const sums = [apiClusters.reduce((n, f) => n + f.properties.point_count, 0), circles.reduce((n, c) => n + c.n, 0)];
  check(overlapping === 0 && sums[0] === sums[1] && circles.length <= apiClusters.length, `crowded map: ${apiClusters.length} clusters drawn as ${circles.length} circles, none overlapping, ${sums[1]} of ${sums[0]} desks counted`);
  await kp.locator('button[type="submit"]').focus();
  let onCluster = false;
  for (let i = 0; i < 40 && !onCluster; i++) {
    await kp.keyboard.press('Tab');
    onCluster = /spw-cluster/.test(await active());
  }
  const before = Math.max(...zooms);
  if (onCluster) await kp.keyboard.press('Enter');
    for (let i = 0; i < 30 && Math.max(...zooms) <= before; i++) await kp.waitForTimeout(100);
  check(onCluster && Math.max(...zooms) > before, `keyboard: Tab reaches a cluster (${onCluster}) and Enter zooms into it (zoom ${before} → ${Math.max(...zooms)})`);
  await kctx.close();

  // 3. axe-core, LTR and RTL (the scan runs in a context that lets the test inject axe).
  const scan = await browser.newContext({ bypassCSP: true, viewport: { width: 360, height: 800 } });
  for (const path of ['/demo?ui=en', '/demo?ui=ar', '/demo?ui=fa', '/embed?lang=ur&center=45.46,9.19&zoom=12']) {
    const p = await scan.newPage();
    await p.goto(base + path);
    await waitList(p);
    await p.locator('.spw-show').first().click();
    await p.locator('.leaflet-popup').waitFor({ timeout: 5000 });
    await p.addScriptTag({ content: axeSource });
    const result = await p.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help, target: v.nodes[0] && v.nodes[0].target.join(' ') }));
    });
    const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    const minor = result.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`);
    check(bad.length === 0, `axe ${path}: no serious or critical violation ${bad.map((v) => `${v.id}×${v.nodes}: ${v.help} [${v.target}]`).join('; ')}${minor.length ? ` [minor: ${minor.join(', ')}]` : ''}`);
    await p.close();
  }
  await scan.close();

  // 4. Two widgets on a partner page of another origin, with hostile CSS; then the iframe form.
  const pctx = await browser.newContext({ viewport: { width: 400, height: 900 } });
  const pp = await pctx.newPage();
  const pOutside = watch(pp, [base, partnerBase]);
  await pp.goto(`${partnerBase}/two.html`);
  await waitList(pp, '#a');
  await waitList(pp, '#b');
  const two = await pp.evaluate(() => ['a', 'b'].map((id) => {
    const sr = document.getElementById(id).shadowRoot;
    const box = sr.querySelector('.spw');
    const item = sr.querySelector('.spw-item');
    return { dir: getComputedStyle(box).direction, lang: box.getAttribute('lang'), visible: item.getBoundingClientRect().height > 0, display: getComputedStyle(item).display, size: getComputedStyle(box).fontSize, ids: [...sr.querySelectorAll('.spw-item')].map((e) => e.getAttribute('data-id')), needs: sr.querySelectorAll('#spw-need option').length };
  }));
  check(two[0].dir === 'ltr' && two[0].lang === 'it' && two[1].dir === 'rtl' && two[1].lang === 'ar', `two widgets, each in its language and direction (${two[0].lang}/${two[0].dir}, ${two[1].lang}/${two[1].dir})`);
  check(two.every((w) => w.visible && w.display !== 'none' && w.size === '16px'), `the host page's CSS does not reach the widgets (${two.map((w) => `${w.display} ${w.size}`).join(', ')})`);
  const housing = (await api('/api/v1/nearest?lat=45.4642&lon=9.19&k=10&domain=housing&lang=ar,fr')).features.map((f) => f.id);
  check(JSON.stringify(two[1].ids) === JSON.stringify(housing), `presets data-domain and data-lang-filter apply to the list (${two[1].ids.length} desks)`);
  check(two[1].needs === 2, `the need picker offers only the preset needs (${two[1].needs - 1} + any)`);
  const globals = await pp.evaluate(() => ({ sportello: typeof window.sportello, L: typeof window.L }));
  check(globals.sportello === 'object' && globals.L === 'undefined', `one global (sportello: ${globals.sportello}, L: ${globals.L})`);
  // The presets reach the map too: the points of widget b are only housing desks.
  const pointsUrls = [];
  pp.on('request', (r) => { if (r.url().includes('/api/v1/points')) pointsUrls.push(r.url()); });
  await pp.evaluate(() => document.getElementById('b').shadowRoot.querySelector('.leaflet-control-zoom-out').click());
  await pp.waitForTimeout(800);
  check(pointsUrls.length > 0 && pointsUrls.every((u) => u.includes('domain=housing') && u.includes('lang=ar%2Cfr')), `the map's desks are asked with the presets (${pointsUrls.length} requests)`);
  check(pOutside.length === 0, `partner page: nothing requested outside the partner and the widget's origin (${pOutside.join(', ')})`);
  check((await pctx.cookies()).length === 0, 'partner page: no cookie');

  await pp.goto(`${partnerBase}/iframe.html`);
  const frame = pp.frameLocator('#f');
  await frame.locator('.spw-item').first().waitFor({ timeout: 15000 });
  const fIds = await frame.locator('.spw-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
  const bxl = (await api('/api/v1/nearest?lat=50.85&lon=4.35&k=10&domain=work-rights')).features.map((f) => f.id);
  check(JSON.stringify(fIds) === JSON.stringify(bxl), `the iframe form /embed runs the widget with its presets (${fIds.length} desks near Brussels)`);
  check((await frame.locator('.spw').getAttribute('lang')) === 'fr', 'the iframe form is in the language asked');
  const embedCsp = (await fetch(`${base}/embed`)).headers.get('content-security-policy');
  check(/frame-ancestors \*/.test(embedCsp) && /script-src 'self'/.test(embedCsp) && !/unsafe/.test(embedCsp), `/embed may be framed, runs no inline script (${embedCsp})`);
  await pctx.close();

  // 4b. A position from the address (DB-IP) brings DB-IP's attribution. A second server reads a
  // one-network DB-IP file written by dbip.py and believes the loopback proxy's X-Forwarded-For.
  const dbDir = resolve(root, 'target/browser-dbip');
  const python = process.env.PYTOOLS_PYTHON || resolve(root, 'target/pytools/bin/python3');
  const made = spawnSync(python, [resolve(here, 'dbip.py'), dbDir], { stdio: 'inherit' });
  check(made.status === 0, `dbip.py wrote a DB-IP file with ${python}`);
  const located = await startServer(['--geoip', resolve(dbDir, 'dbip-city-ipv4.mmdb'), '--trusted-proxy', '127.0.0.1/32']);
  const ipctx = await browser.newContext({ viewport: { width: 360, height: 800 }, extraHTTPHeaders: { 'X-Forwarded-For': '151.38.39.7' } });
  const ip = await ipctx.newPage();
  await ip.goto(`${located}/demo?ui=it`);
  await ip.waitForFunction(() => {
    const t = document.querySelector('[data-sportello]').shadowRoot.querySelector('.spw-title');
    return t && /Vigevano/.test(t.textContent);
  }, null, { timeout: 15000 });
  const credit = ip.locator('.leaflet-control-attribution a', { hasText: 'IP Geolocation by DB-IP' });
  check(await credit.count() === 1 && (await credit.getAttribute('href')) === 'https://db-ip.com', 'a position from DB-IP shows “IP Geolocation by DB-IP”, linked');
  const near = (await api('/api/v1/nearest?lat=45.31410&lon=8.85437&k=10')).features.map((f) => f.id);
  check(JSON.stringify(await listIds(ip)) === JSON.stringify(near), `the list starts at the address's approximate position (${(await ip.locator('.spw-title').textContent())})`);
  await ipctx.close();
  const plain = await browser.newContext();
  const pl = await plain.newPage();
  await pl.goto(`${base}/demo`);
  await waitList(pl);
  check(await pl.locator('.leaflet-control-attribution', { hasText: 'DB-IP' }).count() === 0, 'without a DB-IP position, no DB-IP credit');
  check(await pl.evaluate(() => performance.getEntriesByType('resource').filter((e) => /operator-basemap/.test(e.name)).length) === 0, 'without an operator base map the widget does not fetch its renderer');
  await plain.close();

  // 4c. An operator's PMTiles base map (`serve --basemap`), drawn over the Natural Earth map:
  // three small files written by basemap.py (Protomaps schema, OpenMapTiles schema, PNG), each
  // with a square lake at the demo's centre. The colour the widget painted there is read back
  // from its canvases; every byte comes by Range requests from the widget's own origin; the
  // file's attribution shows its text and link but none of its markup runs.
  const mapDir = resolve(root, 'target/browser-basemap');
  const wrote = spawnSync(python, [resolve(here, 'basemap.py'), mapDir], { stdio: 'inherit' });
  check(wrote.status === 0, `basemap.py wrote three PMTiles base maps with ${python}`);
  /** The RGB the operator layer's canvases hold at the map's centre moved `dx` pixels east;
   * with `want`, only once it is that colour (give or take 4), else null. */
  const paintedAt = ({ dx, want }) => {
    const sr = document.querySelector('[data-sportello]').shadowRoot;
    const map = sr.querySelector('.spw-map').getBoundingClientRect();
    const x = map.left + map.width / 2 + dx;
    const y = map.top + map.height / 2;
    for (const c of sr.querySelectorAll('.spw-operator canvas')) {
      const r = c.getBoundingClientRect();
      if (x < r.left || x >= r.right || y < r.top || y >= r.bottom || !c.width) continue;
      const d = c.getContext('2d').getImageData(Math.floor((x - r.left) * c.width / r.width), Math.floor((y - r.top) * c.height / r.height), 1, 1).data;
      if (d[3] === 0) continue;
      const rgb = [d[0], d[1], d[2]];
      return !want || rgb.every((v, i) => Math.abs(v - want[i]) <= 4) ? rgb : null;
    }
    return null;
  };
  const sameColour = (a, b) => a && a.every((v, i) => Math.abs(v - b[i]) <= 4);
  const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  for (const [file, schema, water, land] of [
    ['protomaps.pmtiles', 'Protomaps schema', '#80deea', '#e2dfda'],
    ['openmaptiles.pmtiles', 'OpenMapTiles schema', '#a9cde6', '#e4ecd3'],
    ['raster.pmtiles', 'PNG tiles', '#3d9970', '#3d9970'],
  ]) {
    const served = await startServer(['--basemap', resolve(mapDir, file)]);
    const info = await (await fetch(`${served}/basemap/operator.json`)).json();
    const octx = await browser.newContext({ viewport: { width: 360, height: 800 } });
    const op = await octx.newPage();
    const away = watch(op, [served]);
    const ranges = [];
    op.on('response', (r) => { if (r.url().endsWith('/basemap/operator.pmtiles')) ranges.push(r.status()); });
    const opErrors = [];
    op.on('pageerror', (e) => opErrors.push(e.message));
    await op.goto(`${served}/demo?ui=en`);
    await waitList(op);
    await op.waitForFunction(paintedAt, { dx: 0, want: hex(water) }, { timeout: 15000 }).catch(() => {});
    const painted = await op.evaluate(paintedAt, { dx: 0 });
    const beside = await op.evaluate(paintedAt, { dx: 110 });
    await op.locator('.spw-map').screenshot({ path: resolve(artifacts, `widget-360-operator-${file.replace('.pmtiles', '')}.png`) });
    check(sameColour(painted, hex(water)) && sameColour(beside, hex(land)), `operator base map, ${schema} (${info.tile_type}, layers ${JSON.stringify(info.layers)}): the lake at the centre is painted ${water} (${painted}), the land beside it ${land} (${beside})`);
    check(ranges.length > 0 && ranges.every((s) => s === 206), `operator base map, ${schema}: read by ${ranges.length} Range requests, all 206`);
    check(away.length === 0 && opErrors.length === 0, `operator base map, ${schema}: nothing requested elsewhere, no script error (${away.concat(opErrors).join(' ')})`);
    const credit = op.locator('.leaflet-control-attribution');
    const osm = credit.locator('a', { hasText: '© OpenStreetMap' });
    const markup = await credit.evaluate((el) => el.querySelectorAll('img, script').length);
    const pwned = await op.evaluate(() => window.sportelloPwned);
    check(await osm.count() === 1 && (await osm.getAttribute('href')) === 'https://www.openstreetmap.org/copyright' && /test map/.test(await credit.textContent()) && !/Pwned/.test(await credit.textContent()) && markup === 0 && pwned === undefined,
      `operator base map, ${schema}: the file's attribution shows its text and link, none of its markup or script text (${markup} elements, script ran: ${pwned !== undefined})`);
    await octx.close();
  }

  // 5. Weight of the first view on a 360-px phone: every byte transferred, compressed.
  const weigh = async (path, ready) => {
    const wctx = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const wp = await wctx.newPage();
    const cdp = await wctx.newCDPSession(wp);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    let bytes = 0;
    let count = 0;
    cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; count += 1; });
    await wp.goto(base + path);
    if (ready) await ready(wp);
    await wp.waitForLoadState('networkidle');
    await wp.waitForTimeout(500);
    await wctx.close();
    return { bytes, count };
  };
  const first = await weigh('/demo', (p) => waitList(p));
  check(first.bytes <= BUDGET, `first view of /demo at 360 px: ${(first.bytes / 1024).toFixed(1)} KB transferred in ${first.count} responses (budget 250 KB)`);
  const list = await weigh('/list?place=Milano&ui=en');
  console.log(`     /list?place=Milano: ${(list.bytes / 1024).toFixed(1)} KB transferred in ${list.count} responses`);

  // 6. 200 % zoom: a 360-px phone shows 180 CSS pixels; nothing scrolls sideways.
  const zoom = await browser.newContext({ viewport: { width: 180, height: 400 }, deviceScaleFactor: 2 });
  for (const path of ['/demo?ui=en', '/demo?ui=ar']) {
    const zp = await zoom.newPage();
    await zp.goto(base + path);
    await waitList(zp);
    const [scroll, client] = await zp.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    check(scroll <= client, `200 % zoom ${path}: no sideways scrolling (${scroll} ≤ ${client})`);
    await zp.close();
  }
  await zoom.close();

  // 7. prefers-reduced-motion: the map stops animating zooms and fades.
  const animated = async (reducedMotion) => {
    const mctx = await browser.newContext({ viewport: { width: 360, height: 800 }, reducedMotion });
    const mp = await mctx.newPage();
    await mp.goto(`${base}/demo`);
    await waitList(mp);
    // Leaflet marks its map pane `leaflet-zoom-anim` for the 250 ms a zoom animates.
    const n = await mp.evaluate(async () => {
      const sr = document.querySelector('[data-sportello]').shadowRoot;
      sr.querySelector('.leaflet-control-zoom-in').click();
      await new Promise((r) => setTimeout(r, 80));
      return sr.querySelectorAll('.leaflet-zoom-anim').length;
    });
    await mctx.close();
    return n;
  };
  const [moving, still] = [await animated('no-preference'), await animated('reduce')];
  check(moving > 0 && still === 0, `prefers-reduced-motion: zooming does not animate (${moving} animating pane → ${still})`);
} finally {
  await browser.close();
  partner.close();
  stop();
}

if (failures.length) {
  console.error(`${failures.length} widget check(s) failed`);
  process.exit(1);
}
console.log('widget checks passed');
