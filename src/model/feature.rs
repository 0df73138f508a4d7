//! GeoJSON (RFC 7946) output of contact points and clusters: `[lon, lat]` order, a string `id` on
//! every feature, the contact point's fields as `properties`, plus `distance_m` when the answer was
//! given a position. Reading GeoJSON is the ingest module's job, not this one's.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::ContactPoint;

/// A contact point as a GeoJSON Feature; `distance_m` (metres, rounded to the metre) is present
/// when the query had a position.
pub struct PointFeature<'a> {
    pub point: &'a ContactPoint,
    pub distance_m: Option<f64>,
}

/// A GeoJSON Point geometry at (longitude, latitude) in degrees.
pub struct PointGeometry {
    pub lon: f64,
    pub lat: f64,
}

impl Serialize for PointGeometry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut g = s.serialize_struct("Geometry", 2)?;
        g.serialize_field("type", "Point")?;
        g.serialize_field("coordinates", &[self.lon, self.lat])?;
        g.end()
    }
}

#[derive(Serialize)]
struct Properties<'a> {
    #[serde(flatten)]
    point: &'a ContactPoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_m: Option<f64>,
}

impl Serialize for PointFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.point;
        let mut f = s.serialize_struct("Feature", 4)?;
        f.serialize_field("type", "Feature")?;
        f.serialize_field("id", &p.id)?;
        f.serialize_field(
            "geometry",
            &PointGeometry { lon: p.position.lon.degrees(), lat: p.position.lat.degrees() },
        )?;
        f.serialize_field("properties", &Properties { point: p, distance_m: self.distance_m.map(f64::round) })?;
        f.end()
    }
}

/// A cluster of `point_count` desks drawn as one marker at their mean position.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterFeature {
    /// Stable for a given bundle, zoom and grid cell: `cluster/{zoom}/{cx}/{cy}`.
    pub zoom: u8,
    pub cx: u32,
    pub cy: u32,
    pub lon: f64,
    pub lat: f64,
    pub point_count: usize,
    /// The zoom at which this cluster starts to break apart.
    pub expansion_zoom: u8,
    /// Bounding box of the members: `[minLon, minLat, maxLon, maxLat]`.
    pub bbox: [f64; 4],
}

impl ClusterFeature {
    /// Appends the cluster as a GeoJSON Feature; coordinates have 6 decimals (about 0.1 m).
    /// Written by hand: a crowded viewport has dozens of clusters per answer.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"{\"type\":\"Feature\",\"id\":\"cluster/");
        out.extend_from_slice(n.format(self.zoom).as_bytes());
        out.push(b'/');
        out.extend_from_slice(n.format(self.cx).as_bytes());
        out.push(b'/');
        out.extend_from_slice(n.format(self.cy).as_bytes());
        out.extend_from_slice(b"\",\"bbox\":[");
        for (i, v) in self.bbox.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_degrees(out, *v);
        }
        out.extend_from_slice(b"],\"geometry\":{\"type\":\"Point\",\"coordinates\":[");
        push_degrees(out, self.lon);
        out.push(b',');
        push_degrees(out, self.lat);
        out.extend_from_slice(b"]},\"properties\":{\"cluster\":true,\"point_count\":");
        out.extend_from_slice(n.format(self.point_count).as_bytes());
        out.extend_from_slice(b",\"expansion_zoom\":");
        out.extend_from_slice(n.format(self.expansion_zoom).as_bytes());
        out.extend_from_slice(b"}}");
    }
}

/// Writes degrees with at most 6 decimals, trailing zeros dropped (`9.19`, `-0.5`, `12`).
fn push_degrees(out: &mut Vec<u8>, v: f64) {
    let micro = (v.abs() * 1e6).round() as u64;
    if v < 0.0 && micro != 0 {
        out.push(b'-');
    }
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(n.format(micro / 1_000_000).as_bytes());
    let mut frac = micro % 1_000_000;
    if frac != 0 {
        let mut digits = 6;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        out.push(b'.');
        let s = n.format(frac);
        out.extend(std::iter::repeat_n(b'0', digits - s.len()));
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrees_are_written_with_six_decimals_at_most() {
        let cases = [(9.19, "9.19"), (-0.5, "-0.5"), (12.0, "12"), (45.000001, "45.000001"), (-179.99999949, "-179.999999"), (-0.0000001, "0"), (0.05, "0.05"), (-3.0703, "-3.0703")];
        for (v, want) in cases {
            let mut out = Vec::new();
            push_degrees(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn a_cluster_is_valid_geojson() {
        let c = ClusterFeature { zoom: 4, cx: 7, cy: 5, lon: 9.123456789, lat: 45.5, point_count: 12, expansion_zoom: 5, bbox: [9.0, 45.0, 9.5, 46.0] };
        let mut out = Vec::new();
        c.write_json(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "cluster/4/7/5");
        assert_eq!(v["geometry"]["coordinates"][0], 9.123457);
        assert_eq!(v["properties"]["point_count"], 12);
        assert_eq!(v["properties"]["cluster"], true);
        let _: geojson::Feature = serde_json::from_value(v).unwrap();
    }
}
