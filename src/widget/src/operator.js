// The operator's PMTiles base map (`serve --basemap`, described by /basemap/operator.json), as
// a Leaflet layer drawn over the Natural Earth map inside the file's bounds and zooms. Built as
// its own script (dist/operator-basemap.js, served at /widget/operator-basemap.js) and loaded
// only when the server has such a map, so nobody else downloads its renderer.
// - Raster tiles (PNG, JPEG, WebP, AVIF) are decoded with createImageBitmap into canvases: no
//   blob: URLs, so a partner's Content-Security-Policy needs nothing more than the widget does.
// - Vector tiles are drawn on canvas by protomaps-leaflet: the Protomaps basemap schema (what
//   `pmtiles extract` cuts from a Protomaps build) with its "light" flavour, the OpenMapTiles
//   schema (Planetiler's default) with the rules below, anything else with plain rules.
// Every byte comes from the widget's own origin: ranges of one file, without credentials or
// referrer. Labels are in the reader's language where the map has it.
import { PMTiles } from 'pmtiles';
import {
  leafletLayer, paintRules, labelRules, PolygonSymbolizer, LineSymbolizer, CenteredTextSymbolizer, LineLabelSymbolizer,
} from 'protomaps-leaflet';
import { namedFlavor } from '@protomaps/basemaps';
import { L, useLeaflet } from './leaflet-global.js';

/** A PMTiles source reading ranges of the file like the package's own FetchSource, but with no
 * cookies and no referrer, as every other request of the widget. */
class OwnOriginSource {
  constructor(url) {
    this.url = url;
  }

  getKey() {
    return this.url;
  }

  async getBytes(offset, length, signal, etag) {
    const r = await fetch(this.url, {
      signal, credentials: 'omit', referrerPolicy: 'no-referrer', headers: { range: `bytes=${offset}-${offset + length - 1}` },
    });
    if (r.status !== 206 && r.status !== 200) throw new Error(`base map: HTTP ${r.status}`);
    const tag = r.headers.get('etag') || undefined;
    // The file changed under the reader (a reload swapped it): pmtiles starts again.
    if (etag && tag && tag !== etag) throw new Error('base map: the file changed');
    return { data: await r.arrayBuffer(), etag: tag, cacheControl: r.headers.get('cache-control') || undefined };
  }
}

const LAND = '#f2efe6';
const WATER = '#a9cde6';
const text = (lang) => [`name:${lang}`, 'name:latin', 'name', 'name_en'];
const is = (...classes) => (z, f) => classes.includes(f.props.class);

/** OpenMapTiles schema: water, land cover and use, roads by class, buildings, borders, names. */
function openMapTiles(lang) {
  const road = (classes, color, width) => ({ dataLayer: 'transportation', filter: is(...classes), symbolizer: new LineSymbolizer({ color, width, lineCap: 'round', lineJoin: 'round' }) });
  const grow = (a, b) => (z) => (z < 10 ? a : a + (b - a) * Math.min(1, (z - 10) / 6));
  return {
    background: LAND,
    paint: [
      { dataLayer: 'landcover', filter: is('wood', 'forest'), symbolizer: new PolygonSymbolizer({ fill: '#d5e6c6' }) },
      { dataLayer: 'landcover', filter: is('grass', 'farmland', 'wetland'), symbolizer: new PolygonSymbolizer({ fill: '#e4ecd3' }) },
      { dataLayer: 'landuse', filter: is('residential', 'suburb', 'neighbourhood'), symbolizer: new PolygonSymbolizer({ fill: '#ece8df' }) },
      { dataLayer: 'park', symbolizer: new PolygonSymbolizer({ fill: '#d8e8c8' }) },
      { dataLayer: 'water', symbolizer: new PolygonSymbolizer({ fill: WATER }) },
      { dataLayer: 'waterway', symbolizer: new LineSymbolizer({ color: WATER, width: grow(0.8, 3) }) },
      { dataLayer: 'building', symbolizer: new PolygonSymbolizer({ fill: '#ddd6cb', stroke: '#cfc6b9', width: 0.5 }) },
      road(['path', 'track'], '#c9c2b5', grow(0.5, 1.2)),
      road(['minor', 'service'], '#ffffff', grow(0.8, 6)),
      road(['secondary', 'tertiary'], '#fdf3c5', grow(1, 8)),
      road(['primary', 'trunk'], '#fbe19a', grow(1.4, 10)),
      road(['motorway'], '#f6c27a', grow(1.6, 11)),
      road(['rail', 'transit'], '#a7a29a', grow(0.6, 1.5)),
      { dataLayer: 'boundary', filter: (z, f) => f.props.admin_level <= 4 && !f.props.maritime, symbolizer: new LineSymbolizer({ color: '#9b7f9b', width: 1, dash: [4, 3] }) },
    ],
    labels: [
      { dataLayer: 'place', symbolizer: new CenteredTextSymbolizer({ labelProps: text(lang), fill: '#222', stroke: '#fff', width: 2.5, fontFamily: 'system-ui, sans-serif', fontSize: (z, f) => (f && ['city', 'town'].includes(f.props.class) ? 14 : 11), fontWeight: 600 }) },
      { dataLayer: 'water_name', symbolizer: new CenteredTextSymbolizer({ labelProps: text(lang), fill: '#2f5f80', stroke: '#fff', width: 2, fontFamily: 'system-ui, sans-serif', fontSize: 11 }) },
      { dataLayer: 'transportation_name', symbolizer: new LineLabelSymbolizer({ labelProps: text(lang), fill: '#444', stroke: '#fff', width: 2, fontFamily: 'system-ui, sans-serif', fontSize: 11 }) },
    ],
  };
}

/** Any other schema: every layer drawn plainly, so the map still shows what the file holds. */
function plain(layers, lang) {
  return {
    background: undefined,
    paint: layers.flatMap((id) => [
      { dataLayer: id, filter: (z, f) => f.geomType === 3, symbolizer: new PolygonSymbolizer({ fill: /water|ocean|lake|sea/i.test(id) ? WATER : '#e8e4da', opacity: 0.9 }) },
      { dataLayer: id, filter: (z, f) => f.geomType === 2, symbolizer: new LineSymbolizer({ color: /water|river/i.test(id) ? WATER : '#b5ada0', width: 1 }) },
    ]),
    labels: layers.map((id) => ({ dataLayer: id, filter: (z, f) => f.geomType === 1, symbolizer: new CenteredTextSymbolizer({ labelProps: text(lang), fill: '#222', stroke: '#fff', width: 2, fontFamily: 'system-ui, sans-serif', fontSize: 12 }) })),
  };
}

/** Which rules draw a vector map, from the ids of its layers. */
export function styleFor(layers, lang) {
  const has = (...ids) => ids.every((id) => layers.includes(id));
  if (has('earth', 'water', 'roads')) {
    const flavor = namedFlavor('light');
    // No background: outside the map's own polygons the Natural Earth map stays visible.
    return { schema: 'protomaps', background: undefined, paint: paintRules(flavor), labels: labelRules(flavor, lang) };
  }
  if (has('water', 'transportation') || has('water', 'place')) return { schema: 'openmaptiles', ...openMapTiles(lang) };
  return { schema: 'other', ...plain(layers, lang) };
}

/** Raster tiles drawn into canvases, overzoomed past the file's last zoom by Leaflet. */
function rasterLayer(archive, options) {
  const Raster = L.GridLayer.extend({
    createTile(coords, done) {
      const canvas = L.DomUtil.create('canvas', 'leaflet-tile');
      const size = this.getTileSize();
      canvas.width = size.x;
      canvas.height = size.y;
      archive.getZxy(coords.z, coords.x, coords.y)
        .then((tile) => (tile ? createImageBitmap(new Blob([tile.data])) : null))
        .then((bitmap) => {
          if (bitmap) canvas.getContext('2d').drawImage(bitmap, 0, 0, size.x, size.y);
          done(null, canvas);
        })
        .catch((e) => done(e, canvas));
      return canvas;
    },
  });
  return new Raster(options);
}

/**
 * The layer for `info` (the answer of /basemap/operator.json), reading `origin` + `info.url`,
 * with labels in `lang`. `leaflet` is the widget's own Leaflet.
 */
export function operatorLayer(leaflet, origin, info, lang) {
  useLeaflet(leaflet);
  const archive = new PMTiles(new OwnOriginSource(new URL(info.url, origin).href));
  const [w, s, e, n] = info.bounds;
  const common = {
    bounds: L.latLngBounds([s, w], [n, e]),
    minZoom: info.minzoom,
    attribution: info.attribution,
    className: 'spw-operator',
    pane: 'tilePane',
    zIndex: 2,
  };
  if (info.tile_type !== 'mvt') return rasterLayer(archive, { ...common, maxNativeZoom: info.maxzoom, tileSize: 256 });
  const style = styleFor(info.layers || [], lang);
  const layer = leafletLayer({
    ...common, url: archive, maxDataZoom: info.maxzoom, paintRules: style.paint, labelRules: style.labels, backgroundColor: style.background, lang,
  });
  layer.schema = style.schema;
  return layer;
}

// The widget (main.js) made `window.sportello`; this script only adds its renderer to it.
window.sportello.operatorBasemap = { operatorLayer, styleFor };
