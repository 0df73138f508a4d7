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
            let p = s.desks.desk(h.ord);
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
