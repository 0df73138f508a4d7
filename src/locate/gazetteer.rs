//! Towns by name: the gazetteer in `data/gazetteer.tsv` (GeoNames towns of 5,000 or more people in
//! Europe, with their alternate names in many scripts), searched by whole name or by prefix for
//! autocompletion, ignoring case, diacritics and punctuation. Held in memory as one sorted table of
//! folded names; a lookup is a binary search and a short scan.

use std::ops::Range;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The embedded gazetteer file (see `data/README.md` for its source, licence and generator).
const EMBEDDED: &str = include_str!("../../data/gazetteer.tsv");

/// Attribution the gazetteer's licence (CC BY 4.0) requires wherever its data is shown.
pub const ATTRIBUTION: &str = "Town names and positions: GeoNames (geonames.org), CC BY 4.0";

/// What a match on a town's main name adds to its score (log10 of the population): as if the
/// town were ten times larger.
const MAIN_NAME_BONUS: f64 = 1.0;

/// Most candidates one lookup returns.
pub const MAX_CANDIDATES: usize = 20;

/// A town of the gazetteer.
#[derive(Debug, Clone)]
struct Town {
    geonameid: u32,
    country: [u8; 2],
    /// Degrees, WGS84.
    lat: f32,
    lon: f32,
    population: u32,
    /// Its names in `Gazetteer::names`: the main name first, then the alternates.
    names: Range<u32>,
}

/// How a folded key was made from a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// The whole name, folded, equals the text typed.
    Exact,
    /// The name starts with the text typed.
    Prefix,
    /// A later word of the name starts with the text typed ("Polten" → Sankt Pölten).
    Word,
}

#[derive(Debug, Clone, Copy)]
struct Key {
    /// Byte range in `Gazetteer::keys_text`.
    start: u32,
    len: u16,
    /// Whether the key starts at a later word of the name.
    word: bool,
    town: u32,
    name: u32,
    /// The town's score before any distance discount: log10 of its population, plus
    /// [`MAIN_NAME_BONUS`] when this key comes from its main name.
    size: f32,
}

/// The gazetteer, parsed and indexed.
pub struct Gazetteer {
    towns: Vec<Town>,
    /// Every name, as written, concatenated; `name_spans` delimits them.
    names_text: String,
    name_spans: Vec<(u32, u32)>,
    keys_text: String,
    /// Sorted by their folded text.
    keys: Vec<Key>,
}

/// One town found for a name.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// GeoNames id.
    pub geonameid: u32,
    /// The name to show: in the UI language's script when the gazetteer has one, else the name
    /// that matched, else the main name.
    pub name: String,
    /// The name that matched the text typed.
    pub matched: String,
    /// The main name in GeoNames.
    pub main_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Degrees, WGS84.
    pub lat: f64,
    /// Degrees, WGS84.
    pub lon: f64,
    pub population: u32,
    pub how: Match,
}

/// The embedded gazetteer, parsed on first use.
pub fn embedded() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(|| Gazetteer::parse(EMBEDDED).expect("the embedded gazetteer parses (a test checks it)"))
}

impl Gazetteer {
    /// Parses the TSV format of `data/gazetteer.tsv`: `#` comment lines, then rows of
    /// `geonameid, name, country, lat, lon, population, alternatenames (|-separated)`.
    /// An error names the line and the field.
    pub fn parse(text: &str) -> Result<Gazetteer, String> {
        let mut g = Gazetteer {
            towns: Vec::new(),
            names_text: String::new(),
            name_spans: Vec::new(),
            keys_text: String::new(),
            keys: Vec::new(),
        };
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let at = |what: &str| format!("gazetteer line {}: {what}", i + 1);
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 7 {
                return Err(at(&format!("{} fields, expected 7", f.len())));
            }
            let number = |v: &str, what: &str| v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| at(&format!("{what} `{v}` is not a number")));
            let (lat, lon) = (number(f[3], "lat")?, number(f[4], "lon")?);
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(at("position out of range"));
            }
            let country: [u8; 2] = f[2].as_bytes().try_into().map_err(|_| at(&format!("country `{}` is not two letters", f[2])))?;
            let town = Town {
                geonameid: f[0].parse().map_err(|_| at(&format!("geonameid `{}`", f[0])))?,
                country,
                lat: lat as f32,
                lon: lon as f32,
                population: f[5].parse().map_err(|_| at(&format!("population `{}`", f[5])))?,
                names: 0..0,
            };
            if f[1].trim().is_empty() {
                return Err(at("empty name"));
            }
            let first = g.name_spans.len() as u32;
            let t = g.towns.len() as u32;
            for name in std::iter::once(f[1]).chain(f[6].split('|')).filter(|n| !n.is_empty()) {
                let n = g.name_spans.len() as u32;
                g.name_spans.push((g.names_text.len() as u32, name.len() as u32));
                g.names_text.push_str(name);
                g.add_keys(name, t, n, town.population, n == first);
            }
            g.towns.push(Town { names: first..g.name_spans.len() as u32, ..town });
        }
        let keys_text = std::mem::take(&mut g.keys_text);
        g.keys.sort_by(|a, b| {
            key_str(&keys_text, a).cmp(key_str(&keys_text, b)).then(a.word.cmp(&b.word)).then(b.size.total_cmp(&a.size))
        });
        // Each (text, town) once: a town often lists the same name in several spellings.
        g.keys.dedup_by(|b, a| a.town == b.town && key_str(&keys_text, a) == key_str(&keys_text, b));
        g.keys_text = keys_text;
        g.keys.shrink_to_fit();
        Ok(g)
    }

    /// Folded keys of a name: the whole name, and each later word to the end of the name.
    fn add_keys(&mut self, name: &str, town: u32, name_ix: u32, population: u32, main: bool) {
        let folded = fold(name);
        if folded.is_empty() || folded.len() > usize::from(u16::MAX) {
            return;
        }
        let size = (f64::from(population.max(1)).log10() + if main { MAIN_NAME_BONUS } else { 0.0 }) as f32;
        let base = self.keys_text.len() as u32;
        self.keys_text.push_str(&folded);
        self.keys.push(Key { start: base, len: folded.len() as u16, word: false, town, name: name_ix, size });
        for (i, _) in folded.match_indices(' ') {
            let start = i + 1;
            self.keys.push(Key { start: base + start as u32, len: (folded.len() - start) as u16, word: true, town, name: name_ix, size });
        }
    }

    /// Number of towns.
    pub fn len(&self) -> usize {
        self.towns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.towns.is_empty()
    }

    /// Countries covered (ISO 3166-1 alpha-2), sorted.
    pub fn countries(&self) -> Vec<String> {
        let mut c: Vec<String> = self.towns.iter().map(|t| String::from_utf8_lossy(&t.country).into_owned()).collect();
        c.sort();
        c.dedup();
        c
    }

    /// Bytes of memory the gazetteer holds.
    pub fn heap_bytes(&self) -> usize {
        self.towns.capacity() * std::mem::size_of::<Town>()
            + self.names_text.capacity()
            + self.name_spans.capacity() * 8
            + self.keys_text.capacity()
            + self.keys.capacity() * std::mem::size_of::<Key>()
    }

    fn name(&self, ix: u32) -> &str {
        let (start, len) = self.name_spans[ix as usize];
        &self.names_text[start as usize..(start + len) as usize]
    }

    /// The towns whose names match `text` — whole names first, then names that start with it,
    /// then names with a later word that starts with it — each town once, at most `limit`.
    /// Within a kind of match, larger towns first, a match on a town's main name counting as
    /// ten times its population (so `Ljubl` is Ljubljana before Lublin, whose rarely used
    /// alternate `Ljublin` also matches); with `bias` (lat, lon in degrees) a town's size is
    /// discounted by its distance: one 230 km farther must be ten times larger to rank above.
    /// Names are shown in `ui`'s script when the gazetteer has one.
    pub fn lookup(&self, text: &str, ui: &str, bias: Option<(f64, f64)>, limit: usize) -> Vec<Candidate> {
        let q = fold(text);
        let limit = limit.min(MAX_CANDIDATES);
        if q.is_empty() || limit == 0 {
            return Vec::new();
        }
        let text_of = |k: &Key| key_str(&self.keys_text, k);
        let first = self.keys.partition_point(|k| text_of(k) < q.as_str());
        let end = first + self.keys[first..].partition_point(|k| text_of(k).starts_with(q.as_str()));
        // The best `limit` towns so far, best first, each once: (match, score, town, name). A
        // key whose score before the distance discount cannot beat the last is skipped unread,
        // so a two-letter prefix matching thousands of names stays cheap.
        let mut top: Vec<(Match, f64, u32, u32)> = Vec::with_capacity(limit + 1);
        let better = |a: (Match, f64, u32), b: (Match, f64, u32)| a.0 < b.0 || (a.0 == b.0 && (a.1 > b.1 || (a.1 == b.1 && a.2 < b.2)));
        for k in &self.keys[first..end] {
            let how = if k.word {
                Match::Word
            } else if usize::from(k.len) == q.len() {
                Match::Exact
            } else {
                Match::Prefix
            };
            let full = top.len() == limit;
            let last = top.last().map(|t| (t.0, t.1, t.2));
            if full && !better((how, f64::from(k.size), k.town), last.expect("full")) {
                continue;
            }
            let score = f64::from(k.size) - bias.map_or(0.0, |b| self.distance_penalty(k.town, b));
            if let Some(i) = top.iter().position(|t| t.2 == k.town) {
                if !better((how, score, k.town), (top[i].0, top[i].1, k.town)) {
                    continue;
                }
                top.remove(i);
            } else if full && !better((how, score, k.town), last.expect("full")) {
                continue;
            }
            let at = top.partition_point(|t| better((t.0, t.1, t.2), (how, score, k.town)));
            top.insert(at, (how, score, k.town, k.name));
            top.truncate(limit);
        }
        top.into_iter().map(|(how, _, town, name)| self.candidate(town, name, how, ui)).collect()
    }

    /// How much a town's score drops with its distance from `bias` (lat, lon in degrees): one per
    /// 230 km.
    fn distance_penalty(&self, town: u32, (lat, lon): (f64, f64)) -> f64 {
        let t = &self.towns[town as usize];
        crate::model::haversine_m(lat, lon, f64::from(t.lat), f64::from(t.lon)) / 230_000.0
    }

    fn candidate(&self, town: u32, name: u32, how: Match, ui: &str) -> Candidate {
        let t = &self.towns[town as usize];
        let matched = self.name(name);
        let main_name = self.name(t.names.start);
        let want = script_of_language(ui);
        let shown = if script_of(matched) == Some(want) {
            matched
        } else if want == Script::Latin {
            main_name
        } else {
            t.names.clone().rev().map(|i| self.name(i)).filter(|n| script_of(n) == Some(want)).max_by_key(|n| preference(ui, n)).unwrap_or(main_name)
        };
        Candidate {
            geonameid: t.geonameid,
            name: shown.to_string(),
            matched: matched.to_string(),
            main_name: main_name.to_string(),
            country: String::from_utf8_lossy(&t.country).into_owned(),
            lat: round5(f64::from(t.lat)),
            lon: round5(f64::from(t.lon)),
            population: t.population,
            how,
        }
    }
}

fn round5(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn key_str<'a>(text: &'a str, k: &Key) -> &'a str {
    &text[k.start as usize..k.start as usize + usize::from(k.len)]
}

/// The form names are compared in: compatibility-decomposed, without diacritics, lower case,
/// Arabic letter variants unified, apostrophes dropped, other punctuation and runs of spaces as
/// one space. `Köln` and `koln`, `Saint-Étienne` and `saint etienne`, `L'Aquila` and `laquila`
/// fold alike.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        let mapped: &str = match c {
            '\'' | '’' | 'ʼ' | '`' | '´' | 'ʻ' | '\u{0640}' => continue,
            'ß' | 'ẞ' => "ss",
            'æ' | 'Æ' => "ae",
            'œ' | 'Œ' => "oe",
            'þ' | 'Þ' => "th",
            'ø' | 'Ø' => "o",
            'đ' | 'Đ' | 'ð' | 'Ð' => "d",
            'ł' | 'Ł' => "l",
            'ı' => "i",
            'ى' | 'ی' | 'ې' | 'ۍ' => "ي",
            'ک' => "ك",
            'ة' => "ه",
            c if c.is_alphanumeric() => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.extend(c.to_lowercase());
                continue;
            }
            _ => {
                pending_space = true;
                continue;
            }
        };
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push_str(mapped);
    }
    out
}

/// Writing systems of the UI languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    Arabic,
    Ethiopic,
    Han,
    Bengali,
    Gurmukhi,
    Other,
}

fn script_of_char(c: char) -> Script {
    match c as u32 {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => Script::Latin,
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F => Script::Cyrillic,
        0x600..=0x6FF | 0x750..=0x77F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => Script::Arabic,
        0x1200..=0x139F => Script::Ethiopic,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF => Script::Han,
        0x980..=0x9FF => Script::Bengali,
        0xA00..=0xA7F => Script::Gurmukhi,
        _ => Script::Other,
    }
}

/// The script of a name's first letter.
fn script_of(name: &str) -> Option<Script> {
    name.chars().find(|c| c.is_alphabetic()).map(script_of_char)
}

fn script_of_language(ui: &str) -> Script {
    match ui {
        "ar" | "fa" | "ps" | "ur" | "prs" => Script::Arabic,
        "ru" | "uk" | "bg" | "sr" | "mk" | "be" => Script::Cyrillic,
        "el" => Script::Greek,
        "zh" => Script::Han,
        "am" | "ti" => Script::Ethiopic,
        "bn" => Script::Bengali,
        "pa" => Script::Gurmukhi,
        _ => Script::Latin,
    }
}

/// GeoNames' alternate names carry no language, so among the names in a script, prefer the ones
/// written with letters only that language uses, and avoid those with letters it lacks. Ties go
/// to the earlier name.
fn preference(ui: &str, name: &str) -> i32 {
    let (prefer, avoid): (&str, &str) = match ui {
        "ar" => ("", "پچژگکیےڈٹںھۍېټډړږښګڼ"),
        "fa" | "prs" => ("پچژگکی", "ےڈٹںڑۍېټډړږښګڼة"),
        "ur" => ("ےڈٹںڑھ", "ۍېټډړږښګڼة"),
        "ps" => ("ۍېټډړږښګڼ", "ےڈٹںڑ"),
        "uk" => ("іїєґ", "ыэъёђјљњћџў"),
        "sr" => ("ђјљњћџ", "ыэъёіїєґў"),
        "bg" => ("", "ыэёіїєґђјљњћџў"),
        "ru" => ("", "іїєґђјљњћџў"),
        _ => ("", ""),
    };
    let has = |set: &str| name.chars().filter(|c| set.contains(*c)).count() as i32;
    has(prefer) * 2 - has(avoid) * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_diacritics_and_punctuation() {
        assert_eq!(fold("Köln"), "koln");
        assert_eq!(fold("  Saint-Étienne "), "saint etienne");
        assert_eq!(fold("L'Aquila"), "laquila");
        assert_eq!(fold("București"), "bucuresti");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("Θεσσαλονίκη"), "θεσσαλονικη");
        assert_eq!(fold("ЙОШКАР-ОЛА"), "иошкар ола");
        assert_eq!(fold("إسطنبول"), fold("اسطنبول"));
        assert_eq!(fold("تورین"), fold("تورين"));
        assert_eq!(fold("!!!"), "");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = Gazetteer::parse("# c\n1\tA\tIT\t45\t9\t100\t\n2\tB\tITA\t45\t9\t1\t\n").err().unwrap();
        assert!(e.contains("line 3") && e.contains("country"), "{e}");
        let e = Gazetteer::parse("1\tA\tIT\t95\t9\t100\t\n").err().unwrap();
        assert!(e.contains("line 1") && e.contains("out of range"), "{e}");
    }

    #[test]
    fn ranks_whole_names_first_then_size_discounted_by_distance() {
        let g = Gazetteer::parse(
            "1\tSan Big\tIT\t41.9\t12.5\t200000\t\n\
             2\tSan\tIT\t45.6\t13.8\t6000\t\n\
             3\tSankt Pölten\tAT\t48.2\t15.6\t50000\tSt. Poelten\n\
             4\tSan Small\tIT\t45.7\t13.7\t8000\t\n",
        )
        .unwrap();
        let ids = |c: Vec<Candidate>| c.into_iter().map(|c| c.geonameid).collect::<Vec<_>>();
        assert_eq!(ids(g.lookup("san", "it", None, 10)), vec![2, 1, 3, 4]);
        // Near Trieste, the small town nearby outranks the big one 500 km away.
        assert_eq!(ids(g.lookup("san", "it", Some((45.65, 13.78)), 10)), vec![2, 4, 1, 3]);
        assert_eq!(ids(g.lookup("polten", "de", None, 10)), vec![3]);
        assert_eq!(ids(g.lookup("SANKT POLT", "de", None, 10)), vec![3]);
        assert!(g.lookup("zzz", "it", None, 10).is_empty());
        assert!(g.lookup("  ", "it", None, 10).is_empty());
    }

    /// Every town, every name, folded and compared: the answer `lookup` must give.
    fn brute_force(g: &Gazetteer, folded: &[String], text: &str, bias: Option<(f64, f64)>, limit: usize) -> Vec<u32> {
        let q = fold(text);
        let mut best: Vec<(Match, f64, u32)> = Vec::new();
        for (t, town) in g.towns.iter().enumerate() {
            let mut mine: Option<(Match, f64)> = None;
            for n in town.names.clone() {
                let f = &folded[n as usize];
                let how = if *f == q {
                    Some(Match::Exact)
                } else if f.starts_with(&q) {
                    Some(Match::Prefix)
                } else if f.split(' ').skip(1).enumerate().any(|(i, _)| f.splitn(i + 2, ' ').last().unwrap().starts_with(&q)) {
                    Some(Match::Word)
                } else {
                    None
                };
                let Some(how) = how else { continue };
                let size = f64::from((f64::from(town.population.max(1)).log10() + if n == town.names.start { MAIN_NAME_BONUS } else { 0.0 }) as f32);
                let score = size - bias.map_or(0.0, |b| g.distance_penalty(t as u32, b));
                if mine.is_none_or(|m| how < m.0 || (how == m.0 && score > m.1)) {
                    mine = Some((how, score));
                }
            }
            if let Some((how, score)) = mine {
                best.push((how, score, t as u32));
            }
        }
        best.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
        best.into_iter().take(limit).map(|b| g.towns[b.2 as usize].geonameid).collect()
    }

    #[test]
    fn lookup_equals_a_brute_force_scan_of_the_gazetteer() {
        let g = embedded();
        let folded: Vec<String> = (0..g.name_spans.len() as u32).map(|n| fold(g.name(n))).collect();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for i in 0..120 {
            let town = &g.towns[next() % g.towns.len()];
            let names: Vec<&str> = town.names.clone().map(|n| g.name(n)).collect();
            let name = names[next() % names.len()];
            let chars: Vec<char> = name.chars().collect();
            let cut = 1 + next() % chars.len().min(7);
            let text: String = chars[..cut].iter().collect();
            let bias = (i % 2 == 0).then(|| (35.0 + (next() % 30) as f64, -10.0 + (next() % 50) as f64));
            let got: Vec<u32> = g.lookup(&text, "en", bias, 8).iter().map(|c| c.geonameid).collect();
            assert_eq!(got, brute_force(g, &folded, &text, bias, 8), "{text:?} bias {bias:?}");
        }
    }

    #[test]
    fn names_are_shown_in_the_ui_script() {
        let g = Gazetteer::parse("1\tTurin\tIT\t45.07\t7.69\t870000\tTorino|Турин|تورينو|تورین|Τορίνο\n").unwrap();
        let c = &g.lookup("torino", "it", None, 1)[0];
        assert_eq!((c.name.as_str(), c.matched.as_str(), c.main_name.as_str()), ("Torino", "Torino", "Turin"));
        assert_eq!(g.lookup("torino", "ru", None, 1)[0].name, "Турин");
        assert_eq!(g.lookup("torino", "ar", None, 1)[0].name, "تورينو");
        assert_eq!(g.lookup("torino", "fa", None, 1)[0].name, "تورین");
        assert_eq!(g.lookup("Турин", "en", None, 1)[0].name, "Turin");
        assert_eq!(g.lookup("turin", "el", None, 1)[0].name, "Τορίνο");
    }
}
