//! The domain vocabulary: a contact point (help desk) and the validated value types it is made of.
//!
//! Every type here validates on construction (`Latitude::new(91.0)` is an error), so code that holds
//! one never re-checks it. This module knows nothing of files, indexes or HTTP.

pub mod feature;
pub mod taxonomy;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use taxonomy::{Domain, Taxonomy};

/// Mean Earth radius in metres (IUGG), the one `geo`'s haversine uses too.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A latitude in decimal degrees, WGS84, within -90..=90.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Latitude(f64);

impl Latitude {
    /// Validates a latitude in degrees.
    pub fn new(deg: f64) -> Result<Self, String> {
        if deg.is_finite() && (-90.0..=90.0).contains(&deg) {
            Ok(Self(deg))
        } else {
            Err(format!("latitude must be a number from -90 to 90 degrees, got {deg}"))
        }
    }
    pub fn degrees(self) -> f64 {
        self.0
    }
}

/// A longitude in decimal degrees, WGS84, within -180..=180.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Longitude(f64);

impl Longitude {
    /// Validates a longitude in degrees.
    pub fn new(deg: f64) -> Result<Self, String> {
        if deg.is_finite() && (-180.0..=180.0).contains(&deg) {
            Ok(Self(deg))
        } else {
            Err(format!("longitude must be a number from -180 to 180 degrees, got {deg}"))
        }
    }
    pub fn degrees(self) -> f64 {
        self.0
    }
}

/// A position on the WGS84 ellipsoid, held as validated latitude and longitude in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub lat: Latitude,
    pub lon: Longitude,
}

impl GeoPoint {
    /// Builds a point from degrees; argument order is (latitude, longitude).
    pub fn new(lat: f64, lon: f64) -> Result<Self, String> {
        Ok(Self { lat: Latitude::new(lat)?, lon: Longitude::new(lon)? })
    }

    /// Great-circle (haversine) distance to `other`, in metres, on a sphere of radius
    /// [`EARTH_RADIUS_M`]. Error against the ellipsoid is below 0.5 %.
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        haversine_m(self.lat.0, self.lon.0, other.lat.0, other.lon.0)
    }
}

/// Haversine distance in metres between two (latitude, longitude) pairs in degrees.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    use geo::{Distance, Haversine, Point};
    // geo's points are (x = longitude, y = latitude).
    Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2))
}

/// Unit-sphere coordinates of (latitude, longitude) in degrees: x towards longitude 0, y towards
/// 90° E, z towards the north pole.
pub fn unit_xyz(lat: f64, lon: f64) -> [f64; 3] {
    let (la, lo) = (lat.to_radians(), lon.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

/// Who a desk serves: the public (any migrant) or other unions (union-to-union contact points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Public,
    Unions,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Unions => "unions",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "unions" => Some(Self::Unions),
            _ => None,
        }
    }
}

/// Whether help costs anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fees {
    Free,
    Membership,
    Fee,
}

impl Fees {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Self::Free),
            "membership" => Some(Self::Membership),
            "fee" => Some(Self::Fee),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Membership => "membership",
            Self::Fee => "fee",
        }
    }
}

/// Wheelchair access, in OpenStreetMap's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Wheelchair {
    Yes,
    No,
    Limited,
}

impl Wheelchair {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "yes" => Some(Self::Yes),
            "no" => Some(Self::No),
            "limited" => Some(Self::Limited),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Limited => "limited",
        }
    }
}

/// A language code: ISO 639-1 where the language has one, else ISO 639-3, lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z]{2,3}$", example = "ar")]
pub struct Language(String);

impl Language {
    /// Accepts a two-letter ISO 639-1 code, or a three-letter ISO 639-3 code for a language that
    /// has no two-letter one. The error says which code to use instead where one is known.
    pub fn new(code: &str) -> Result<Self, String> {
        let lower = code.to_ascii_lowercase();
        if lower != code {
            return Err(format!("language code `{code}` must be lower case (`{lower}`)"));
        }
        match code.len() {
            2 if isolang::Language::from_639_1(code).is_some() => Ok(Self(code.to_string())),
            3 => match isolang::Language::from_639_3(code) {
                Some(l) => match l.to_639_1() {
                    Some(two) => Err(format!(
                        "language code `{code}` has a two-letter ISO 639-1 code: use `{two}`"
                    )),
                    None => Ok(Self(code.to_string())),
                },
                None => Err(format!("`{code}` is not an ISO 639-3 language code")),
            },
            _ => {
                let mut name = code.to_lowercase();
                if let Some(first) = name.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                let hint = isolang::Language::from_name(&name)
                    .and_then(|l| l.to_639_1().map(str::to_string).or(Some(l.to_639_3().to_string())))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                Err(format!(
                    "`{code}` is not a language code: use ISO 639-1 (two letters) or ISO 639-3{hint}"
                ))
            }
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Language {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Language::new(&s)
    }
}
impl From<Language> for String {
    fn from(l: Language) -> String {
        l.0
    }
}
impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Postal address; city-level data is enough, `street` and `postcode` are optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    pub city: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

/// Ways to reach a desk. Messaging apps hold a phone number in international form, or a
/// user name (`@name`) for Telegram and Signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<String>,
}

/// How a person can be helped: walk in, by appointment, by phone, online; and wheelchair access.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Access {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wheelchair: Option<Wheelchair>,
}

/// One help desk ("contact point"), validated. Field names match the GeoJSON properties of the
/// public contract, so an export can be rebuilt as it is. (Records are read by the validator,
/// which reports unknown fields itself; the OpenAPI schema made from this type is the properties
/// of a desk feature, to which answers add `distance_m`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DeskProperties)]
pub struct ContactPoint {
    /// Stable identifier, `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 128 characters.
    #[serde(skip)]
    pub id: String,
    /// Position, latitude and longitude in degrees (GeoJSON writes it `[lon, lat]`).
    #[serde(skip, default = "origin")]
    pub position: GeoPoint,
    pub name: String,
    pub organization: String,
    pub audience: Audience,
    pub languages: Vec<Language>,
    pub domains: Vec<Domain>,
    pub address: Address,
    #[serde(default, skip_serializing_if = "is_default")]
    pub contacts: Contacts,
    /// OpenStreetMap `opening_hours` syntax, checked at build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<String>,
    /// IANA time zone the hours are in; when absent it is derived from the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub access: Access,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<Fees>,
    /// Free text per language code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub description: BTreeMap<String, String>,
    /// Date of the last check of this record, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

fn origin() -> GeoPoint {
    GeoPoint::new(0.0, 0.0).expect("origin is valid")
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

impl ContactPoint {
    pub fn speaks(&self, lang: &str) -> bool {
        self.languages.iter().any(|l| l.as_str() == lang)
    }
}
