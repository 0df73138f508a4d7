//! The default base map embedded in the binary: Natural Earth land, coastlines and country borders
//! and the larger towns' names (GeoNames), cut into vector tiles z0–6 by the widget's build step
//! (`src/widget/build.mjs`) and packed in `src/widget/dist/basemap/natural-earth.json`. Read once;
//! a tile is then a lookup. Knows nothing of HTTP.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The pack as the build step writes it.
pub const EMBEDDED_PACK: &[u8] = include_bytes!("widget/dist/basemap/natural-earth.json");

#[derive(Deserialize)]
struct Pack<'a> {
    maxzoom: u8,
    #[serde(borrow)]
    tiles: HashMap<&'a str, &'a RawValue>,
}

/// The base map's tiles, each the JSON text the widget draws (`[{t, p, g}, …]`: geojson-vt's
/// feature type, properties and flat geometry in tile units, y down).
pub struct BaseMap {
    pub maxzoom: u8,
    tiles: HashMap<(u8, u32, u32), &'static str>,
    /// A hash of the pack, for ETags: the same pack gives the same tags on every replica.
    pub hash: String,
}

/// Why a tile address is refused: the name of the part at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct TileAddressError {
    pub name: &'static str,
    pub reason: String,
}

impl BaseMap {
    fn from_pack(bytes: &'static [u8]) -> Result<BaseMap, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let pack: Pack<'static> = serde_json::from_str(text).map_err(|e| format!("natural-earth.json: {e}"))?;
        let mut tiles = HashMap::with_capacity(pack.tiles.len());
        for (key, raw) in pack.tiles {
            let mut parts = key.split('/').map(str::parse::<u32>);
            let (Some(Ok(z)), Some(Ok(x)), Some(Ok(y)), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
                return Err(format!("natural-earth.json: bad tile key {key:?}"));
            };
            tiles.insert((z as u8, x, y), raw.get());
        }
        let hash = blake3::hash(bytes).to_hex()[..16].to_string();
        Ok(BaseMap { maxzoom: pack.maxzoom, tiles, hash })
    }

    /// The embedded base map, read on first use.
    pub fn embedded() -> &'static BaseMap {
        static B: OnceLock<BaseMap> = OnceLock::new();
        B.get_or_init(|| BaseMap::from_pack(EMBEDDED_PACK).expect("the embedded base map is valid (tested)"))
    }

    /// Checks a tile address (`z` 0–maxzoom, `x` and `y` 0 to 2^z − 1, XYZ scheme).
    pub fn check(&self, z: u32, x: u32, y: u32) -> Result<(), TileAddressError> {
        if z > u32::from(self.maxzoom) {
            return Err(TileAddressError { name: "z", reason: format!("the base map has zooms 0 to {}; clients overzoom the last", self.maxzoom) });
        }
        let n = 1u32 << z;
        if x >= n {
            return Err(TileAddressError { name: "x", reason: format!("must be below {n} at zoom {z}") });
        }
        if y >= n {
            return Err(TileAddressError { name: "y", reason: format!("must be below {n} at zoom {z}") });
        }
        Ok(())
    }

    /// The tile's JSON text; `None` for a tile with nothing on it (open sea).
    pub fn tile(&self, z: u32, x: u32, y: u32) -> Option<&'static str> {
        self.tiles.get(&(z as u8, x, y)).copied()
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_pack_reads_and_has_land_and_towns_near_milan() {
        let b = BaseMap::embedded();
        assert_eq!(b.maxzoom, 6);
        assert!(b.len() > 1000, "{} tiles", b.len());
        // Milan (45.46 N, 9.19 E) lies in z6 tile 33/22.
        let t = b.tile(6, 33, 22).expect("land at Milan");
        assert!(t.contains("\"land\"") && t.contains("\"border\"") && t.contains("\"Milan\""), "{}", &t[..200.min(t.len())]);
        // The open sea has no tile.
        assert!(b.tile(6, 24, 26).is_none(), "open Atlantic at 30 N, 40 W");
        assert_eq!(b.check(7, 0, 0).unwrap_err().name, "z");
        assert_eq!(b.check(2, 4, 0).unwrap_err().name, "x");
        assert_eq!(b.check(2, 0, 4).unwrap_err().name, "y");
    }
}
