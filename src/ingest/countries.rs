//! Rough bounding boxes of the countries where the network has desks, used only to catch the
//! classic swapped `[lat, lon]` mistake: a point outside its country whose swap falls inside it.
//! They are deliberately generous; they never reject a record on their own.

/// (ISO 3166-1 alpha-2, min lon, min lat, max lon, max lat), degrees.
const BOXES: &[(&str, f64, f64, f64, f64)] = &[
    ("AL", 19.2, 39.6, 21.1, 42.7),
    ("AT", 9.5, 46.3, 17.2, 49.1),
    ("BA", 15.7, 42.5, 19.7, 45.3),
    ("BE", 2.5, 49.5, 6.4, 51.55),
    ("BG", 22.3, 41.2, 28.7, 44.25),
    ("BY", 23.1, 51.2, 32.8, 56.2),
    ("CH", 5.9, 45.8, 10.5, 47.9),
    ("CY", 32.2, 34.5, 34.7, 35.75),
    ("CZ", 12.0, 48.5, 18.9, 51.1),
    ("DE", 5.8, 47.2, 15.1, 55.1),
    ("DK", 8.0, 54.5, 15.2, 57.8),
    ("EE", 21.7, 57.5, 28.3, 59.7),
    ("ES", -9.4, 35.9, 3.4, 43.8),
    ("FI", 20.5, 59.7, 31.6, 70.1),
    ("FR", -5.2, 41.3, 9.6, 51.1),
    ("GB", -8.7, 49.8, 1.8, 60.9),
    ("GR", 19.3, 34.8, 29.7, 41.8),
    ("HR", 13.4, 42.35, 19.5, 46.6),
    ("HU", 16.1, 45.7, 22.9, 48.6),
    ("IE", -10.7, 51.4, -5.9, 55.4),
    ("IS", -24.6, 63.3, -13.4, 66.6),
    ("IT", 6.6, 35.4, 18.6, 47.1),
    ("LT", 20.9, 53.8, 26.9, 56.5),
    ("LU", 5.7, 49.4, 6.6, 50.2),
    ("LV", 20.9, 55.6, 28.3, 58.1),
    ("MD", 26.6, 45.4, 30.2, 48.5),
    ("ME", 18.4, 41.8, 20.4, 43.6),
    ("MK", 20.4, 40.8, 23.1, 42.4),
    ("MT", 14.1, 35.8, 14.6, 36.1),
    ("NL", 3.3, 50.7, 7.3, 53.6),
    ("NO", 4.5, 57.9, 31.1, 71.2),
    ("PL", 14.1, 49.0, 24.2, 54.9),
    ("PT", -9.6, 36.9, -6.1, 42.2),
    ("RO", 20.2, 43.6, 29.8, 48.3),
    ("RS", 18.8, 42.2, 23.0, 46.2),
    ("SE", 11.0, 55.3, 24.2, 69.1),
    ("SI", 13.3, 45.4, 16.6, 46.9),
    ("SK", 16.8, 47.7, 22.6, 49.7),
    ("TR", 25.6, 35.8, 44.9, 42.2),
    ("UA", 22.1, 44.3, 40.3, 52.4),
    ("XK", 20.0, 41.8, 21.8, 43.3),
];

/// Whether (lon, lat) in degrees lies in the rough box of `country`; `None` if the country has no box.
pub fn contains(country: &str, lon: f64, lat: f64) -> Option<bool> {
    BOXES.iter().find(|b| b.0 == country).map(|&(_, x0, y0, x1, y1)| {
        (x0..=x1).contains(&lon) && (y0..=y1).contains(&lat)
    })
}
