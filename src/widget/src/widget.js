// One widget: the assistant (language, need, words, place), the map and the list of the nearest
// desks, kept in sync, inside the host element's shadow root so the host page's CSS cannot reach
// it and two widgets never share an id. It talks only to its own origin, sends no cookies and
// stores nothing. Every piece of desk data is written as text (never as HTML).
import * as L from 'leaflet/dist/leaflet-src.esm.js';
import { BaseMap } from './basemap.js';

const LIST_SIZE = 10;
/** A cluster's circle on the map, in pixels. */
const CLUSTER_PX = 34;
const reducedMotion = () => window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
const csv = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);

/** An element: h('a', {href, class}, child, …); children are nodes or text. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const fill = (template, name, value) => template.split(`{${name}}`).join(value);
/** Only the digits of a phone number, with its leading `+`. */
const dial = (n) => (n.trim().startsWith('+') ? '+' : '') + n.replace(/\D/g, '');

export class Widget {
  constructor(host, origin) {
    this.host = host;
    this.origin = origin;
    const d = host.dataset;
    const center = csv(d.center).map(Number);
    this.center = center.length === 2 && center.every(Number.isFinite) ? center : null;
    this.zoom = Number.isFinite(+d.zoom) && d.zoom !== undefined && d.zoom !== '' ? +d.zoom : (this.center ? 12 : 4);
    // Presets: applied to every request the widget makes.
    this.preset = { domain: csv(d.domain), audience: d.audience || '', lang: csv(d.langFilter) };
    this.state = { ui: d.lang || 'en', need: '', speaks: '', q: '', place: '', position: null, answer: null };
    this.seq = 0;
    this.root = host.attachShadow({ mode: 'open' });
  }

  async start() {
    const sheet = h('link', { rel: 'stylesheet', href: `${this.origin}/widget.css` });
    const loaded = new Promise((ok) => { sheet.onload = ok; sheet.onerror = ok; });
    this.root.append(sheet);
    this.box = h('div', { class: 'spw' });
    this.root.append(this.box);
    await Promise.all([loaded, this.loadLanguage(this.state.ui)]);
    this.render();
    this.locateByAddress();
  }

  get(path, params) {
    const u = new URL(path, this.origin);
    for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== undefined && v !== null) u.searchParams.set(k, v);
    // What depends on a position or words is never kept by the browser's cache; strings and labels may be.
    const shared = path.startsWith('/widget/ui/') || path === '/api/v1/domains' || path === '/basemap/operator.json';
    return fetch(u, { credentials: 'omit', referrerPolicy: 'no-referrer', cache: shared ? 'default' : 'no-store' }).then(async (r) => {
      const body = await r.json().catch(() => null);
      if (!r.ok) throw Object.assign(new Error(`HTTP ${r.status}`), { body });
      return body;
    });
  }

  async loadLanguage(code) {
    const [ui, domains] = await Promise.all([
      this.get(`/widget/ui/${encodeURIComponent(code)}.json`).catch(() => this.get('/widget/ui/en.json')),
      this.get('/api/v1/domains', { ui: code }).catch(() => ({ domains: [] })),
    ]);
    this.t = ui.strings;
    this.lang = ui;
    this.state.ui = ui.ui;
    this.domains = domains.domains.filter((d) => !this.preset.domain.length || this.preset.domain.includes(d.code));
    this.domainLabel = new Map(domains.domains.map((d) => [d.code, d.label]));
    let names = null;
    try { names = new Intl.DisplayNames([ui.ui], { type: 'language' }); } catch { /* an old browser */ }
    const native = new Map(ui.languages.map((l) => [l.code, l.native]));
    // A language named in the reader's language where the browser knows it, else in its own.
    this.langName = (c) => {
      let n = null;
      try { n = names && names.of(c); } catch { /* unknown code */ }
      return n && n !== c ? n : native.get(c) || c;
    };
  }

  /** The filters of every request: the person's choices within the partner's presets. */
  filters() {
    const s = this.state;
    return {
      domain: s.need || this.preset.domain.join(','),
      lang: s.speaks || this.preset.lang.join(','),
      audience: this.preset.audience,
    };
  }

  // ---------------------------------------------------------------- layout

  render() {
    const t = this.t;
    const s = this.state;
    const view = this.map ? { c: this.map.getCenter(), z: this.map.getZoom() } : null;
    if (this.map) { this.map.remove(); this.map = null; }
    this.box.replaceChildren();
    this.box.setAttribute('lang', s.ui);
    this.box.setAttribute('dir', this.lang.rtl ? 'rtl' : 'ltr');

    const field = (id, label, control, inline) => h('div', { class: inline ? 'spw-field spw-field--inline' : 'spw-field' }, h('label', { for: id }, label), control);
    const uiSelect = h('select', { id: 'spw-ui', onchange: (e) => this.switchLanguage(e.target.value) },
      this.lang.languages.map((l) => h('option', { value: l.code, lang: l.code, dir: l.rtl ? 'rtl' : 'ltr', selected: l.code === s.ui }, l.native)));
    const needSelect = h('select', { id: 'spw-need', onchange: (e) => { s.need = e.target.value; this.search(); } },
      h('option', { value: '' }, t.need_any),
      this.domains.map((d) => h('option', { value: d.code, selected: d.code === s.need }, d.label)));
    const speakable = this.preset.lang.length ? this.preset.lang : this.lang.languages.map((l) => l.code);
    const speaksSelect = h('select', { id: 'spw-speaks', onchange: (e) => { s.speaks = e.target.value; this.search(); } },
      h('option', { value: '' }, t.lang_any),
      speakable.map((c) => h('option', { value: c, selected: c === s.speaks }, this.langName(c))));
    this.qInput = h('input', { id: 'spw-q', type: 'search', maxlength: '200', value: s.q, autocomplete: 'off' });
    this.placeInput = h('input', { id: 'spw-place', type: 'text', maxlength: '100', value: s.place, autocomplete: 'off' });
    this.status = h('p', { class: 'spw-status', role: 'status', 'aria-live': 'polite' });

    const form = h('form', { class: 'spw-form', role: 'search', 'aria-label': t.page_title, onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      field('spw-ui', t.ui_label, uiSelect, true),
      field('spw-need', t.need_label, needSelect),
      field('spw-q', t.q_label, this.qInput),
      h('div', { class: 'spw-field' },
        h('label', { for: 'spw-place' }, t.place_label),
        h('div', { class: 'spw-row' }, this.placeInput,
          h('button', { type: 'button', class: 'spw-button spw-button--secondary', onclick: () => this.locateByDevice() }, t.widget_my_position))),
      field('spw-speaks', t.lang_label, speaksSelect),
      h('div', { class: 'spw-field' }, h('button', { type: 'submit', class: 'spw-button' }, t.submit)),
      this.status);

    this.mapEl = h('div', { class: 'spw-map', role: 'region', 'aria-label': t.widget_map });
    this.title = h('h2', { class: 'spw-title', id: 'spw-title', tabindex: '-1' });
    this.understood = h('p', { class: 'spw-understood' });
    this.list = h('ol', { class: 'spw-list', 'aria-labelledby': 'spw-title' });
    const results = h('section', { class: 'spw-results', 'aria-labelledby': 'spw-title' }, this.title, this.understood, this.list);
    const foot = h('p', { class: 'spw-foot' },
      h('a', { href: `${this.origin}/list?ui=${s.ui}`, target: '_top' }, t.widget_no_js), ' · ', t.privacy);
    this.box.append(form, h('div', { class: 'spw-body' }, this.mapEl, results), foot);
    this.makeMap(view);
    if (s.answer) this.showAnswer(s.answer, false);
  }

  makeMap(view) {
    const rtl = this.lang.rtl;
    const still = reducedMotion();
    const map = L.map(this.mapEl, {
      zoomControl: false, attributionControl: false, worldCopyJump: true, minZoom: 2, maxZoom: 18,
      zoomAnimation: !still, fadeAnimation: !still, markerZoomAnimation: !still, inertia: !still,
    });
    // Controls on the side the reading starts from: mirrored in right-to-left languages.
    L.control.zoom({ position: rtl ? 'topright' : 'topleft', zoomInTitle: '+', zoomOutTitle: '−' }).addTo(map);
    this.attribution = L.control.attribution({ position: rtl ? 'bottomleft' : 'bottomright', prefix: false }).addTo(map);
    this.attribution.addAttribution('<a href="https://www.naturalearthdata.com/" target="_blank" rel="noopener noreferrer">Natural Earth</a>');
    this.attribution.addAttribution('<a href="https://www.geonames.org/" target="_blank" rel="noopener noreferrer">GeoNames</a>');
    if (this.ipAttribution) this.attribution.addAttribution(this.ipAttribution);
    new BaseMap(this.origin, { tileSize: 256, keepBuffer: 1 }).addTo(map);
    this.pointsLayer = L.layerGroup().addTo(map);
    this.resultsLayer = L.layerGroup().addTo(map);
    if (view) map.setView(view.c, view.z, { animate: false });
    else if (this.center) map.setView(this.center, this.zoom);
    else map.setView([48, 10], this.zoom);
    let timer = null;
    map.on('moveend', () => { clearTimeout(timer); timer = setTimeout(() => this.loadPoints(), 150); });
    this.map = map;
    this.loadPoints();
    this.addOperatorMap(map);
  }

  /** The operator's own detailed base map (`serve --basemap`), over the Natural Earth one, when
   * the server has one: its renderer is a second script, fetched only then. */
  async addOperatorMap(map) {
    if (!this.operatorInfo) this.operatorInfo = this.get('/basemap/operator.json').catch(() => ({ available: false }));
    const info = await this.operatorInfo;
    if (!info || !info.available || map !== this.map) return;
    try {
      const renderer = await loadOperatorRenderer(this.origin);
      if (map !== this.map) return;
      // Only the parts of Leaflet the renderer uses: passing the whole module would keep all of it in this bundle.
      const leaflet = { GridLayer: L.GridLayer, DomUtil: L.DomUtil, latLngBounds: L.latLngBounds };
      const layer = renderer.operatorLayer(leaflet, this.origin, { ...info, attribution: safeAttribution(info.attribution || '') }, this.state.ui);
      layer.addTo(map);
      this.operatorLayer = layer;
    } catch { /* the Natural Earth map stays */ }
  }

  async switchLanguage(code) {
    await this.loadLanguage(code);
    this.render();
    this.box.querySelector('#spw-ui').focus();
  }

  say(text) {
    this.status.textContent = text || '';
  }

  // ---------------------------------------------------------------- place

  /** Where the person is, without asking them: from the server's view of their address. */
  async locateByAddress() {
    if (this.state.position) return;
    try {
      const f = await this.get('/api/v1/locate', { ui: this.state.ui });
      if (f && f.status === 'approximate' && f.geometry && !this.state.position) {
        const [lon, lat] = f.geometry.coordinates;
        const p = f.properties || {};
        if (p.attribution) {
          const url = /^https:\/\//.test(p.attribution_url || '') ? p.attribution_url : 'https://db-ip.com';
          this.ipAttribution = `<a href="${encodeURI(url)}" target="_blank" rel="noopener noreferrer">${escapeHtml(p.attribution)}</a>`;
          this.attribution.addAttribution(this.ipAttribution);
        }
        this.state.position = { lat, lon, label: p.place || '', source: 'ip' };
      }
    } catch { /* unknown: fall back below */ }
    if (!this.state.position && this.center) this.state.position = { lat: this.center[0], lon: this.center[1], label: '', source: 'partner' };
    this.search({ initial: true });
  }

  /** The device's position: asked only when the person presses the button. */
  locateByDevice() {
    const t = this.t;
    if (!navigator.geolocation) { this.say(t.widget_position_failed); return; }
    this.say(t.widget_locating);
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        this.state.position = { lat: pos.coords.latitude, lon: pos.coords.longitude, label: '', source: 'device' };
        this.state.place = '';
        this.placeInput.value = '';
        this.say('');
        this.search();
      },
      () => this.say(t.widget_position_failed),
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 },
    );
  }

  async submit() {
    const s = this.state;
    s.q = this.qInput.value.trim();
    const typed = this.placeInput.value.trim();
    if (typed && typed !== s.place) {
      try {
        const found = await this.get('/api/v1/locate', { place: typed, ui: s.ui, limit: 1 });
        const town = found.features && found.features[0];
        if (!town) { this.say(fill(this.t.error_place, 'value', typed)); this.placeInput.focus(); return; }
        const [lon, lat] = town.geometry.coordinates;
        s.position = { lat, lon, label: town.properties.name, source: 'place' };
        s.place = typed;
      } catch {
        this.say(this.t.error_internal);
        return;
      }
    }
    await this.search();
    this.title.focus();
  }

  // ---------------------------------------------------------------- results

  /** The list: `nearest` for a position alone, `search` with words or without a position. */
  async search(opts) {
    const s = this.state;
    const seq = ++this.seq;
    const at = s.position ? { lat: s.position.lat.toFixed(5), lon: s.position.lon.toFixed(5) } : {};
    try {
      const answer = s.q || !s.position
        ? await this.get('/api/v1/search', { q: s.q, ...at, limit: LIST_SIZE, ...this.filters() })
        : await this.get('/api/v1/nearest', { ...at, k: LIST_SIZE, ...this.filters() });
      const ids = answer.features.map((f) => f.id);
      const today = ids.length ? await this.get('/widget/today', { ids: ids.join(',') }).catch(() => ({})) : {};
      if (seq !== this.seq) return;
      s.answer = { features: answer.features, understood: answer.understood_domains || [], today };
      // The partner's first view stays as they set it while the list is about their centre.
      this.showAnswer(s.answer, !(opts && opts.initial && s.position && s.position.source === 'partner'));
      this.say('');
    } catch (e) {
      if (seq !== this.seq) return;
      this.say(e.body && e.body.status === 503 ? this.t.busy : this.t.error_internal);
    }
  }

  showAnswer(answer, fit) {
    const t = this.t;
    const s = this.state;
    const pos = s.position;
    // "Near you" only for the person's own position; the partner's map centre is not theirs.
    this.title.textContent = pos && pos.label ? fill(t.results_near, 'place', pos.label)
      : pos && pos.source !== 'partner' ? t.results_here : t.results_found;
    this.understood.textContent = answer.understood.length
      ? fill(t.understood, 'needs', answer.understood.map((c) => this.domainLabel.get(c) || c).join(', ')) : '';
    this.list.replaceChildren();
    this.resultsLayer.clearLayers();
    this.items = new Map();
    if (!answer.features.length) {
      this.list.append(h('li', { class: 'spw-none' }, t.results_none));
      return;
    }
    // Desks at the same position share one marker, whose popup lists them all.
    const groups = new Map();
    answer.features.forEach((f, i) => {
      const [lon, lat] = f.geometry.coordinates;
      const key = `${lat.toFixed(5)},${lon.toFixed(5)}`;
      if (!groups.has(key)) groups.set(key, { lat, lon, desks: [] });
      groups.get(key).desks.push({ f, n: i + 1 });
    });
    for (const g of groups.values()) {
      const names = g.desks.map((d) => `${d.n}. ${d.f.properties.name}`).join('; ');
      const label = g.desks.length > 1 ? `${fill(t.widget_here, 'count', String(g.desks.length))}: ${names}` : names;
      const icon = L.divIcon({ className: 'spw-pin', html: h('span', {}, g.desks.map((d) => d.n).join(',')), iconSize: null, iconAnchor: [14, 14], popupAnchor: [0, -12] });
      const marker = L.marker([g.lat, g.lon], { icon, title: label, alt: label, keyboard: true, riseOnHover: true });
      marker.bindPopup(() => this.popup(g), { maxWidth: 260, autoPanPadding: [16, 16] });
      marker.on('click', () => this.select(g.desks[0].f.id, false));
      marker.on('keypress', (e) => { if (e.originalEvent && e.originalEvent.key === 'Enter') this.select(g.desks[0].f.id, false); });
      marker.addTo(this.resultsLayer);
      for (const d of g.desks) this.items.set(d.f.id, { marker, group: g });
    }
    answer.features.forEach((f, i) => this.list.append(this.item(f, i + 1, answer.today[f.id])));
    if (fit) {
      const pts = answer.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
      if (pos) pts.push([pos.lat, pos.lon]);
      this.map.fitBounds(L.latLngBounds(pts), { padding: [24, 24], maxZoom: 14, animate: !reducedMotion() });
    }
    this.loadPoints();
  }

  popup(g) {
    const t = this.t;
    return h('div', { class: 'spw-popup', dir: this.lang.rtl ? 'rtl' : 'ltr', lang: this.state.ui },
      g.desks.length > 1 ? h('p', {}, fill(t.widget_here, 'count', String(g.desks.length))) : null,
      h('ul', {}, g.desks.map((d) => h('li', {},
        h('button', { type: 'button', class: 'spw-link', onclick: () => this.select(d.f.id, true) }, `${d.n}. `, h('bdi', {}, d.f.properties.name)),
        d.f.properties.distance_m !== undefined ? h('span', {}, ' · ', this.distance(d.f.properties.distance_m)) : null))));
  }

  distance(m) {
    const km = m / 1000;
    const n = km < 10 ? km.toFixed(1).replace('.', this.t.decimal) : km.toFixed(0);
    return fill(this.t.distance, 'km', n);
  }

  /** One desk of the list: what a person needs to choose it and reach it in one tap. */
  item(f, n, today) {
    const t = this.t;
    const p = f.properties;
    const c = p.contacts || {};
    const [lon, lat] = f.geometry.coordinates;
    const link = (href, text, outside) => h('li', {}, h('a', { class: 'spw-action', href, target: outside ? '_blank' : null, rel: outside ? 'noopener noreferrer' : null }, text));
    const actions = [];
    if (c.phone) actions.push(link(`tel:${dial(c.phone)}`, [t.call, ' ', h('bdi', { dir: 'ltr' }, c.phone)]));
    if (c.whatsapp) actions.push(link(`https://wa.me/${dial(c.whatsapp).replace('+', '')}`, 'WhatsApp', true));
    if (c.signal) {
      actions.push(c.signal.trim().startsWith('+') ? link(`https://signal.me/#p/${dial(c.signal)}`, 'Signal', true)
        : h('li', {}, h('span', { class: 'spw-action spw-action--text' }, 'Signal ', h('bdi', { dir: 'ltr' }, c.signal))));
    }
    if (c.telegram) {
      const tg = c.telegram.startsWith('@') ? `https://t.me/${c.telegram.slice(1)}` : c.telegram.startsWith('https://') ? c.telegram : `https://t.me/${dial(c.telegram)}`;
      actions.push(link(tg, 'Telegram', true));
    }
    if (c.email) actions.push(link(`mailto:${c.email}`, t.email));
    if (c.website && /^https?:\/\//.test(c.website)) actions.push(link(c.website, t.website, true));
    actions.push(link(`geo:${lat},${lon}`, t.directions));
    actions.push(link(`https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`, 'OpenStreetMap', true));

    const tags = [];
    if (p.audience === 'unions') tags.push(t.audience_unions);
    if (p.fees) tags.push(t[`fees_${p.fees}`]);
    const wheel = p.access && p.access.wheelchair;
    if (wheel) tags.push(t[`wheelchair_${wheel}`]);

    let hours;
    if (!today || today.open_now === null || today.open_now === undefined) hours = h('p', { class: 'spw-hours' }, t.hours_unknown);
    else {
      const times = today.hours.map(([a, b]) => `${a}–${b}`).join(', ');
      const [before, after] = t.today.split('{hours}');
      hours = h('p', { class: 'spw-hours' },
        h('strong', { class: today.open_now ? 'spw-open' : 'spw-closed' }, today.open_now ? t.open_now : t.closed_now), ' ',
        times ? h('span', {}, before, h('bdi', { dir: 'ltr' }, times), after || '') : h('span', {}, t.closed_today));
    }
    const city = p.address && p.address.city;
    const li = h('li', { class: 'spw-item', 'data-id': f.id },
      h('h3', { class: 'spw-name' },
        h('span', { class: 'spw-num', 'aria-hidden': 'true' }, String(n)), ' ',
        h('a', { href: `${this.origin}/d/${encodeURIComponent(f.id)}?ui=${this.state.ui}`, target: '_blank', rel: 'noopener' }, h('bdi', {}, p.name))),
      h('p', { class: 'spw-meta' }, [p.organization, city].filter(Boolean).join(' · '),
        p.distance_m !== undefined ? h('strong', {}, ' · ', this.distance(p.distance_m)) : null),
      hours,
      h('p', { class: 'spw-facts' }, h('span', { class: 'spw-label' }, t.languages, ': '), (p.languages || []).map((c2) => this.langName(c2)).join(', ')),
      h('p', { class: 'spw-facts' }, h('span', { class: 'spw-label' }, t.needs, ': '), (p.domains || []).map((d) => this.domainLabel.get(d) || d).join(', ')),
      tags.length ? h('ul', { class: 'spw-tags' }, tags.map((x) => h('li', {}, x))) : null,
      h('ul', { class: 'spw-actions' }, actions),
      h('button', { type: 'button', class: 'spw-button spw-button--secondary spw-show', onclick: () => this.show(f.id) }, t.widget_show_on_map));
    li.addEventListener('click', (e) => {
      if (e.target.closest('a, button')) return;
      this.show(f.id);
    });
    return li;
  }

  /** From the list to the map: centre the desk's marker and open it. */
  show(id) {
    const it = this.items.get(id);
    if (!it) return;
    this.select(id, false);
    const z = Math.max(this.map.getZoom(), 13);
    this.map.setView(it.marker.getLatLng(), z, { animate: !reducedMotion() });
    it.marker.openPopup();
    const el = it.marker.getElement();
    if (el) el.focus();
  }

  /** From the map to the list: mark the desk's item and bring it into view. */
  select(id, focus) {
    for (const li of this.list.querySelectorAll('.spw-item')) {
      const on = li.getAttribute('data-id') === id;
      li.classList.toggle('spw-current', on);
      if (on) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
      if (on) {
        li.scrollIntoView({ block: 'nearest', behavior: reducedMotion() ? 'auto' : 'smooth' });
        if (focus) { const a = li.querySelector('a'); if (a) a.focus(); }
      }
    }
  }

  // ---------------------------------------------------------------- desks on the map

  /** Every desk in view, clustered by the server where crowded, with the same filters. */
  async loadPoints() {
    if (!this.map) return;
    const map = this.map;
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    let w = b.getWest();
    let e = b.getEast();
    if (e - w >= 360) { w = -180; e = 180; } else { w = ((w + 540) % 360) - 180; e = ((e + 540) % 360) - 180; }
    const bbox = [w, clamp(b.getSouth(), -85, 85), e, clamp(b.getNorth(), -85, 85)].map((v) => v.toFixed(4)).join(',');
    const seq = (this.pointsSeq = (this.pointsSeq || 0) + 1);
    // The same view with the same filters is asked once: a new list redraws the dots (to leave
    // out the listed desks) from the answer already had, or still on its way.
    const params = { bbox, zoom: Math.round(map.getZoom()), ...this.filters() };
    const key = JSON.stringify(params);
    if (!this.points || this.points.key !== key) this.points = { key, answer: this.get('/api/v1/points', params) };
    const asked = this.points;
    let answer;
    try {
      answer = await asked.answer;
    } catch {
      if (this.points === asked) this.points = null;
      return;
    }
    if (seq !== this.pointsSeq || map !== this.map) return;
    this.pointsLayer.clearLayers();
    const listed = this.items || new Map();
    const groups = new Map();
    const clusters = [];
    for (const f of answer.features) {
      const [lon, lat] = f.geometry.coordinates;
      if (f.properties.cluster) clusters.push({ lat, lon, count: f.properties.point_count, bbox: f.properties.bbox, zoom: f.properties.expansion_zoom });
      else if (!listed.has(f.id)) {
        const key = `${lat.toFixed(5)},${lon.toFixed(5)}`;
        if (!groups.has(key)) groups.set(key, { lat, lon, desks: [] });
        groups.get(key).desks.push(f);
      }
    }
    for (const c of mergeOverlapping(clusters, map, CLUSTER_PX)) {
      const count = String(c.count);
      const icon = L.divIcon({ className: 'spw-cluster', html: h('span', {}, count), iconSize: [CLUSTER_PX, CLUSTER_PX] });
      // A keyboard stop (Enter zooms into it, as a click does): the list holds only the nearest
      // desks, so this is how a keyboard reaches a crowded area.
      const m = L.marker([c.lat, c.lon], { icon, keyboard: true, title: fill(this.t.widget_cluster, 'count', count) });
      const zoomIn = () => {
        const bb = c.bbox;
        if (bb) map.fitBounds([[bb[1], bb[0]], [bb[3], bb[2]]], { padding: [32, 32], maxZoom: 16 });
        else map.setView([c.lat, c.lon], c.zoom || map.getZoom() + 2);
      };
      m.on('click', zoomIn);
      // Leaflet turns a key on a marker into `keypress`, not `click`: Enter and Space act as on a button.
      m.on('keypress', (e) => {
        const key = e.originalEvent && e.originalEvent.key;
        if (key === 'Enter' || key === ' ') { e.originalEvent.preventDefault(); zoomIn(); }
      });
      m.addTo(this.pointsLayer);
    }
    for (const g of groups.values()) {
      const icon = L.divIcon({ className: 'spw-dot', html: g.desks.length > 1 ? h('span', {}, String(g.desks.length)) : '', iconSize: [16, 16] });
      const m = L.marker([g.lat, g.lon], { icon, keyboard: false, title: g.desks.map((d) => d.properties.name).join('; ') });
      m.bindPopup(() => h('div', { class: 'spw-popup', dir: this.lang.rtl ? 'rtl' : 'ltr', lang: this.state.ui },
        g.desks.length > 1 ? h('p', {}, fill(this.t.widget_here, 'count', String(g.desks.length))) : null,
        h('ul', {}, g.desks.map((d) => h('li', {}, h('a', { href: `${this.origin}/d/${encodeURIComponent(d.id)}?ui=${this.state.ui}`, target: '_blank', rel: 'noopener' }, h('bdi', {}, d.properties.name)))))));
      m.addTo(this.pointsLayer);
    }
  }
}

/** The operator map's renderer (dist/operator-basemap.js), loaded once per page, from the
 * widget's own origin, without referrer. */
function loadOperatorRenderer(origin) {
  const ns = window.sportello;
  if (!ns.operatorRenderer) {
    ns.operatorRenderer = new Promise((ok, fail) => {
      const script = document.createElement('script');
      script.src = `${origin}/widget/operator-basemap.js`;
      script.async = true;
      script.referrerPolicy = 'no-referrer';
      script.onload = () => (ns.operatorBasemap ? ok(ns.operatorBasemap) : fail(new Error('no renderer')));
      script.onerror = () => fail(new Error('renderer not loaded'));
      document.head.append(script);
    });
  }
  return ns.operatorRenderer;
}

/** The map file's attribution as the attribution control may show it: its text, and its links
 * when they are http(s); nothing else of its markup (it comes from a file, not from us), and no
 * text of scripts or styles. The parsed document is inert: nothing in it runs or loads. */
function safeAttribution(html) {
  const doc = new DOMParser().parseFromString(`<p>${html}</p>`, 'text/html');
  const out = [];
  const walk = (node) => {
    for (const c of node.childNodes) {
      if (c.nodeType === Node.TEXT_NODE) out.push(escapeHtml(c.textContent));
      else if (c.nodeName === 'A' && /^https?:\/\//i.test(c.getAttribute('href') || '')) {
        out.push(`<a href="${escapeHtml(c.getAttribute('href'))}" target="_blank" rel="noopener noreferrer">${escapeHtml(c.textContent)}</a>`);
      } else if (!/^(SCRIPT|STYLE|TEMPLATE|NOSCRIPT)$/.test(c.nodeName)) walk(c);
    }
  };
  walk(doc.body);
  return out.join('').trim();
}

/**
 * The server's clusters as drawn: two whose circles (`px` wide) would overlap on screen become
 * one, at their count-weighted centre, with the sum of their counts and the union of their boxes
 * (grid cells side by side can put two clusters a few pixels apart). Biggest first, greedily.
 */
function mergeOverlapping(clusters, map, px) {
  const drawn = [];
  for (const c of [...clusters].sort((a, b) => b.count - a.count)) {
    const at = map.latLngToContainerPoint([c.lat, c.lon]);
    const into = drawn.find((d) => d.at.distanceTo(at) < px);
    if (!into) { drawn.push({ ...c, at }); continue; }
    const n = into.count + c.count;
    into.lat = (into.lat * into.count + c.lat * c.count) / n;
    into.lon = (into.lon * into.count + c.lon * c.count) / n;
    into.count = n;
    into.bbox = into.bbox && c.bbox
      ? [Math.min(into.bbox[0], c.bbox[0]), Math.min(into.bbox[1], c.bbox[1]), Math.max(into.bbox[2], c.bbox[2]), Math.max(into.bbox[3], c.bbox[3])]
      : undefined;
    into.zoom = undefined;
    into.at = map.latLngToContainerPoint([into.lat, into.lon]);
  }
  return drawn;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
