//! Text search per language: the taxonomy's labels and synonyms in each of its 30 languages lead
//! to their service domain; stemming, filters-before-limit, facets and distance blending.

use std::collections::BTreeMap;

use sportello::index::spatial::AudienceFilter;
use sportello::model::{Domain, Taxonomy};
use sportello::query::{self, Filters, SearchRequest};

use crate::support::{embedded, synthetic};

fn search(q: Option<&str>, at: Option<(f64, f64)>, limit: usize, filters: Filters) -> query::SearchAnswer {
    let s = embedded();
    let req = SearchRequest {
        q: q.map(str::to_string),
        at: at.map(|(lat, lon)| sportello::model::GeoPoint::new(lat, lon).unwrap()),
        place: None,
        limit,
        filters,
    };
    query::search(&s, &req, chrono::Utc::now()).unwrap()
}

/// Every label, in every language, is understood as its own domain first.
#[test]
fn every_label_in_every_language_finds_its_domain() {
    let t = Taxonomy::embedded();
    let s = embedded();
    assert!(t.languages.len() >= 30, "taxonomy has {} languages", t.languages.len());
    let mut failures = Vec::new();
    for e in &t.domains {
        for lang in &t.languages {
            let label = &e.labels[&lang.code];
            let got = s.text.expand_domains(label);
            let best = got.first().map(|b| b.1).unwrap_or(0.0);
            let top: Vec<Domain> = got.iter().filter(|g| g.1 == best).map(|g| g.0).collect();
            if !top.contains(&e.code) {
                failures.push(format!("{}: {label:?} ({}) → {top:?}", lang.code, e.code));
            }
        }
    }
    assert!(failures.is_empty(), "{} labels misread:\n{}", failures.len(), failures.join("\n"));
}

/// Every synonym, in every language, is understood to ask for (at least) its domain.
#[test]
fn every_synonym_in_every_language_finds_its_domain() {
    let t = Taxonomy::embedded();
    let s = embedded();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in &t.domains {
        for (lang, list) in &e.synonyms {
            for syn in list {
                checked += 1;
                if !s.text.expand_domains(syn).iter().any(|g| g.0 == e.code) {
                    failures.push(format!("{lang}: {syn:?} does not lead to {}", e.code));
                }
            }
        }
    }
    assert!(checked > 19 * 30 * 3, "only {checked} synonyms");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The examples: family reunification asked for in Italian, French, Arabic and Ukrainian.
#[test]
fn family_reunification_in_four_languages_finds_family_reunification_desks() {
    for q in ["ricongiungimento familiare", "regroupement familial", "لم شمل الأسرة", "возз'єднання сім'ї", "family reunification"] {
        let a = search(Some(q), Some((45.4642, 9.19)), 5, Filters::default());
        assert_eq!(a.understood.first(), Some(&Domain::FamilyReunification), "{q}: understood {:?}", a.understood);
        assert!(!a.hits.is_empty(), "{q}: no hits");
        let s = embedded();
        for h in &a.hits {
            let p = s.desks.desk(h.ord).unwrap();
            assert!(p.domains.contains(&Domain::FamilyReunification), "{q}: {} lacks the domain", p.id);
            assert!(h.distance_m.is_some(), "{q}: a position was given, so every hit has a distance");
        }
    }
}

#[test]
fn stemming_matches_inflected_forms() {
    // Italian plural and French plural forms of words in the taxonomy.
    for q in ["permessi di soggiorno", "permis de séjour", "Aufenthaltserlaubnisse"] {
        let a = search(Some(q), None, 5, Filters::default());
        assert!(a.understood.contains(&Domain::ResidencePermits), "{q}: {:?}", a.understood);
    }
}

#[test]
fn filters_apply_before_the_limit_and_facets_count_every_match() {
    let s = embedded();
    let desks = crate::support::all_desks(&s);
    let f = Filters { langs: vec!["ti".into()], audience: AudienceFilter::All, ..Filters::default() };
    let a = search(Some("lavoro"), None, 1, f.clone());
    let speakers = desks.iter().filter(|p| p.speaks("ti")).count();
    assert!(speakers > 0);
    for h in &a.hits {
        assert!(desks[h.ord as usize].speaks("ti"));
    }
    // With no text, the filter alone decides, and the facets count all matches.
    let all = search(None, None, 100, f);
    assert_eq!(all.total, speakers);
    assert_eq!(all.facets.languages.get("ti").copied(), Some(speakers as u64));
    let mut by_domain: BTreeMap<String, u64> = BTreeMap::new();
    for p in desks.iter().filter(|p| p.speaks("ti")) {
        for d in &p.domains {
            *by_domain.entry(d.code().to_string()).or_default() += 1;
        }
    }
    assert_eq!(all.facets.domains, by_domain);
}

#[test]
fn with_equal_text_scores_the_nearest_desk_ranks_first() {
    let s = synthetic();
    // Without text every match scores the same, so distance alone ranks.
    let req = SearchRequest {
        q: None,
        at: Some(sportello::model::GeoPoint::new(45.4642, 9.19).unwrap()),
        place: None,
        limit: 10,
        filters: Filters::default(),
    };
    let a = query::search(&s, &req, chrono::Utc::now()).unwrap();
    assert!(a.hits.len() >= 5);
    let d: Vec<f64> = a.hits.iter().map(|h| h.distance_m.unwrap()).collect();
    let mut sorted = d.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(d, sorted, "equal text scores rank by distance");
}

#[test]
fn query_syntax_characters_are_just_text() {
    for q in ["\"unbalanced", "AND OR NOT", "field:value", "(((", "*", "?", "+-&&||!{}[]^~", "   "] {
        let _ = search(Some(q), None, 5, Filters::default());
    }
}

/// The desks a brute-force pass ranks first for `q`: every desk that passes `filters` and offers
/// an understood need, by the needs' share offered (in sixteenths), then nearest first, then by
/// ordinal; and how many there are.
fn brute_force(
    s: &sportello::index::Snapshot,
    desks: &[sportello::model::ContactPoint],
    q: &str,
    at: sportello::model::GeoPoint,
    filters: &Filters,
) -> (Vec<u32>, usize) {
    let needs = query::search::needs(&s.text.expand_domains(q));
    let mut ranked: Vec<(u8, f64, u32)> = Vec::new();
    for (ord, d) in desks.iter().enumerate() {
        let bits: u32 = d.domains.iter().fold(0, |m, x| m | (1 << x.index()));
        let passes = match filters.audience {
            AudienceFilter::All => true,
            AudienceFilter::Only(a) => d.audience == a,
        } && (filters.langs.is_empty() || filters.langs.iter().any(|l| d.speaks(l)))
            && (filters.domains.is_empty() || filters.domains.iter().any(|x| d.domains.contains(x)));
        if !passes || bits & needs.0.iter().fold(0, |m, n| m | n.0) == 0 {
            continue;
        }
        let level = (needs.share_offered(bits) * 16.0).round() as u8;
        ranked.push((level, s.desks.distance_m(&at, ord as u32), ord as u32));
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    let n = ranked.len();
    (ranked.into_iter().map(|r| r.2).collect(), n)
}

/// With a position, the R-tree walk that ranks the desks offering the needs agrees with a
/// brute-force ranking of every desk, under every kind of filter; the total counts exactly them.
#[test]
fn desks_offering_the_need_rank_nearest_first_as_a_brute_force_pass_does() {
    let s = synthetic();
    let at = |lat, lon| sportello::model::GeoPoint::new(lat, lon).unwrap();
    let filters = [
        Filters::default(),
        Filters { audience: AudienceFilter::All, ..Filters::default() },
        Filters { langs: vec!["ar".into(), "uk".into()], ..Filters::default() },
        Filters { domains: vec![Domain::Housing, Domain::Health], ..Filters::default() },
    ];
    let queries = ["family reunification", "permesso di soggiorno e lavoro", "корсы языка", "housing and health care", "asilo"];
    let places = [at(45.4642, 9.19), at(52.52, 13.405), at(64.1, -21.9), at(37.98, 23.73)];
    let desks = crate::support::all_desks(&s);
    let mut compared = 0;
    for q in queries {
        for f in &filters {
            for &p in &places {
                let req = SearchRequest { q: Some(q.into()), at: Some(p), place: None, limit: 10, filters: f.clone() };
                let a = query::search(&s, &req, chrono::Utc::now()).unwrap();
                if a.understood.is_empty() {
                    continue;
                }
                let (want, n) = brute_force(&s, &desks, q, p, f);
                if n < 10 {
                    continue;
                }
                let got: Vec<u32> = a.hits.iter().map(|h| h.ord).collect();
                assert_eq!(got, want[..10], "{q:?} at {p:?} with {f:?}");
                assert_eq!(a.total, n, "{q:?} with {f:?}");
                assert_eq!(a.scope, query::FacetScope::UnderstoodNeeds);
                compared += 1;
            }
        }
    }
    assert!(compared >= 40, "only {compared} cases compared");
}

/// Without a position, the desks offering the needs still come first, the facets count exactly
/// them (precomputed or counted), and the answer says so.
#[test]
fn without_a_position_the_need_comes_first_and_the_facets_count_its_desks() {
    let s = synthetic();
    let desks = crate::support::all_desks(&s);
    for (q, f) in [
        ("ricongiungimento familiare", Filters::default()),
        ("aide au logement", Filters { langs: vec!["fr".into()], ..Filters::default() }),
        ("asylum", Filters { audience: AudienceFilter::All, ..Filters::default() }),
    ] {
        let req = SearchRequest { q: Some(q.into()), at: None, place: None, limit: 20, filters: f.clone() };
        let a = query::search(&s, &req, chrono::Utc::now()).unwrap();
        assert!(!a.understood.is_empty(), "{q}");
        let offers = |d: &sportello::model::ContactPoint| a.understood.iter().any(|n| d.domains.contains(n));
        assert_eq!(a.hits.len(), 20);
        assert!(a.hits.iter().all(|h| offers(&desks[h.ord as usize])), "{q}: a desk without the need");
        let at = sportello::model::GeoPoint::new(50.0, 10.0).unwrap();
        let (_, n) = brute_force(&s, &desks, q, at, &f);
        assert_eq!(a.total, n, "{q}");
        let mut langs: BTreeMap<String, u64> = BTreeMap::new();
        let mut domains: BTreeMap<String, u64> = BTreeMap::new();
        for d in desks.iter().filter(|d| {
            offers(d)
                && match f.audience {
                    AudienceFilter::All => true,
                    AudienceFilter::Only(x) => d.audience == x,
                }
                && (f.langs.is_empty() || f.langs.iter().any(|l| d.speaks(l)))
        }) {
            for l in &d.languages {
                *langs.entry(l.to_string()).or_default() += 1;
            }
            for x in &d.domains {
                *domains.entry(x.code().to_string()).or_default() += 1;
            }
        }
        assert_eq!(a.facets.languages, langs, "{q}");
        assert_eq!(a.facets.domains, domains, "{q}");
        assert_eq!(a.scope, query::FacetScope::UnderstoodNeeds);
        // Spread over the map, not the first desks of one region.
        let countries: std::collections::BTreeSet<&str> =
            a.hits.iter().map(|h| desks[h.ord as usize].address.country.as_str()).collect();
        assert!(countries.len() >= 5, "{q}: {countries:?}");
    }
}

/// When fewer desks than the limit offer the need, the desks that only share words with the
/// text follow, and the counts cover every match.
#[test]
fn when_few_desks_offer_the_need_the_word_matches_follow() {
    let s = embedded();
    let desks = crate::support::all_desks(&s);
    let req = SearchRequest { q: Some("asylum".into()), at: None, place: None, limit: 100, filters: Filters::default() };
    let a = query::search(&s, &req, chrono::Utc::now()).unwrap();
    assert_eq!(a.understood, vec![Domain::AsylumProtection]);
    let offering = desks.iter().filter(|d| d.audience == sportello::model::Audience::Public && d.domains.contains(&Domain::AsylumProtection)).count();
    assert!(offering < 100);
    assert_eq!(a.scope, query::FacetScope::AllMatches);
    assert!(a.total >= offering);
    let first: Vec<bool> = a.hits.iter().map(|h| desks[h.ord as usize].domains.contains(&Domain::AsylumProtection)).collect();
    assert!(first[..offering].iter().all(|&x| x), "the desks offering asylum help come first");
    assert!(!first[offering..].iter().any(|&x| x));
}

/// Without a position, among the desks offering the need, those whose name, organisation or city
/// holds a word the need does not explain come first.
#[test]
fn words_the_need_does_not_explain_pick_among_its_desks() {
    let s = embedded();
    let desks = crate::support::all_desks(&s);
    let offering: Vec<&sportello::model::ContactPoint> = desks
        .iter()
        .filter(|d| d.audience == sportello::model::Audience::Public && d.domains.contains(&Domain::ResidencePermits))
        .collect();
    let target = offering.iter().find(|d| d.address.city == "Pordenone").or(offering.last()).copied().unwrap();
    let q = format!("permesso di soggiorno {}", target.address.city);
    let req = SearchRequest { q: Some(q.clone()), at: None, place: None, limit: 5, filters: Filters::default() };
    let a = query::search(&s, &req, chrono::Utc::now()).unwrap();
    assert_eq!(a.understood, vec![Domain::ResidencePermits], "{q}");
    let first = &desks[a.hits[0].ord as usize];
    assert_eq!(first.address.city, target.address.city, "{q}: first is {}", first.name);
    assert!(a.hits.iter().all(|h| desks[h.ord as usize].domains.contains(&Domain::ResidencePermits)));
}
