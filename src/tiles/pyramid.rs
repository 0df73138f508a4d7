//! Cutting the public desks' cluster pyramid into tiles, and encoding each tile as a Mapbox Vector
//! Tile (the `mvt` crate) and as a GeoJSON FeatureCollection.
//!
//! A tile at zoom z < [`MAX_ZOOM`] holds the 4 × 4 cluster cells of zoom z inside it, exactly the
//! cells `/api/v1/points` reads: a cell of several desks is a cluster feature (`cluster`,
//! `point_count`, `expansion_zoom`, at its members' mean position), a cell of one desk is that
//! desk. At [`MAX_ZOOM`] every public desk is its own feature. Desk features carry `id`, `name`,
//! `audience`, `languages` and `domains` (in MVT, where attributes cannot be lists, the codes are
//! joined by commas). Union-only desks are never in tiles.

use std::collections::BTreeMap;

use mvt::{GeomEncoder, GeomType};
use serde::{Deserialize, Serialize};

use super::{EXTENT, LAYER, MAX_ZOOM, TILE_PX, TileCoord};
use crate::index::clusters::{ClusterIndex, world_px};
use crate::model::feature::{ClusterFeature, PointGeometry};
use crate::model::{Audience, ContactPoint, Language};

/// One non-empty tile in both encodings, gzip-compressed (compressed here, on every core, rather
/// than one by one by the archive writer); only the compressed form is kept, a pyramid of ten
/// million desks being gigabytes plain.
pub struct Tile {
    pub coord: TileCoord,
    pub mvt_gz: Vec<u8>,
    pub geojson_gz: Vec<u8>,
    /// Features in the tile (clusters and desks).
    pub features: usize,
}

/// A tile that could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("tile {z}/{x}/{y}: {reason}")]
pub struct TileError {
    pub z: u8,
    pub x: u32,
    pub y: u32,
    pub reason: String,
}

/// What a tile shows of a desk: its position and the few fields a map needs, in one allocation
/// (a build keeps one per desk until the pyramid is cut).
pub struct TileDesk {
    lon: f64,
    lat: f64,
    public: bool,
    /// Lengths of the id, name and language list in `text`; the domain list is the rest.
    lens: [u32; 3],
    /// The id, the name, the language codes and the domain codes (each list comma-separated).
    text: Box<str>,
}

impl TileDesk {
    pub fn of(p: &ContactPoint) -> TileDesk {
        let langs = codes(p.languages.iter().map(Language::as_str));
        let domains = codes(p.domains.iter().map(|d| d.code()));
        let text = [p.id.as_str(), &p.name, &langs, &domains].concat();
        TileDesk {
            lon: p.position.lon.degrees(),
            lat: p.position.lat.degrees(),
            public: p.audience == Audience::Public,
            lens: [p.id.len() as u32, p.name.len() as u32, langs.len() as u32],
            text: text.into(),
        }
    }

    /// The id, name, languages and domains (comma-separated codes).
    fn fields(&self) -> (&str, &str, &str, &str) {
        let [a, b, c] = self.lens.map(|l| l as usize);
        let t = &self.text;
        (&t[..a], &t[a..a + b], &t[a + b..a + b + c], &t[a + b + c..])
    }
}

/// What a tile holds.
enum Item<'a> {
    Desk(&'a TileDesk),
    Cluster(ClusterFeature),
}

impl Item<'_> {
    /// (longitude, latitude) in degrees.
    fn position(&self) -> (f64, f64) {
        match self {
            Item::Desk(d) => (d.lon, d.lat),
            Item::Cluster(c) => (c.lon, c.lat),
        }
    }
}

/// Every non-empty tile of zooms 0–[`MAX_ZOOM`] for the public desks of `points` (by ordinal),
/// cut from `clusters` (built from the same desks), in PMTiles tile-id order. Encoding runs on
/// every core.
pub fn generate(points: &[TileDesk], clusters: &ClusterIndex) -> Result<Vec<Tile>, TileError> {
    let mut tiles = Vec::new();
    generate_each(points, clusters, &mut |t| {
        tiles.push(t);
        Ok(())
    })?;
    Ok(tiles)
}

/// [`generate`], each tile handed to `f` as soon as it is encoded, one zoom at a time (tile ids
/// are zoom-major), so only one zoom's tiles are ever held.
pub fn generate_each<E: From<TileError>>(points: &[TileDesk], clusters: &ClusterIndex, f: &mut dyn FnMut(Tile) -> Result<(), E>) -> Result<(), E> {
    for z in 0..=MAX_ZOOM {
        let mut by_tile: BTreeMap<(u32, u32), Vec<Item>> = BTreeMap::new();
        if z < MAX_ZOOM {
            for c in clusters.level(z, Audience::Public) {
                let item = if c.count == 1 { Item::Desk(&points[c.first as usize]) } else { Item::Cluster(c.feature(z, MAX_ZOOM)) };
                by_tile.entry((c.cx / 4, c.cy / 4)).or_default().push(item);
            }
        } else {
            for p in points.iter().filter(|p| p.public) {
                let (px, py) = world_px(p.lon, p.lat, MAX_ZOOM);
                by_tile.entry(((px / TILE_PX) as u32, (py / TILE_PX) as u32)).or_default().push(Item::Desk(p));
            }
        }
        let mut contents: Vec<(TileCoord, Vec<Item>)> = by_tile.into_iter().map(|((x, y), items)| (TileCoord { z, x, y }, items)).collect();
        contents.sort_by_cached_key(|(c, _)| c.id());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let chunk = contents.len().div_ceil(threads).max(1);
        let encoded = std::thread::scope(|scope| {
            let parts: Vec<_> = contents
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(|(coord, items)| encode(*coord, items)).collect::<Result<Vec<Tile>, TileError>>()))
                .collect();
            parts.into_iter().map(|p| p.join().expect("tile encoding does not panic")).collect::<Vec<_>>()
        });
        drop(contents);
        for part in encoded {
            for t in part? {
                f(t)?;
            }
        }
    }
    Ok(())
}

fn encode(coord: TileCoord, items: &[Item]) -> Result<Tile, TileError> {
    let fail = |reason: String| TileError { z: coord.z, x: coord.x, y: coord.y, reason };
    let mvt = encode_mvt(coord, items).map_err(|e| fail(format!("MVT encoding: {e}")))?;
    let geojson = encode_geojson(items);
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(b.len() / 2), flate2::Compression::default());
        std::io::Write::write_all(&mut e, b).and_then(|_| e.finish()).map_err(|e| fail(format!("gzip: {e}")))
    };
    Ok(Tile { coord, mvt_gz: gz(&mvt)?, geojson_gz: gz(&geojson)?, features: items.len() })
}

/// The position of (lon, lat) in degrees inside `coord`, in MVT units (0 to [`EXTENT`] − 1, y
/// down from the tile's north edge).
fn local(coord: TileCoord, lon: f64, lat: f64) -> (f64, f64) {
    let (px, py) = world_px(lon, lat, coord.z);
    let scale = f64::from(EXTENT) / TILE_PX;
    let max = f64::from(EXTENT - 1);
    let x = ((px - f64::from(coord.x) * TILE_PX) * scale).floor().clamp(0.0, max);
    let y = ((py - f64::from(coord.y) * TILE_PX) * scale).floor().clamp(0.0, max);
    (x, y)
}

fn codes<T: AsRef<str>>(items: impl Iterator<Item = T>) -> String {
    let mut s = String::new();
    for (i, c) in items.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(c.as_ref());
    }
    s
}

/// The id of the cluster feature of a cell, as in viewport answers: `cluster/{zoom}/{cx}/{cy}`.
fn cluster_id(c: &ClusterFeature) -> String {
    format!("cluster/{}/{}/{}", c.zoom, c.cx, c.cy)
}

fn encode_mvt(coord: TileCoord, items: &[Item]) -> Result<Vec<u8>, mvt::Error> {
    let mut tile = mvt::Tile::new(EXTENT);
    let mut layer = tile.create_layer(LAYER);
    for item in items {
        let (lon, lat) = item.position();
        let (x, y) = local(coord, lon, lat);
        let geom = GeomEncoder::new(GeomType::Point).point(x, y)?.encode()?;
        let mut f = layer.into_feature(geom);
        match item {
            Item::Desk(d) => {
                let (id, name, languages, domains) = d.fields();
                f.add_tag_string("id", id);
                f.add_tag_string("name", name);
                f.add_tag_string("audience", Audience::Public.as_str());
                f.add_tag_string("languages", languages);
                f.add_tag_string("domains", domains);
            }
            Item::Cluster(c) => {
                f.add_tag_string("id", &cluster_id(c));
                f.add_tag_bool("cluster", true);
                f.add_tag_uint("point_count", c.point_count as u64);
                f.add_tag_uint("expansion_zoom", u64::from(c.expansion_zoom));
            }
        }
        layer = f.into_layer();
    }
    tile.add_layer(layer)?;
    tile.to_bytes()
}

#[derive(Serialize)]
struct DeskProperties<'a> {
    id: &'a str,
    name: &'a str,
    audience: Audience,
    languages: Vec<&'a str>,
    domains: Vec<&'a str>,
}

#[derive(Serialize)]
struct DeskFeature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    geometry: PointGeometry,
    properties: DeskProperties<'a>,
}

/// The codes of a comma-separated list.
fn list(codes: &str) -> Vec<&str> {
    codes.split(',').filter(|c| !c.is_empty()).collect()
}

fn encode_geojson(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + items.len() * 200);
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            Item::Desk(d) => {
                let (id, name, languages, domains) = d.fields();
                let f = DeskFeature {
                    kind: "Feature",
                    id,
                    geometry: PointGeometry { lon: d.lon, lat: d.lat },
                    properties: DeskProperties { id, name, audience: Audience::Public, languages: list(languages), domains: list(domains) },
                };
                serde_json::to_writer(&mut out, &f).expect("writing to a Vec cannot fail");
            }
            Item::Cluster(c) => c.write_json(&mut out),
        }
    }
    out.extend_from_slice(b"]}");
    out
}

/// The pyramid's description: TileJSON 3.0 without the tile URLs. Stored as the MVT archive's
/// metadata, so the TileJSON served always describes the archive it comes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileJson {
    pub name: String,
    pub description: String,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// `[west, south, east, north]` of the public desks, in degrees.
    pub bounds: [f64; 4],
    /// `[lon, lat, zoom]`.
    pub center: [f64; 3],
    pub vector_layers: Vec<VectorLayer>,
}

/// One MVT layer's description (TileJSON 3.0 `vector_layers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorLayer {
    pub id: String,
    pub description: String,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// Attribute name → type (`String`, `Number`, `Boolean`).
    pub fields: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Document<'a> {
    tilejson: &'static str,
    tiles: [String; 1],
    /// The same tiles as GeoJSON (not part of TileJSON; clients that do not know it ignore it).
    geojson_tiles: [String; 1],
    scheme: &'static str,
    #[serde(flatten)]
    meta: &'a TileJson,
}

impl TileJson {
    /// The description of the pyramid of `points`' public desks.
    pub fn of(points: &[TileDesk]) -> TileJson {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in points.iter().filter(|p| p.public) {
            let (lon, lat) = (p.lon, p.lat);
            b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
        }
        if !b[0].is_finite() {
            b = [-180.0, -85.051_128_78, 180.0, 85.051_128_78];
        }
        let round = |v: f64| (v * 1e6).round() / 1e6;
        let bounds = b.map(round);
        let center = [round((bounds[0] + bounds[2]) / 2.0), round((bounds[1] + bounds[3]) / 2.0), 4.0];
        let fields = [
            ("id", "String"),
            ("name", "String"),
            ("audience", "String"),
            ("languages", "String"),
            ("domains", "String"),
            ("cluster", "Boolean"),
            ("point_count", "Number"),
            ("expansion_zoom", "Number"),
        ];
        TileJson {
            name: "sportello desks".into(),
            description: "Public help desks for migrant workers, clustered per zoom".into(),
            minzoom: 0,
            maxzoom: MAX_ZOOM,
            bounds,
            center,
            vector_layers: vec![VectorLayer {
                id: LAYER.into(),
                description: "Desks (id, name, audience, languages and domains comma-separated) and clusters (cluster, point_count, expansion_zoom)".into(),
                minzoom: 0,
                maxzoom: MAX_ZOOM,
                fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }],
        }
    }

    /// As PMTiles metadata (a JSON object).
    pub fn metadata(&self) -> String {
        serde_json::to_string(self).expect("TileJSON serialises")
    }

    /// Read back from PMTiles metadata.
    pub fn from_metadata(text: &str) -> Result<TileJson, super::ArchiveError> {
        serde_json::from_str(text).map_err(|e| super::ArchiveError(format!("metadata is not the pyramid's description: {e}")))
    }

    /// The TileJSON 3.0 document, tile URLs under `base` (`/tiles`, or a CDN's URL).
    pub fn document(&self, base: &str) -> Vec<u8> {
        let base = base.trim_end_matches('/');
        let doc = Document {
            tilejson: "3.0.0",
            tiles: [format!("{base}/{{z}}/{{x}}/{{y}}.mvt")],
            geojson_tiles: [format!("{base}/{{z}}/{{x}}/{{y}}.geojson")],
            scheme: "xyz",
            meta: self,
        };
        let mut out = serde_json::to_vec_pretty(&doc).expect("TileJSON serialises");
        out.push(b'\n');
        out
    }
}
