// The default base map as a Leaflet layer: the server's Natural Earth vector tiles
// (/basemap/natural-earth/{z}/{x}/{y}.json, zooms 0–6, geojson-vt features in tile units) drawn
// on canvas, overzoomed beyond zoom 6. Town names are written from the zoom their rank allows.
import * as L from 'leaflet/dist/leaflet-src.esm.js';

const MAXZOOM = 6;
const EXTENT = 1024;

export const BaseMap = L.GridLayer.extend({
  initialize(origin, options) {
    L.setOptions(this, options);
    this._origin = origin;
    this._cache = new Map();
  },

  _load(z, x, y) {
    const key = `${z}/${x}/${y}`;
    let p = this._cache.get(key);
    if (!p) {
      p = fetch(`${this._origin}/basemap/natural-earth/${key}.json`, { credentials: 'omit', referrerPolicy: 'no-referrer' })
        .then((r) => (r.status === 200 ? r.json() : []))
        .catch(() => []);
      this._cache.set(key, p);
    }
    return p;
  },

  createTile(coords, done) {
    const size = this.getTileSize();
    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    const canvas = document.createElement('canvas');
    canvas.width = size.x * ratio;
    canvas.height = size.y * ratio;
    const n = 1 << coords.z;
    const cx = ((coords.x % n) + n) % n;
    const dz = Math.max(0, coords.z - MAXZOOM);
    const z = coords.z - dz;
    const k = 1 << dz;
    const x = Math.floor(cx / k);
    const y = Math.floor(coords.y / k);
    if (coords.y < 0 || coords.y >= n) {
      setTimeout(() => done(null, canvas), 0);
      return canvas;
    }
    // Tile units of the parent tile to this tile's pixels.
    const scale = (size.x * k) / EXTENT;
    const ox = (cx - x * k) * size.x;
    const oy = (coords.y - y * k) * size.y;
    this._load(z, x, y).then((features) => {
      const ctx = canvas.getContext('2d');
      ctx.scale(ratio, ratio);
      const path = (g, close) => {
        ctx.beginPath();
        for (const ring of g) {
          for (let i = 0; i < ring.length; i += 2) {
            const px = ring[i] * scale - ox;
            const py = ring[i + 1] * scale - oy;
            if (i === 0) ctx.moveTo(px, py);
            else ctx.lineTo(px, py);
          }
          if (close) ctx.closePath();
        }
      };
      const pass = (kind, draw) => { for (const f of features) if (f.p.k === kind) draw(f); };
      ctx.fillStyle = '#f2efe6';
      pass('land', (f) => { path(f.g, true); ctx.fill('evenodd'); });
      ctx.strokeStyle = '#7a95a8';
      ctx.lineWidth = 1;
      pass('coast', (f) => { path(f.g, false); ctx.stroke(); });
      ctx.strokeStyle = '#9b7f9b';
      ctx.setLineDash([4, 3]);
      pass('border', (f) => { path(f.g, false); ctx.stroke(); });
      ctx.setLineDash([]);
      ctx.font = '12px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      ctx.direction = 'ltr';
      ctx.textAlign = 'left';
      ctx.lineJoin = 'round';
      pass('town', (f) => {
        if (f.p.r > coords.z) return;
        const px = f.g[0] * scale - ox;
        const py = f.g[1] * scale - oy;
        if (px < 0 || py < 0 || px >= size.x || py >= size.y) return;
        ctx.fillStyle = '#333';
        ctx.beginPath();
        ctx.arc(px, py, 2.5, 0, Math.PI * 2);
        ctx.fill();
        ctx.strokeStyle = 'rgba(255,255,255,0.9)';
        ctx.lineWidth = 3;
        ctx.strokeText(f.p.n, px + 5, py);
        ctx.fillStyle = '#222';
        ctx.fillText(f.p.n, px + 5, py);
      });
      done(null, canvas);
    });
    return canvas;
  },
});
