//! The spatial index: an R-tree (rstar) over the desks' positions on the unit sphere, with the hot
//! filter fields (language and domain bitmasks, audience) stored in each element so filtering never
//! looks a record up in another table. Every node's envelope also carries the union of its
//! subtree's masks, so a filtered nearest-neighbour search skips whole subtrees without a match
//! instead of testing their desks one by one.
//!
//! Keys are unit-sphere `[x, y, z]` (f32): straight-line (chord) distance between two such points
//! grows with great-circle distance, so nearest-neighbour search in 3-D is nearest on the globe, and
//! the antimeridian and the poles need no special case. The tree prunes; the caller's exact
//! great-circle distance (f64) ranks.

use std::collections::HashMap;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use bincode::Options as _;
use rstar::{AABB, Envelope, ParentNode, Point, PointDistance, RTree, RTreeNode, RTreeObject};

use crate::model::{Audience, ContactPoint, Domain, EARTH_RADIUS_M, unit_xyz};

/// Chord slack that covers f32 rounding of the keys (about 64 m on the ground): candidates this
/// close to the cut-off are still ranked exactly.
const CHORD_EPS: f32 = 1e-5;

/// The language bit reserved for "speaks a language that has no bit of its own".
const RARE_BIT: u64 = 1 << 63;

/// One desk in the tree: its unit-sphere key, its ordinal in the bundle, and its filter fields.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub xyz: [f32; 3],
    pub ord: u32,
    pub langs: u64,
    pub domains: u32,
    pub audience: Audience,
}

/// Filter fields as bitmasks: a desk's own, the union over a subtree, or what a query accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Masks {
    pub langs: u64,
    pub domains: u32,
    /// Bit 0: public, bit 1: unions.
    pub audience: u8,
}

impl Masks {
    /// Accepts everything (a query without filters).
    pub const ANY: Masks = Masks { langs: u64::MAX, domains: u32::MAX, audience: u8::MAX };
    const NONE: Masks = Masks { langs: 0, domains: 0, audience: 0 };

    fn audience_bit(a: Audience) -> u8 {
        match a {
            Audience::Public => 1,
            Audience::Unions => 2,
        }
    }

    /// Whether something with these masks may pass a query accepting `q`.
    #[inline]
    fn meets(&self, q: &Masks) -> bool {
        self.langs & q.langs != 0 && self.domains & q.domains != 0 && self.audience & q.audience != 0
    }

    fn union(&self, o: &Masks) -> Masks {
        Masks { langs: self.langs | o.langs, domains: self.domains | o.domains, audience: self.audience | o.audience }
    }
}

/// A query position with the masks it accepts. Points rstar makes on its own (centres of boxes)
/// accept everything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub xyz: [f32; 3],
    pub accepts: Masks,
}

impl Point for Probe {
    type Scalar = f32;
    const DIMENSIONS: usize = 3;
    fn generate(mut g: impl FnMut(usize) -> f32) -> Self {
        Probe { xyz: [g(0), g(1), g(2)], accepts: Masks::ANY }
    }
    fn nth(&self, i: usize) -> f32 {
        self.xyz[i]
    }
    fn nth_mut(&mut self, i: usize) -> &mut f32 {
        &mut self.xyz[i]
    }
}

/// A 3-D box with the union of the masks of what it holds. Its distance to a probe whose masks
/// it cannot meet is infinite, so searches never descend into it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MaskedBox {
    aabb: AABB<[f32; 3]>,
    masks: Masks,
}

impl MaskedBox {
    /// A box that accepts any desk, for locating by envelope.
    pub fn any(aabb: AABB<[f32; 3]>) -> Self {
        MaskedBox { aabb, masks: Masks::ANY }
    }
}

impl Envelope for MaskedBox {
    type Point = Probe;
    fn new_empty() -> Self {
        MaskedBox { aabb: AABB::new_empty(), masks: Masks::NONE }
    }
    fn contains_point(&self, p: &Probe) -> bool {
        self.aabb.contains_point(&p.xyz)
    }
    fn contains_envelope(&self, o: &Self) -> bool {
        self.aabb.contains_envelope(&o.aabb)
    }
    fn merge(&mut self, o: &Self) {
        self.aabb.merge(&o.aabb);
        self.masks = self.masks.union(&o.masks);
    }
    fn merged(&self, o: &Self) -> Self {
        MaskedBox { aabb: self.aabb.merged(&o.aabb), masks: self.masks.union(&o.masks) }
    }
    fn intersects(&self, o: &Self) -> bool {
        self.aabb.intersects(&o.aabb) && self.masks.meets(&o.masks)
    }
    fn intersection_area(&self, o: &Self) -> f32 {
        self.aabb.intersection_area(&o.aabb)
    }
    fn area(&self) -> f32 {
        self.aabb.area()
    }
    fn distance_2(&self, p: &Probe) -> f32 {
        if self.masks.meets(&p.accepts) { self.aabb.distance_2(&p.xyz) } else { f32::INFINITY }
    }
    fn min_max_dist_2(&self, p: &Probe) -> f32 {
        if self.masks.meets(&p.accepts) { self.aabb.min_max_dist_2(&p.xyz) } else { f32::INFINITY }
    }
    fn center(&self) -> Probe {
        Probe { xyz: self.aabb.center(), accepts: Masks::ANY }
    }
    fn perimeter_value(&self) -> f32 {
        self.aabb.perimeter_value()
    }
    fn sort_envelopes<T: RTreeObject<Envelope = Self>>(axis: usize, items: &mut [T]) {
        items.sort_unstable_by(|a, b| a.envelope().aabb.lower()[axis].total_cmp(&b.envelope().aabb.lower()[axis]));
    }
    fn partition_envelopes<T: RTreeObject<Envelope = Self>>(axis: usize, items: &mut [T], at: usize) {
        items.select_nth_unstable_by(at, |a, b| a.envelope().aabb.lower()[axis].total_cmp(&b.envelope().aabb.lower()[axis]));
    }
}

impl Entry {
    fn masks(&self) -> Masks {
        Masks { langs: self.langs, domains: self.domains, audience: Masks::audience_bit(self.audience) }
    }
}

impl RTreeObject for Entry {
    type Envelope = MaskedBox;
    fn envelope(&self) -> MaskedBox {
        MaskedBox { aabb: AABB::from_point(self.xyz), masks: self.masks() }
    }
}

impl PointDistance for Entry {
    fn distance_2(&self, p: &Probe) -> f32 {
        if !self.masks().meets(&p.accepts) {
            return f32::INFINITY;
        }
        let d = [self.xyz[0] - p.xyz[0], self.xyz[1] - p.xyz[1], self.xyz[2] - p.xyz[2]];
        d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    }
}

/// A chord length, ordered (never NaN: distances of finite unit vectors).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Chord(f32);

impl Eq for Chord {}
impl PartialOrd for Chord {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Chord {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// A node waiting in the best-first queue (a min-heap by tier, then chord).
struct Queued<'a> {
    tier: u8,
    chord: f32,
    node: &'a ParentNode<Entry>,
}

impl PartialEq for Queued<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.tier == o.tier && self.chord == o.chord
    }
}
impl Eq for Queued<'_> {}
impl PartialOrd for Queued<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued<'_> {
    fn cmp(&self, o: &Self) -> Ordering {
        o.tier.cmp(&self.tier).then(o.chord.total_cmp(&self.chord))
    }
}

/// Which audiences a query accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceFilter {
    Only(Audience),
    All,
}

/// A filter compiled against one index's language table. Empty lists mean "any".
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Bits of the requested languages that have a bit; `None` = any language.
    langs: Option<u64>,
    /// Requested languages without a bit of their own (checked on the record).
    rare_langs: Vec<String>,
    domains: u32,
    audience: AudienceFilter,
}

impl Filter {
    /// Whether the filter lets the element through, checking rare languages on `point` when needed.
    #[inline]
    pub fn matches(&self, e: &Entry, point: impl FnOnce() -> bool) -> bool {
        self.matches_bits(e.langs, e.domains, Masks::audience_bit(e.audience), point)
    }

    /// [`Filter::matches`] on a desk's bits: languages, domains and audience (1 public, 2 unions).
    #[inline]
    pub fn matches_bits(&self, langs: u64, domains: u32, audience: u8, point: impl FnOnce() -> bool) -> bool {
        if let AudienceFilter::Only(a) = self.audience
            && audience != Masks::audience_bit(a)
        {
            return false;
        }
        if self.domains != 0 && domains & self.domains == 0 {
            return false;
        }
        match self.langs {
            None => true,
            Some(mask) if langs & mask != 0 => true,
            Some(_) => !self.rare_langs.is_empty() && langs & RARE_BIT != 0 && point(),
        }
    }

    pub fn rare_langs(&self) -> &[String] {
        &self.rare_langs
    }

    /// The masks a desk must meet to pass (a necessary condition; rare languages are checked on
    /// the record).
    pub fn masks(&self) -> Masks {
        Masks {
            langs: match self.langs {
                None => u64::MAX,
                Some(mask) if self.rare_langs.is_empty() => mask,
                Some(mask) => mask | RARE_BIT,
            },
            domains: if self.domains == 0 { u32::MAX } else { self.domains },
            audience: match self.audience {
                AudienceFilter::All => u8::MAX,
                AudienceFilter::Only(a) => Masks::audience_bit(a),
            },
        }
    }
}

/// Bounding box in degrees. `min_lon > max_lon` means the box crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLatBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl LonLatBox {
    /// Whether (lon, lat) in degrees is inside, edges included.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let lon_ok = if self.min_lon <= self.max_lon {
            (self.min_lon..=self.max_lon).contains(&lon)
        } else {
            lon >= self.min_lon || lon <= self.max_lon
        };
        lon_ok && (self.min_lat..=self.max_lat).contains(&lat)
    }

    /// Width in degrees of longitude, across the antimeridian when it crosses it.
    pub fn lon_span(&self) -> f64 {
        if self.min_lon <= self.max_lon { self.max_lon - self.min_lon } else { 360.0 - self.min_lon + self.max_lon }
    }

    /// A 3-D box that holds the unit-sphere image of every point of this box.
    fn sphere_envelope(&self) -> MaskedBox {
        let (lat0, lat1) = (self.min_lat.to_radians(), self.max_lat.to_radians());
        // cos(lat) over [lat0, lat1]: largest at the latitude closest to 0, smallest at an end.
        let cos_hi = if lat0 <= 0.0 && lat1 >= 0.0 { 1.0 } else { lat0.cos().max(lat1.cos()) };
        let cos_lo = lat0.cos().min(lat1.cos());
        // cos(lon) and sin(lon) over the longitude interval: the ends and any quarter turn inside.
        let start = self.min_lon;
        let span = self.lon_span();
        let mut lons = vec![start, start + span];
        let mut q = (start / 90.0).ceil() * 90.0;
        while q < start + span {
            lons.push(q);
            q += 90.0;
        }
        let (mut cmin, mut cmax, mut smin, mut smax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for l in lons {
            let (s, c) = l.to_radians().sin_cos();
            cmin = cmin.min(c);
            cmax = cmax.max(c);
            smin = smin.min(s);
            smax = smax.max(s);
        }
        let range = |lo: f64, hi: f64| {
            let cands = [cos_lo * lo, cos_lo * hi, cos_hi * lo, cos_hi * hi];
            let min = cands.iter().copied().fold(f64::MAX, f64::min);
            let max = cands.iter().copied().fold(f64::MIN, f64::max);
            (min, max)
        };
        let (x0, x1) = range(cmin, cmax);
        let (y0, y1) = range(smin, smax);
        let (z0, z1) = (lat0.sin(), lat1.sin());
        let pad = CHORD_EPS as f64;
        MaskedBox::any(AABB::from_corners(
            [(x0 - pad) as f32, (y0 - pad) as f32, (z0 - pad) as f32],
            [(x1 + pad) as f32, (y1 + pad) as f32, (z1 + pad) as f32],
        ))
    }
}

/// Chord length on the unit sphere for a great-circle distance in metres.
pub fn chord_for_m(m: f64) -> f64 {
    let theta = (m / EARTH_RADIUS_M).min(std::f64::consts::PI);
    2.0 * (theta / 2.0).sin()
}

/// How `tree.bin` is encoded: bincode with fixed-size integers, nothing after the tree.
fn tree_format() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian().reject_trailing_bytes()
}

/// The R-tree and the table that gives languages their bits.
pub struct SpatialIndex {
    tree: RTree<Entry>,
    lang_bits: HashMap<String, u8>,
}

impl SpatialIndex {
    /// Builds the tree; the 63 most common languages get a bit each, the rest share [`RARE_BIT`].
    pub fn build(points: &[ContactPoint]) -> Self {
        let (entries, langs) = Self::entries(points);
        Self::from_entries(entries, langs)
    }

    /// The tree's elements for `points`, by ordinal, and the language table (codes by bit).
    pub fn entries(points: &[ContactPoint]) -> (Vec<Entry>, Vec<String>) {
        let mut freq: HashMap<&str, usize> = HashMap::new();
        for p in points {
            for l in &p.languages {
                *freq.entry(l.as_str()).or_default() += 1;
            }
        }
        let (lang_bits, table) = Self::lang_bits(freq);
        let entries = points.iter().enumerate().map(|(ord, p)| Self::entry_of(ord as u32, p, &lang_bits)).collect();
        (entries, table)
    }

    /// The language bits from how many desks speak each language: the 63 most spoken (ties by
    /// code) get a bit each, by rank; the map, and the codes by bit.
    pub fn lang_bits<'a>(freq: impl IntoIterator<Item = (&'a str, usize)>) -> (HashMap<String, u8>, Vec<String>) {
        let mut by_freq: Vec<(&str, usize)> = freq.into_iter().collect();
        by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let table: Vec<String> = by_freq.iter().take(63).map(|(l, _)| l.to_string()).collect();
        let bits = table.iter().enumerate().map(|(i, l)| (l.clone(), i as u8)).collect();
        (bits, table)
    }

    /// The element of desk `ord`, with its languages as `lang_bits` gives them.
    pub fn entry_of(ord: u32, p: &ContactPoint, lang_bits: &HashMap<String, u8>) -> Entry {
        let langs = p.languages.iter().fold(0u64, |m, l| m | lang_bits.get(l.as_str()).map_or(RARE_BIT, |&b| 1u64 << b));
        let domains = p.domains.iter().fold(0u32, |m, d| m | (1 << d.index()));
        Self::entry(ord, p.position.lat.degrees(), p.position.lon.degrees(), langs, domains, p.audience)
    }

    /// Builds the tree from its elements and the language table (codes by bit).
    pub fn from_entries(entries: Vec<Entry>, langs: Vec<String>) -> Self {
        let lang_bits = langs.into_iter().enumerate().map(|(i, l)| (l, i as u8)).collect();
        Self { tree: RTree::bulk_load(entries), lang_bits }
    }

    /// Writes the tree as it is (nodes, envelopes with their masks, elements) for
    /// [`SpatialIndex::read`]: a server then reads the tree `build` made instead of bulk-loading
    /// it again (3 s at ten million desks).
    pub fn write(&self, out: impl std::io::Write) -> Result<(), String> {
        tree_format().serialize_into(out, &self.tree).map_err(|e| e.to_string())
    }

    /// Reads a tree written by [`SpatialIndex::write`] (the bundle's `tree.bin`, whose hash the
    /// caller has checked) and checks that its elements are exactly `entries` (by ordinal), so
    /// every ordinal it gives is in range and every desk is found.
    pub fn read(bytes: &[u8], entries: &[Entry], langs: Vec<String>) -> Result<Self, String> {
        let tree: RTree<Entry> = tree_format().with_limit(bytes.len() as u64).deserialize(bytes).map_err(|e| e.to_string())?;
        if tree.size() != entries.len() {
            return Err(format!("holds {} desks, desks.bin {}", tree.size(), entries.len()));
        }
        let mut seen = vec![false; entries.len()];
        let mut leaves = 0usize;
        for e in tree.iter() {
            leaves += 1;
            match (seen.get_mut(e.ord as usize), entries.get(e.ord as usize)) {
                (Some(s), Some(want)) if !*s && want == e => *s = true,
                _ => return Err(format!("desk {} is not the one desks.bin holds, or is there twice", e.ord)),
            }
        }
        if leaves != entries.len() {
            return Err(format!("{leaves} elements for {} desks", entries.len()));
        }
        let lang_bits = langs.into_iter().enumerate().map(|(i, l)| (l, i as u8)).collect();
        Ok(Self { tree, lang_bits })
    }

    /// The element of a desk at (`lat`, `lon`) in degrees with the given filter fields.
    pub fn entry(ord: u32, lat: f64, lon: f64, langs: u64, domains: u32, audience: Audience) -> Entry {
        let xyz = unit_xyz(lat, lon);
        Entry { xyz: [xyz[0] as f32, xyz[1] as f32, xyz[2] as f32], ord, langs, domains, audience }
    }

    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Bytes the tree holds on the heap (every node's child array) plus the
    /// language table; what "spatial index memory" means in the README's figures.
    pub fn heap_bytes(&self) -> usize {
        fn walk(n: &ParentNode<Entry>) -> usize {
            let own = std::mem::size_of_val(n.children());
            own + n
                .children()
                .iter()
                .map(|c| match c {
                    RTreeNode::Parent(p) => walk(p),
                    RTreeNode::Leaf(_) => 0,
                })
                .sum::<usize>()
        }
        std::mem::size_of::<RTree<Entry>>() + walk(self.tree.root()) + self.lang_bits.len() * 32
    }

    /// Language codes by bit (bit 0 first); at most 63.
    pub fn lang_codes(&self) -> Vec<String> {
        let mut v: Vec<(&String, &u8)> = self.lang_bits.iter().collect();
        v.sort_by_key(|(_, b)| **b);
        v.into_iter().map(|(l, _)| l.clone()).collect()
    }

    /// Whether `lang` has a bit of its own.
    pub fn has_lang_bit(&self, lang: &str) -> bool {
        self.lang_bits.contains_key(lang)
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Compiles a filter: desks speaking any of `langs`, offering any of `domains`, for `audience`.
    pub fn filter(&self, langs: &[String], domains: &[Domain], audience: AudienceFilter) -> Filter {
        let (mut mask, mut rare) = (0u64, Vec::new());
        for l in langs {
            match self.lang_bits.get(l) {
                Some(&b) => mask |= 1 << b,
                None => rare.push(l.clone()),
            }
        }
        Filter {
            langs: (!langs.is_empty()).then_some(mask),
            rare_langs: rare,
            domains: domains.iter().fold(0, |m, d| m | (1 << d.index())),
            audience,
        }
    }

    /// The `k` desks nearest to (`lat`, `lon`) in degrees that pass `keep`, nearest first, as
    /// (ordinal, metres). `exact_m(ord)` gives the exact great-circle distance that ranks them;
    /// `max_m` drops desks farther than that many metres. Ties are broken by ordinal.
    /// Only desks meeting `accepts` are visited at all (see [`Filter::masks`]).
    #[allow(clippy::too_many_arguments)]
    pub fn nearest(
        &self,
        lat: f64,
        lon: f64,
        k: usize,
        max_m: Option<f64>,
        accepts: Masks,
        keep: impl FnMut(&Entry) -> bool,
        exact_m: impl Fn(u32) -> f64,
    ) -> Vec<(u32, f64)> {
        self.nearest_tiered(lat, lon, k, max_m, accepts, |_| 0, keep, exact_m).into_iter().map(|(ord, _, m)| (ord, m)).collect()
    }

    /// Like [`SpatialIndex::nearest`], but desks come in tiers first: `tier(domains)` (lower
    /// first) of a desk with domain bits `domains`, nearest first within a tier. Answers
    /// (ordinal, tier, metres). `tier` must never grow when bits are added (a subtree is bounded
    /// by the tier of the union of its desks' bits), so whole subtrees of worse tiers are skipped.
    #[allow(clippy::too_many_arguments)]
    pub fn nearest_tiered(
        &self,
        lat: f64,
        lon: f64,
        k: usize,
        max_m: Option<f64>,
        accepts: Masks,
        tier: impl Fn(u32) -> u8,
        mut keep: impl FnMut(&Entry) -> bool,
        exact_m: impl Fn(u32) -> f64,
    ) -> Vec<(u32, u8, f64)> {
        if k == 0 {
            return Vec::new();
        }
        let q = unit_xyz(lat, lon);
        let q = Probe { xyz: [q[0] as f32, q[1] as f32, q[2] as f32], accepts };
        let max_chord = max_m.map_or(f32::MAX, |m| chord_for_m(m) as f32 + CHORD_EPS);
        // Branch and bound: nodes come out of `queue` best (tier, chord) first and are only
        // queued while they can hold something within reach; leaves are checked on the spot.
        // `best` holds the k smallest keys so far; everything within the k-th (its chord + a
        // margin for f32 rounding) is a candidate for the exact ranking.
        let mut best: BinaryHeap<(u8, Chord)> = BinaryHeap::with_capacity(k + 1);
        let mut candidates: Vec<(u32, u8, f32)> = Vec::with_capacity(k + 8);
        let reach = |best: &BinaryHeap<(u8, Chord)>| match best.peek() {
            Some(&(t, kth)) if best.len() == k => (t, (kth.0 + 2.0 * CHORD_EPS).min(max_chord)),
            _ => (u8::MAX, max_chord),
        };
        let within = |t: u8, c: f32, r: (u8, f32)| c <= max_chord && (t < r.0 || (t == r.0 && c <= r.1));
        let mut queue: BinaryHeap<Queued> = BinaryHeap::new();
        queue.push(Queued { tier: 0, chord: 0.0, node: self.tree.root() });
        while let Some(Queued { tier: nt, chord, node }) = queue.pop() {
            if !within(nt, chord, reach(&best)) {
                break;
            }
            for child in node.children() {
                match child {
                    RTreeNode::Leaf(e) => {
                        // Infinite when the desk's masks cannot meet the filter.
                        let c = e.distance_2(&q).sqrt();
                        let t = tier(e.domains);
                        if !c.is_finite() || !within(t, c, reach(&best)) || !keep(e) {
                            continue;
                        }
                        candidates.push((e.ord, t, c));
                        best.push((t, Chord(c)));
                        if best.len() > k {
                            best.pop();
                        }
                    }
                    RTreeNode::Parent(p) => {
                        let c = p.envelope().distance_2(&q).sqrt();
                        let t = tier(p.envelope().masks.domains);
                        if c.is_finite() && within(t, c, reach(&best)) {
                            // Loading a child was 39 % of the search at a million desks.
                            super::prefetch(p.children());
                            queue.push(Queued { tier: t, chord: c, node: p });
                        }
                    }
                }
            }
        }
        let r = reach(&best);
        let mut found: Vec<(u32, u8, f64)> =
            candidates.into_iter().filter(|&(_, t, c)| within(t, c, r)).map(|(ord, t, _)| (ord, t, exact_m(ord))).collect();
        if let Some(m) = max_m {
            found.retain(|&(_, _, d)| d <= m);
        }
        found.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)).then(a.0.cmp(&b.0)));
        found.truncate(k);
        found
    }

    /// Every desk inside `bbox` that passes `keep`; `lon_lat(ord)` gives a desk's exact
    /// (longitude, latitude) in degrees for the final inside test.
    pub fn within<'a>(
        &'a self,
        bbox: LonLatBox,
        mut keep: impl FnMut(&Entry) -> bool + 'a,
        lon_lat: impl Fn(u32) -> (f64, f64) + 'a,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.tree.locate_in_envelope(bbox.sphere_envelope()).filter(move |e| {
            let (lon, lat) = lon_lat(e.ord);
            bbox.contains(lon, lat) && keep(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// A tree written and read back is the tree bulk-loaded from the same elements, node for
    /// node; a file whose elements are not desks.bin's, or that is cut short, is refused.
    #[test]
    fn a_stored_tree_reads_back_as_built_and_a_wrong_one_is_refused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let entries: Vec<Entry> = (0..3_000u32)
            .map(|ord| {
                let audience = if ord % 7 == 0 { Audience::Unions } else { Audience::Public };
                SpatialIndex::entry(ord, rng.random_range(-90.0..90.0), rng.random_range(-180.0..180.0), rng.random(), rng.random(), audience)
            })
            .collect();
        let built = SpatialIndex::from_entries(entries.clone(), vec!["it".into()]);
        let mut file = Vec::new();
        built.write(&mut file).unwrap();
        let read = SpatialIndex::read(&file, &entries, vec!["it".into()]).unwrap();
        let mut again = Vec::new();
        read.write(&mut again).unwrap();
        assert!(again == file, "the same nodes, envelopes and masks");
        assert_eq!(read.tree.iter().map(|e| e.ord).collect::<Vec<_>>(), built.tree.iter().map(|e| e.ord).collect::<Vec<_>>());
        assert_eq!(read.lang_bits, built.lang_bits);

        let mut other = entries.clone();
        other[1234].domains ^= 1;
        assert!(SpatialIndex::read(&file, &other, Vec::new()).err().unwrap().contains("desk 1234"));
        assert!(SpatialIndex::read(&file, &entries[..2_999], Vec::new()).is_err(), "one desk too many");
        for cut in [0, 1, file.len() / 2, file.len() - 1] {
            assert!(SpatialIndex::read(&file[..cut], &entries, Vec::new()).is_err(), "cut at {cut}");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(SpatialIndex::read(&longer, &entries, Vec::new()).is_err(), "trailing bytes");
    }

    /// The 3-D envelope of a lon/lat box holds the sphere image of every point inside the box,
    /// including boxes over the antimeridian and the poles.
    #[test]
    fn sphere_envelope_contains_every_point_of_its_box() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..2_000 {
            let lat0 = rng.random_range(-90.0..90.0);
            let lat1 = rng.random_range(lat0..=90.0);
            let min_lon = rng.random_range(-180.0..180.0);
            let max_lon = rng.random_range(-180.0..180.0);
            let b = LonLatBox { min_lon, min_lat: lat0, max_lon, max_lat: lat1 };
            let env = b.sphere_envelope();
            for _ in 0..50 {
                let lat = rng.random_range(lat0..=lat1);
                let lon = min_lon + rng.random_range(0.0..=1.0) * b.lon_span();
                let lon = if lon > 180.0 { lon - 360.0 } else { lon };
                assert!(b.contains(lon, lat));
                let p = unit_xyz(lat, lon);
                let probe = Probe { xyz: [p[0] as f32, p[1] as f32, p[2] as f32], accepts: Masks::ANY };
                assert!(env.contains_point(&probe), "{b:?} misses ({lon}, {lat})");
            }
        }
    }

    #[test]
    fn chord_grows_with_distance_and_caps_at_the_antipode() {
        assert!((chord_for_m(0.0)).abs() < 1e-12);
        assert!(chord_for_m(1_000.0) < chord_for_m(2_000.0));
        assert!((chord_for_m(1e9) - 2.0).abs() < 1e-12);
    }
}
