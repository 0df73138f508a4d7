//! Text search ranked by the need: the desks offering the service domains the text was understood
//! as come first (nearest first with a position), then the desks that only share words with it.
//! Each tier is found by the cheapest index that ranks it exactly — the R-tree for distance, the
//! desks' filter bits for a fixed order, tantivy for words — so a broad phrase at a million desks
//! never scores every desk whose description names the need. Must not know about HTTP.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Filters, Hit, QueryError, SearchRequest, compile, open};
use crate::index::Snapshot;
use crate::index::facets::{self, CountKey, NeedMatch};
use crate::index::spatial::{AudienceFilter, Filter};
use crate::index::text::{Adjust, BitCounts, DeskBits, Facets, Needs, TextFilter, Understanding};
use crate::model::{Audience, Domain};

/// The answer to a text search.
#[derive(Debug, Clone)]
pub struct SearchAnswer {
    pub hits: Vec<Hit>,
    /// How many desks matched in all (before `limit`), over [`SearchAnswer::scope`].
    pub total: usize,
    pub facets: Facets,
    /// What `total` and `facets` count.
    pub scope: FacetScope,
    /// The service domains the text was understood to ask for, strongest first: the needs whose
    /// desks rank first.
    pub understood: Vec<Domain>,
    /// The town `place=` was understood as.
    pub place: Option<crate::locate::Candidate>,
}

/// What a search's `total` and `facets` count. Both are exact either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacetScope {
    /// Every desk the text matches.
    AllMatches,
    /// The desks offering an understood need (there were at least `limit` of them, so the desks
    /// that only share words with the text were neither ranked nor counted).
    UnderstoodNeeds,
}

impl FacetScope {
    pub fn as_str(self) -> &'static str {
        match self {
            FacetScope::AllMatches => "all_matches",
            FacetScope::UnderstoodNeeds => "understood_needs",
        }
    }
}

/// How far a desk can be before distance halves its text score, in kilometres.
pub const DISTANCE_HALF_KM: f64 = 10.0;
/// An understood need ranks its desks first when its weight is at least this share of the
/// strongest need's: "family reunification" asks for one need, not for every domain one of its
/// words also appears in.
pub const NEED_SHARE: f32 = 0.75;
/// Levels of the needs' share a desk offers (see [`crate::index::text::rank`]).
const LEVELS: u8 = 16;

/// The needs that rank first: the understood domains within [`NEED_SHARE`] of the strongest,
/// with their weights.
pub fn needs(expansions: &[(Domain, f32)]) -> Needs {
    let best = expansions.first().map_or(0.0, |e| e.1);
    Needs(expansions.iter().filter(|e| e.1 >= best * NEED_SHARE).map(|&(d, w)| (1u32 << d.index(), w)).collect())
}

/// A desk's level: the needs' share it offers in sixteenths (0: none).
fn level(needs: &Needs, domains: u32) -> u8 {
    (needs.share_offered(domains).clamp(0.0, 1.0) * LEVELS as f32).round() as u8
}

/// Text search over names, organisations, cities and descriptions, and over the taxonomy's
/// synonyms in every language.
///
/// Desks offering the understood needs come first, those offering more of the needs' weight
/// first (in sixteenths, see [`crate::index::text::rank`]); within a level, with a position the
/// nearer desk first; without one, desks whose name, organisation or city holds a word of the
/// query that the needs do not explain, by text score, then the rest in a fixed order spread over
/// the map. When fewer than `limit` desks offer the needs, the other matches follow by text score
/// × 1 / (1 + km / [`DISTANCE_HALF_KM`]) with a position.
pub fn search(s: &Snapshot, r: &SearchRequest, now: DateTime<Utc>) -> Result<SearchAnswer, QueryError> {
    let u = r.q.as_deref().map(|q| s.text.understand(q)).unwrap_or_default();
    let needs = needs(&u.domains);
    let understood = understood_domains(&needs);
    if needs.0.is_empty() || r.filters.open_now {
        // Nothing understood (a name, a city), or a check only the record can answer: one pass
        // of the text index ranks and counts every match.
        let (hits, counts) = by_text(s, r, &u, &needs, &[], now)?;
        return Ok(answer(s, r, hits, &counts, FacetScope::AllMatches, understood));
    }
    let filter = compile(s, &r.filters);
    let matched = need_counts(s, &filter, &needs);
    let counts = &matched.counts;
    let mut hits = match r.at {
        Some(_) => nearest_offering(s, r, &filter, &needs),
        None => offering_without_position(s, r, &u, &filter, &needs, best_level(&matched, &needs))?,
    };
    if counts.matches >= r.limit {
        return Ok(answer(s, r, hits, counts, FacetScope::UnderstoodNeeds, understood));
    }
    // Too few desks offer the needs: the desks that only share words with the text follow.
    let (more, more_counts) = by_text(s, r, &u, &needs, &understood, now)?;
    hits.extend(more.into_iter().take(r.limit.saturating_sub(hits.len())));
    let mut all = counts.clone();
    all.merge(&more_counts);
    Ok(answer(s, r, hits, &all, FacetScope::AllMatches, understood))
}

/// The needs' domains, strongest first.
fn understood_domains(needs: &Needs) -> Vec<Domain> {
    needs.0.iter().map(|&(bit, _)| Domain::ALL[bit.trailing_zeros() as usize]).collect()
}

fn answer(
    s: &Snapshot,
    r: &SearchRequest,
    hits: Vec<u32>,
    counts: &BitCounts,
    scope: FacetScope,
    understood: Vec<Domain>,
) -> SearchAnswer {
    let hits = hits.into_iter().map(|ord| Hit { ord, distance_m: r.at.map(|at| s.desks.distance_m(&at, ord)) }).collect();
    SearchAnswer { hits, total: counts.matches, facets: super::facets(s, counts), scope, understood, place: r.place.clone() }
}

/// The text index's ranking and counts over every match, leaving out desks offering `exclude`.
fn by_text(
    s: &Snapshot,
    r: &SearchRequest,
    u: &Understanding,
    needs: &Needs,
    exclude: &[Domain],
    now: DateTime<Utc>,
) -> Result<(Vec<u32>, BitCounts), QueryError> {
    let filter = TextFilter {
        langs: r.filters.langs.clone(),
        domains: r.filters.domains.clone(),
        audience: audience(&r.filters),
        exclude: exclude.to_vec(),
    };
    let keep = r.filters.open_now.then(|| {
        let desks = s.desks.clone();
        Arc::new(move |ord: u32| desks.desk(ord).is_some_and(|p| open::is_open(&p, now))) as Arc<dyn Fn(u32) -> bool + Send + Sync>
    });
    let weight = r.at.map(|at| {
        let desks = s.desks.clone();
        Arc::new(move |ord: u32| {
            let km = desks.distance_m(&at, ord) / 1000.0;
            (1.0 / (1.0 + km / DISTANCE_HALF_KM)) as f32
        }) as Arc<dyn Fn(u32) -> f32 + Send + Sync>
    });
    let adjust = Adjust { keep, weight, needs: needs.clone(), bits: s.bits.clone() };
    let result = s.text.search(r.q.as_deref(), &u.domains, &filter, &adjust, r.limit)?;
    Ok((result.hits.iter().map(|h| h.ord).collect(), result.counts))
}

fn audience(f: &Filters) -> Option<Audience> {
    match f.audience {
        AudienceFilter::Only(a) => Some(a),
        AudienceFilter::All => None,
    }
}

/// Whether a desk with bits `b` passes `filter` and offers one of the needs (`mask`).
fn passes(s: &Snapshot, filter: &Filter, mask: u32, ord: u32, b: &DeskBits) -> bool {
    b.domains & mask != 0
        && filter.matches_bits(b.langs, b.domains, b.audience, || {
            s.desks.desk(ord).is_some_and(|p| filter.rare_langs().iter().any(|l| p.speaks(l)))
        })
}

/// Exact counts over the desks that pass the filters and offer one of the needs, with the
/// subsets of the needs they offer: kept with the bundle per combination of needs and filters
/// (bitmasks), counted by one pass over the desks' filter bits the first time.
fn need_counts(s: &Snapshot, filter: &Filter, needs: &Needs) -> Arc<NeedMatch> {
    let mask = needs.0.iter().fold(0, |m, n| m | n.0);
    let accept = |ord: u32, b: &DeskBits| passes(s, filter, mask, ord, b);
    if !filter.rare_langs().is_empty() {
        // Languages without a bit are checked on the records: not a key of bits.
        return Arc::new(facets::scan(&s.bits, mask, accept));
    }
    let m = filter.masks();
    let key = CountKey { needs: mask, langs: m.langs, domains: m.domains, audience: m.audience };
    s.need_counts.get(key, &s.bits, accept)
}

/// With a position: the `limit` desks offering the needs, by level, then nearest first, from one
/// branch-and-bound walk of the R-tree that skips subtrees whose desks cannot reach a level.
fn nearest_offering(s: &Snapshot, r: &SearchRequest, filter: &Filter, needs: &Needs) -> Vec<u32> {
    let Some(at) = r.at else { return Vec::new() };
    let mask = needs.0.iter().fold(0, |m, n| m | n.0);
    let mut accepts = filter.masks();
    if r.filters.domains.is_empty() {
        accepts.domains = mask;
    }
    let keep = |e: &crate::index::spatial::Entry| {
        e.domains & mask != 0
            && filter.matches(e, || {
                s.desks.desk(e.ord).is_some_and(|p| filter.rare_langs().iter().any(|l| p.speaks(l)))
            })
    };
    s.spatial
        .nearest_tiered(at.lat.degrees(), at.lon.degrees(), r.limit, None, accepts, |d| LEVELS - level(needs, d), keep, |ord| {
            s.desks.distance_m(&at, ord)
        })
        .into_iter()
        .map(|(ord, _, _)| ord)
        .collect()
}

/// Without a position: the `limit` desks offering the needs, by level; within a level, desks
/// whose name, organisation or city holds a word the needs do not explain (by text score), then
/// the others in [`spread_order`].
fn offering_without_position(
    s: &Snapshot,
    r: &SearchRequest,
    u: &Understanding,
    filter: &Filter,
    needs: &Needs,
    best_level: u8,
) -> Result<Vec<u32>, QueryError> {
    let mask = needs.0.iter().fold(0, |m, n| m | n.0);
    let words = r.q.as_deref().map(|q| s.text.residual_words(q, u)).unwrap_or_default();
    let by_words = if words.is_empty() {
        Vec::new()
    } else {
        let tf = TextFilter {
            langs: r.filters.langs.clone(),
            domains: r.filters.domains.clone(),
            audience: audience(&r.filters),
            exclude: Vec::new(),
        };
        s.text.top_by_words(&words, &tf, needs, &s.bits, r.limit)?
    };
    // Per level, the first `limit` desks in spread order.
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); LEVELS as usize + 1];
    for ord in spread_order(s.bits.len()) {
        let b = &s.bits[ord as usize];
        if !passes(s, filter, mask, ord, b) {
            continue;
        }
        let l = level(needs, b.domains) as usize;
        if buckets[l].len() < r.limit {
            buckets[l].push(ord);
            if l == best_level as usize && buckets[l].len() == r.limit {
                break;
            }
        }
    }
    // Merge: level first; within a level, word matches (by score) before the spread order.
    let mut ranked: Vec<(u8, f32, usize, u32)> = Vec::new();
    for h in &by_words {
        let l = level(needs, s.bits[h.ord as usize].domains);
        ranked.push((l, h.score, 0, h.ord));
    }
    for (l, bucket) in buckets.iter().enumerate() {
        for (i, &ord) in bucket.iter().enumerate() {
            if !by_words.iter().any(|h| h.ord == ord) {
                ranked.push((l as u8, 0.0, i + 1, ord));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
    Ok(ranked.into_iter().take(r.limit).map(|x| x.3).collect())
}

/// The highest level a desk passing the filters reaches for `needs`, from the subsets of the
/// needs such desks offer: the walk in spread order stops once it has `limit` desks there.
fn best_level(m: &NeedMatch, needs: &Needs) -> u8 {
    m.subsets.iter().map(|&d| level(needs, d)).max().unwrap_or(0)
}

/// Every ordinal below `n` once, in a fixed order that hops across the bundle (ordinals follow
/// the map, so consecutive ones are neighbours): a full-period linear congruential sequence over
/// the next power of two, skipping values of `n` or more.
pub fn spread_order(n: usize) -> impl Iterator<Item = u32> {
    let m = (n.max(2)).next_power_of_two() as u64;
    // a ≡ 1 (mod 4) and c odd give a full period modulo a power of two (Hull–Dobell).
    const A: u64 = 6_364_136_223_846_793_005;
    const C: u64 = 1_442_695_040_888_963_407;
    let mut x = 0u64;
    (0..m).filter_map(move |_| {
        let v = x;
        x = (A.wrapping_mul(x).wrapping_add(C)) & (m - 1);
        (v < n as u64).then_some(v as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_order_visits_every_ordinal_once() {
        for n in [0usize, 1, 2, 3, 7, 8, 9, 1000, 4097] {
            let mut v: Vec<u32> = spread_order(n).collect();
            assert_eq!(v.len(), n, "n = {n}");
            v.sort_unstable();
            v.dedup();
            assert_eq!(v.len(), n, "n = {n}: repeats");
        }
        // Neighbours in the order are not neighbours on the map.
        let v: Vec<u32> = spread_order(100_000).take(10).collect();
        assert!(v.windows(2).all(|w| w[0].abs_diff(w[1]) > 100), "{v:?}");
    }
}
