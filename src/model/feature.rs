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
    pub id: String,
    pub lon: f64,
    pub lat: f64,
    pub point_count: usize,
    /// The zoom at which this cluster starts to break apart.
    pub expansion_zoom: u8,
    /// Bounding box of the members: `[minLon, minLat, maxLon, maxLat]`.
    pub bbox: [f64; 4],
}

impl Serialize for ClusterFeature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Props {
            cluster: bool,
            point_count: usize,
            expansion_zoom: u8,
        }
        let mut f = s.serialize_struct("Feature", 5)?;
        f.serialize_field("type", "Feature")?;
        f.serialize_field("id", &self.id)?;
        f.serialize_field("bbox", &self.bbox)?;
        f.serialize_field("geometry", &PointGeometry { lon: self.lon, lat: self.lat })?;
        f.serialize_field(
            "properties",
            &Props { cluster: true, point_count: self.point_count, expansion_zoom: self.expansion_zoom },
        )?;
        f.end()
    }
}
