//! Synthetic, realistic data for tests and benchmarks: desks scattered around real European cities
//! in proportion to their population, with the local language, English half the time, and migrant
//! languages and service domains drawn with fixed probabilities. Deterministic for a given seed.
//!
//! Tigrinya (`ti`) is spoken at exactly 1 in 16 desks in expectation: the benchmarks' "1-in-16
//! language filter".

use std::collections::BTreeMap;
use std::io::Write;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::feature::PointFeature;
use crate::model::{
    Access, Address, Audience, ContactPoint, Contacts, Domain, Fees, GeoPoint, Language, Taxonomy, Wheelchair,
};

/// (name, ISO country, latitude, longitude, population in thousands, local languages)
type City = (&'static str, &'static str, f64, f64, u32, &'static [&'static str]);

const CITIES: &[City] = &[
    ("London", "GB", 51.5072, -0.1276, 8900, &["en"]),
    ("Berlin", "DE", 52.52, 13.405, 3700, &["de"]),
    ("Madrid", "ES", 40.4168, -3.7038, 3300, &["es"]),
    ("Rome", "IT", 41.9028, 12.4964, 2800, &["it"]),
    ("Paris", "FR", 48.8566, 2.3522, 2100, &["fr"]),
    ("Bucharest", "RO", 44.4268, 26.1025, 1800, &["ro"]),
    ("Vienna", "AT", 48.2082, 16.3738, 1900, &["de"]),
    ("Hamburg", "DE", 53.5511, 9.9937, 1850, &["de"]),
    ("Warsaw", "PL", 52.2297, 21.0122, 1790, &["pl"]),
    ("Budapest", "HU", 47.4979, 19.0402, 1750, &["hu"]),
    ("Barcelona", "ES", 41.3874, 2.1686, 1620, &["es", "ca"]),
    ("Munich", "DE", 48.1351, 11.582, 1480, &["de"]),
    ("Milan", "IT", 45.4642, 9.19, 1370, &["it"]),
    ("Prague", "CZ", 50.0755, 14.4378, 1300, &["cs"]),
    ("Sofia", "BG", 42.6977, 23.3219, 1240, &["bg"]),
    ("Brussels", "BE", 50.8503, 4.3517, 1210, &["fr", "nl"]),
    ("Cologne", "DE", 50.9375, 6.9603, 1080, &["de"]),
    ("Stockholm", "SE", 59.3293, 18.0686, 980, &["sv"]),
    ("Naples", "IT", 40.8518, 14.2681, 920, &["it"]),
    ("Turin", "IT", 45.0703, 7.6869, 850, &["it"]),
    ("Amsterdam", "NL", 52.3676, 4.9041, 880, &["nl"]),
    ("Marseille", "FR", 43.2965, 5.3698, 870, &["fr"]),
    ("Zagreb", "HR", 45.815, 15.9819, 770, &["hr"]),
    ("Krakow", "PL", 50.0647, 19.945, 780, &["pl"]),
    ("Valencia", "ES", 39.4699, -0.3763, 800, &["es"]),
    ("Seville", "ES", 37.3891, -5.9845, 690, &["es"]),
    ("Frankfurt", "DE", 50.1109, 8.6821, 760, &["de"]),
    ("Palermo", "IT", 38.1157, 13.3615, 630, &["it"]),
    ("Athens", "GR", 37.9838, 23.7275, 660, &["el"]),
    ("Riga", "LV", 56.9496, 24.1052, 610, &["lv"]),
    ("Lisbon", "PT", 38.7223, -9.1393, 550, &["pt"]),
    ("Copenhagen", "DK", 55.6761, 12.5683, 640, &["da"]),
    ("Dublin", "IE", 53.3498, -6.2603, 590, &["en", "ga"]),
    ("Vilnius", "LT", 54.6872, 25.2797, 590, &["lt"]),
    ("Lyon", "FR", 45.764, 4.8357, 520, &["fr"]),
    ("Genoa", "IT", 44.4056, 8.9463, 560, &["it"]),
    ("Rotterdam", "NL", 51.9244, 4.4777, 650, &["nl"]),
    ("Stuttgart", "DE", 48.7758, 9.1829, 630, &["de"]),
    ("Düsseldorf", "DE", 51.2277, 6.7735, 620, &["de"]),
    ("Thessaloniki", "GR", 40.6401, 22.9444, 320, &["el"]),
    ("Antwerp", "BE", 51.2194, 4.4025, 530, &["nl"]),
    ("Porto", "PT", 41.1579, -8.6291, 230, &["pt"]),
    ("Bologna", "IT", 44.4949, 11.3426, 390, &["it"]),
    ("Florence", "IT", 43.7696, 11.2558, 370, &["it"]),
    ("Ljubljana", "SI", 46.0569, 14.5058, 290, &["sl"]),
    ("Plovdiv", "BG", 42.1354, 24.7453, 340, &["bg"]),
    ("Varna", "BG", 43.2141, 27.9147, 330, &["bg"]),
    ("Liège", "BE", 50.6326, 5.5797, 200, &["fr"]),
    ("Charleroi", "BE", 50.4108, 4.4446, 200, &["fr"]),
    ("Ghent", "BE", 51.0543, 3.7174, 260, &["nl"]),
    ("Bilbao", "ES", 43.263, -2.935, 345, &["es", "eu"]),
    ("Malaga", "ES", 36.7213, -4.4214, 580, &["es"]),
    ("Bari", "IT", 41.1171, 16.8719, 320, &["it"]),
    ("Verona", "IT", 45.4384, 10.9916, 260, &["it"]),
    ("Brescia", "IT", 45.5416, 10.2118, 200, &["it"]),
    ("Pordenone", "IT", 45.9564, 12.6615, 51, &["it"]),
    ("Trieste", "IT", 45.6495, 13.7768, 200, &["it", "sl"]),
    ("Muggia", "IT", 45.6046, 13.7667, 13, &["it", "sl"]),
    ("Graz", "AT", 47.0707, 15.4395, 290, &["de"]),
    ("Linz", "AT", 48.3069, 14.2858, 210, &["de"]),
    ("Cluj-Napoca", "RO", 46.7712, 23.6236, 320, &["ro"]),
    ("Timisoara", "RO", 45.7489, 21.2087, 310, &["ro"]),
    ("Gdansk", "PL", 54.352, 18.6466, 470, &["pl"]),
    ("Wroclaw", "PL", 51.1079, 17.0385, 640, &["pl"]),
    ("Split", "HR", 43.5081, 16.4402, 180, &["hr"]),
    ("Maribor", "SI", 46.5547, 15.6459, 110, &["sl"]),
    ("Patras", "GR", 38.2466, 21.7346, 170, &["el"]),
    ("Heraklion", "GR", 35.3387, 25.1442, 180, &["el"]),
    ("Cork", "IE", 51.8985, -8.4756, 210, &["en"]),
    ("Toulouse", "FR", 43.6047, 1.4442, 490, &["fr"]),
    ("Lille", "FR", 50.6292, 3.0573, 230, &["fr"]),
    ("Nice", "FR", 43.7102, 7.262, 340, &["fr"]),
    ("Leipzig", "DE", 51.3397, 12.3731, 600, &["de"]),
    ("Dortmund", "DE", 51.5136, 7.4653, 590, &["de"]),
    ("Gothenburg", "SE", 57.7089, 11.9746, 600, &["sv"]),
    ("Helsinki", "FI", 60.1699, 24.9384, 660, &["fi", "sv"]),
    ("Oslo", "NO", 59.9139, 10.7522, 700, &["no"]),
    ("Tallinn", "EE", 59.437, 24.7536, 450, &["et"]),
    ("Bratislava", "SK", 48.1486, 17.1077, 480, &["sk"]),
    ("Luxembourg", "LU", 49.6116, 6.1319, 130, &["lb", "fr", "de"]),
    ("Valletta", "MT", 35.8989, 14.5146, 200, &["mt", "en"]),
    ("Nicosia", "CY", 35.1856, 33.3823, 330, &["el", "tr"]),
];

/// Probability that a desk speaks each non-local language.
const LANGS: &[(&str, f64)] = &[
    ("en", 0.5), ("ar", 0.30), ("fr", 0.20), ("uk", 0.15), ("ro", 0.12), ("ru", 0.12), ("tr", 0.10),
    ("es", 0.10), ("ur", 0.08), ("fa", 0.08), ("sq", 0.08), ("pt", 0.07), ("pl", 0.07), ("bn", 0.07),
    ("ti", 0.0625), ("de", 0.06), ("it", 0.06), ("pa", 0.05), ("zh", 0.05), ("tl", 0.05), ("wo", 0.05),
    ("ps", 0.04), ("so", 0.04), ("bg", 0.04), ("sr", 0.04), ("hr", 0.04), ("am", 0.03), ("el", 0.03),
    ("nl", 0.03), ("sl", 0.02),
];

/// Probability that a desk offers each domain, in [`Domain::ALL`] order.
const DOMAIN_P: [f64; 19] =
    [0.6, 0.35, 0.15, 0.2, 0.3, 0.45, 0.2, 0.35, 0.3, 0.12, 0.35, 0.06, 0.08, 0.2, 0.25, 0.2, 0.2, 0.25, 0.15];

const HOURS: &[&str] = &[
    "Mo-Fr 09:00-17:00",
    "Mo-Fr 09:00-13:00; Tu,Th 09:00-13:00,14:30-17:30",
    "Mo,We,Fr 10:00-16:00",
    "Mo-Fr 08:30-12:30; Sa 09:00-12:00",
    "Tu-Sa 10:00-18:00; PH off",
    "Mo-Th 15:00-19:00",
];

fn gaussian(rng: &mut impl Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Generates desk number `i` of the stream seeded with `seed` (the stream is the same for any count).
struct Generator {
    rng: ChaCha8Rng,
    cumulative: Vec<u64>,
    seed: u64,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let mut acc = 0;
        let cumulative = CITIES
            .iter()
            .map(|c| {
                acc += u64::from(c.4);
                acc
            })
            .collect();
        Generator { rng: ChaCha8Rng::seed_from_u64(seed), cumulative, seed }
    }

    fn desk(&mut self, i: usize, t: &Taxonomy) -> ContactPoint {
        let r = &mut self.rng;
        let total = *self.cumulative.last().expect("cities");
        let pick = r.random_range(0..total);
        let ci = self.cumulative.partition_point(|&c| c <= pick);
        let (city, country, clat, clon, pop, local) = CITIES[ci];
        // Spread grows with city size: about 3 km for a town, 12 km for a capital.
        let sigma_km = 2.0 + 3.5 * (f64::from(pop) / 1000.0).sqrt();
        let dlat = gaussian(r) * sigma_km / 111.2;
        let dlon = gaussian(r) * sigma_km / (111.2 * clat.to_radians().cos());
        let (lat, lon) = ((clat + dlat).clamp(-89.9, 89.9), ((clon + dlon + 540.0) % 360.0) - 180.0);
        let mut languages: Vec<Language> = local.iter().map(|l| Language::new(l).expect("valid local code")).collect();
        for &(l, p) in LANGS {
            if !local.contains(&l) && r.random_bool(p) {
                languages.push(Language::new(l).expect("valid code"));
            }
        }
        let mut domains: Vec<Domain> =
            Domain::ALL.iter().zip(DOMAIN_P).filter_map(|(d, p)| r.random_bool(p).then_some(*d)).collect();
        if domains.is_empty() {
            domains.push(Domain::WorkRights);
        }
        let audience = if r.random_bool(0.8) { Audience::Public } else { Audience::Unions };
        let local_lang = local[0];
        let labels: Vec<&str> = domains.iter().take(3).map(|d| t.label(*d, "en")).collect();
        let mut description = BTreeMap::new();
        description.insert("en".to_string(), format!("Synthetic desk in {city}: help with {}.", labels.join(", ")));
        if local_lang != "en" && t.ui_language(local_lang).is_some() {
            let local_labels: Vec<&str> = domains.iter().take(3).map(|d| t.label(*d, local_lang)).collect();
            description.insert(local_lang.to_string(), format!("{city}: {}.", local_labels.join(", ")));
        }
        let n = i + 1;
        ContactPoint {
            id: format!("syn-{}-{n}", self.seed),
            position: GeoPoint::new(lat, lon).expect("clamped into range"),
            name: format!("Contact point {city} {n}"),
            organization: format!("Synthetic network {country}"),
            audience,
            languages,
            domains,
            address: Address { street: None, postcode: None, city: city.to_string(), country: country.to_string() },
            contacts: Contacts {
                email: Some(format!("desk-{n}@synthetic.example")),
                phone: Some(format!("+39 0000 {:07}", n % 10_000_000)),
                ..Default::default()
            },
            opening_hours: Some(HOURS[r.random_range(0..HOURS.len())].to_string()),
            timezone: None,
            access: Access {
                walk_in: Some(r.random_bool(0.7)),
                appointment: Some(true),
                phone: Some(r.random_bool(0.6)),
                online: Some(r.random_bool(0.3)),
                wheelchair: Some([Wheelchair::Yes, Wheelchair::No, Wheelchair::Limited][r.random_range(0..3)]),
            },
            fees: Some(if audience == Audience::Unions { Fees::Membership } else { Fees::Free }),
            description,
            updated: Some("2026-11-01".to_string()),
        }
    }
}

/// The first `count` desks of the stream for `seed`.
pub fn desks(count: usize, seed: u64) -> Vec<ContactPoint> {
    let t = Taxonomy::embedded();
    let mut g = Generator::new(seed);
    (0..count).map(|i| g.desk(i, t)).collect()
}

/// Writes `count` desks as a GeoJSON FeatureCollection, one feature per line, streaming.
pub fn write_geojson(count: usize, seed: u64, mut out: impl Write) -> std::io::Result<()> {
    let t = Taxonomy::embedded();
    let mut g = Generator::new(seed);
    out.write_all(b"{\"type\":\"FeatureCollection\",\"synthetic\":true,\"features\":[\n")?;
    for i in 0..count {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        let p = g.desk(i, t);
        serde_json::to_writer(&mut out, &PointFeature { point: &p, distance_m: None })?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}
