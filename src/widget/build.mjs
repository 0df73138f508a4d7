// Builds everything the binary serves for the widget into dist/ (committed, see the README's
// "Widget" section), deterministically from the pinned packages of package-lock.json:
// - dist/widget.js and dist/widget.css: the widget (src/) with Leaflet, bundled and minified by esbuild;
// - dist/operator-basemap.js: the renderer of an operator's PMTiles base map (src/operator.js with
//   pmtiles and protomaps-leaflet), which the widget loads only when the server has such a map;
// - dist/basemap/natural-earth.json: the default base map, Natural Earth's land, coastlines and
//   country borders (npm world-atlas, converted with topojson-client) and the larger towns of the
//   project's gazetteer (GeoNames), cut into vector tiles z0–MAXZOOM by geojson-vt, packed in one
//   file that `serve` embeds and answers tile by tile at /basemap/natural-earth/{z}/{x}/{y}.json.
// Usage: npm --prefix src/widget ci && npm --prefix src/widget run build
// (WIDGET_DIST=DIR to write somewhere else.)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as esbuild from 'esbuild';
import { feature, mesh } from 'topojson-client';
import geojsonvt from 'geojson-vt';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
// WIDGET_DIST writes elsewhere (scripts/test rebuilds into target/ and compares with dist/).
const dist = resolve(process.env.WIDGET_DIST || resolve(here, 'dist'));
const require = createRequire(import.meta.url);
mkdirSync(resolve(dist, 'basemap'), { recursive: true });

// 1. The widget. No source maps, no build date: the same sources give the same bytes.
const common = { bundle: true, minify: true, legalComments: 'eof', logLevel: 'warning', charset: 'utf8' };
await esbuild.build({ ...common, entryPoints: [resolve(here, 'src/main.js')], outfile: resolve(dist, 'widget.js'), format: 'iife', target: ['es2019'] });
// protomaps-leaflet names a global `L`: it gets the widget's own Leaflet through leaflet-global.js.
await esbuild.build({ ...common, entryPoints: [resolve(here, 'src/operator.js')], outfile: resolve(dist, 'operator-basemap.js'), format: 'iife', target: ['es2019'], inject: [resolve(here, 'src/leaflet-global.js')] });
await esbuild.build({ ...common, entryPoints: [resolve(here, 'src/widget.css')], outfile: resolve(dist, 'widget.css'), loader: { '.png': 'empty' }, target: ['chrome80', 'firefox78', 'safari14'] });

// 2. The base map.
export const MAXZOOM = 6;
const atlas = (name) => JSON.parse(readFileSync(require.resolve(`world-atlas/${name}`), 'utf8'));
// Zooms 0–3 from the 1:110m data, 4 and up from the 1:50m data.
const LOWMAX = 3;
const physical = (scale) => {
  const land = atlas(`land-${scale}.json`);
  const countries = atlas(`countries-${scale}.json`);
  const out = feature(land, land.objects.land).features.map((f) => ({ type: 'Feature', properties: { k: 'land' }, geometry: f.geometry }));
  // Coastlines: the arcs of land used once (its outer edges); borders: arcs shared by two countries.
  out.push({ type: 'Feature', properties: { k: 'coast' }, geometry: mesh(land, land.objects.land, (a, b) => a === b) });
  out.push({ type: 'Feature', properties: { k: 'border' }, geometry: mesh(countries, countries.objects.countries, (a, b) => a !== b) });
  return out;
};
const features = physical('50m');
const lowFeatures = physical('110m');

// Towns of 100,000 people or more from data/gazetteer.tsv (GeoNames), with a rank that says from
// which zoom the widget writes their name: r 3 from 1 million, r 5 from 300,000, r 7 otherwise.
const towns = readFileSync(resolve(root, 'data/gazetteer.tsv'), 'utf8').split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => { const [, name, , lat, lon, pop] = l.split('\t'); return { name, lat: +lat, lon: +lon, pop: +pop }; })
  .filter((t) => t.pop >= 100000)
  .sort((a, b) => b.pop - a.pop || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
for (const t of towns) {
  const r = t.pop >= 1e6 ? 3 : t.pop >= 3e5 ? 5 : 7;
  const town = { type: 'Feature', properties: { k: 'town', n: t.name, r }, geometry: { type: 'Point', coordinates: [t.lon, t.lat] } };
  features.push(town);
  if (r <= LOWMAX) lowFeatures.push(town);
}

const EXTENT = 1024;
const cut = (list, maxZoom) => geojsonvt({ type: 'FeatureCollection', features: list }, { maxZoom, indexMaxZoom: maxZoom, indexMaxPoints: 0, tolerance: 1.5, extent: EXTENT, buffer: 8 });
const low = cut(lowFeatures, LOWMAX);
const high = cut(features, MAXZOOM);
// Every tile holding something, found by walking down from z0 (a tile empty of everything is open sea).
const tiles = {};
const walk = (z, x, y) => {
  const t = (z <= LOWMAX ? low : high).getTile(z, x, y);
  if (!t || t.features.length === 0) return;

  // geojson-vt's tile: type 1 points, 2 lines, 3 polygons; geometry in tile units, y down.
  // Stored flat: `g` is [x0, y0, x1, y1, …] for points, a list of such rings or lines otherwise.
  // A town is kept from the zoom its name is written at (every town at MAXZOOM, which overzooms).
  const kept = t.features.filter((f) => f.tags.k !== 'town' || f.tags.r <= z || z === MAXZOOM);
  if (kept.length === 0) return;
  const flat = (pts) => pts.flatMap(([px, py]) => [px, py]);
  tiles[`${z}/${x}/${y}`] = kept.map((f) => ({ t: f.type, p: f.tags, g: f.type === 1 ? flat(f.geometry) : f.geometry.map(flat) }));
  if (z < MAXZOOM) for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) walk(z + 1, x * 2 + dx, y * 2 + dy);
};
walk(0, 0, 0);
const pack = {
  about: 'sportello default base map: Natural Earth land (1:110m to zoom 3, 1:50m beyond), coastlines and country borders (public domain, via npm world-atlas 2.0.2) and towns of 100,000 people or more from GeoNames (CC BY 4.0, data/gazetteer.tsv), as geojson-vt tiles',
  attribution: 'Natural Earth, GeoNames (CC BY 4.0)',
  extent: EXTENT,
  minzoom: 0,
  maxzoom: MAXZOOM,
  tiles,
};
writeFileSync(resolve(dist, 'basemap/natural-earth.json'), JSON.stringify(pack));
console.log(`dist/: widget.js, operator-basemap.js, widget.css, basemap with ${Object.keys(tiles).length} tiles and ${towns.length} towns`);
