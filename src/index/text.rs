//! The text index (tantivy): names, organisations, cities and per-language descriptions, each
//! language analysed with its own stemmer where tantivy has one and a folding tokenizer elsewhere;
//! facets keyed on language and service domain. Also the synonym matcher that maps a query in any
//! of the taxonomy's 30 languages to the service domains it asks for.
//!
//! User text is never parsed as query syntax: it is analysed and turned into term queries, so no
//! input can make a query fail. Joins to the spatial index go through the `ord` fast field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tantivy::collector::{Collector, FilterCollector, SegmentCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language as StemLang, LowerCaser, NgramTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer, Tokenizer,
};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::model::{Audience, ContactPoint, Domain, Taxonomy};

/// Languages with a tantivy stemmer, and the analyzer each gets.
const STEMMED: &[(&str, StemLang)] = &[
    ("ar", StemLang::Arabic),
    ("de", StemLang::German),
    ("el", StemLang::Greek),
    ("en", StemLang::English),
    ("es", StemLang::Spanish),
    ("fr", StemLang::French),
    ("it", StemLang::Italian),
    ("nl", StemLang::Dutch),
    ("pt", StemLang::Portuguese),
    ("ro", StemLang::Romanian),
    ("ru", StemLang::Russian),
    ("tr", StemLang::Turkish),
];

/// Analyzer names: `stem_xx`, `zh` (character uni- and bigrams), `fold` (lower case, accents folded).
const FOLD: &str = "fold";
const CJK: &str = "zh";

/// The analyzer used for text in `lang`.
pub fn analyzer_for(lang: &str) -> String {
    if STEMMED.iter().any(|(l, _)| *l == lang) {
        format!("stem_{lang}")
    } else if lang == "zh" {
        CJK.to_string()
    } else {
        FOLD.to_string()
    }
}

/// Whether `c`, after canonical decomposition, is a mark people commonly leave out when they
/// type: an accent or other combining mark that is not part of a letter (Indic vowel signs
/// are kept; nukta, virama, Latin, Greek and Cyrillic accents are not), and the Arabic
/// harakat and combining hamza.
fn omitted_mark(c: char) -> bool {
    matches!(c as u32, 0x064B..=0x065F | 0x0670) || (is_combining_mark(c) && !c.is_alphanumeric())
}

/// One spelling for letters that people write in two forms: Arabic yeh and alef maksura as
/// Persian yeh, Arabic kaf as Persian keheh, teh marbuta as heh; and the Ethiopic letters that
/// sound alike in Amharic and Tigrinya (ሐ and ኀ as ሀ, ሠ as ሰ, ዐ as አ, ፀ as ጸ, each with its
/// seven vowel orders), so ማኅበር and ማህበር are one word.
fn one_spelling(c: char) -> char {
    let u = c as u32;
    let shifted = match u {
        0x1210..=0x1217 => u - 0x10,
        0x1280..=0x1287 => u - 0x80,
        0x1220..=0x1227 => u + 0x10,
        0x12D0..=0x12D7 => u - 0x30,
        0x1340..=0x1347 => u - 0x08,
        _ => {
            return match c {
                '\u{064A}' | '\u{0649}' => '\u{06CC}',
                '\u{0643}' => '\u{06A9}',
                '\u{0629}' => '\u{0647}',
                c => c,
            };
        }
    };
    char::from_u32(shifted).unwrap_or(c)
}

/// `text` as people type it: the marks of [`omitted_mark`] taken off and the letters of
/// [`one_spelling`] unified, so "Citta", "città" and "città" (decomposed), or ਸ਼ and ਸ + ਼,
/// are the same word to every analyser.
fn unmark(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
    } else {
        out.extend(text.nfd().filter(|&c| !omitted_mark(c)).map(one_spelling).nfc());
    }
}

/// A tokenizer that reads text through [`unmark`] before `T` splits it, when `active` (the
/// synonym matcher unmarks a query once for all its analysers). Token offsets refer to the
/// unmarked text (nothing here reads them).
#[derive(Clone)]
struct Unmarked<T> {
    inner: T,
    active: bool,
    text: String,
}

impl<T: Tokenizer> Unmarked<T> {
    fn new(inner: T, active: bool) -> Self {
        Self { inner, active, text: String::new() }
    }
}

impl<T: Tokenizer> Tokenizer for Unmarked<T> {
    type TokenStream<'a> = T::TokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        if !self.active {
            return self.inner.token_stream(text);
        }
        unmark(text, &mut self.text);
        self.inner.token_stream(&self.text)
    }
}

/// Every analyser reads text through [`Unmarked`], so stemmers see words without accents, as
/// many people type them ("portugues" and "português" stem alike).
fn all_analyzers() -> Vec<(String, TextAnalyzer)> {
    analyzers(true)
}

/// The analysers of [`all_analyzers`], in the same order, for text already unmarked.
fn analyzers_plain() -> Vec<(String, TextAnalyzer)> {
    analyzers(false)
}

/// The analysers, reading text through [`Unmarked`] or (for text already unmarked) not.
fn analyzers(unmarked: bool) -> Vec<(String, TextAnalyzer)> {
    let mut v = vec![
        (
            FOLD.to_string(),
            TextAnalyzer::builder(Unmarked::new(SimpleTokenizer::default(), unmarked))
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .build(),
        ),
        (
            CJK.to_string(),
            TextAnalyzer::builder(Unmarked::new(NgramTokenizer::new(1, 2, false).expect("valid n-gram sizes"), unmarked))
                .filter(LowerCaser)
                .build(),
        ),
    ];
    for (lang, stem) in STEMMED {
        v.push((
            format!("stem_{lang}"),
            TextAnalyzer::builder(Unmarked::new(SimpleTokenizer::default(), unmarked))
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .filter(Stemmer::new(*stem))
                .filter(AsciiFoldingFilter)
                .build(),
        ));
    }
    v
}

/// The length in characters of each word of `text` (by token position) under the unstemmed
/// analyser `a`.
fn word_lengths(a: &mut TextAnalyzer, text: &str) -> HashMap<usize, usize> {
    let mut out = HashMap::new();
    let mut stream = a.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        out.insert(t.position, t.text.chars().count());
    }
    out
}

/// The tokens of `text` under analyzer `a`, deduplicated, in order of first appearance.
fn tokens(a: &mut TextAnalyzer, text: &str) -> Vec<String> {
    positioned_tokens(a, text).into_iter().map(|(t, _)| t).collect()
}

/// The tokens of `text` under analyzer `a` with the position of their first appearance,
/// deduplicated.
fn positioned_tokens(a: &mut TextAnalyzer, text: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut stream = a.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        if !out.iter().any(|(o, _)| *o == t.text) {
            out.push((t.text.clone(), t.position));
        }
    }
    out
}

struct Fields {
    ord: Field,
    lang: Field,
    domain: Field,
    audience: Field,
    /// (field, analyzer name, boost) of every text field.
    text: Vec<(Field, String, f32)>,
    /// Description field of each analyzer.
    desc: HashMap<String, Field>,
    name: Field,
    organization: Field,
    city: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let opts = |analyzer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    let ord = b.add_u64_field("ord", FAST);
    let lang = b.add_facet_field("lang", FacetOptions::default());
    let domain = b.add_facet_field("domain", FacetOptions::default());
    let audience = b.add_text_field("audience", STRING);
    let name = b.add_text_field("name", opts(FOLD));
    let organization = b.add_text_field("organization", opts(FOLD));
    let city = b.add_text_field("city", opts(FOLD));
    let mut text = vec![(name, FOLD.to_string(), 3.0), (organization, FOLD.to_string(), 1.5), (city, FOLD.to_string(), 1.5)];
    let mut desc = HashMap::new();
    let mut analyzers: Vec<String> = vec![FOLD.into(), CJK.into()];
    analyzers.extend(STEMMED.iter().map(|(l, _)| format!("stem_{l}")));
    for a in analyzers {
        let f = b.add_text_field(&format!("desc_{a}"), opts(&a));
        text.push((f, a.clone(), 1.0));
        desc.insert(a, f);
    }
    (b.build(), Fields { ord, lang, domain, audience, text, desc, name, organization, city })
}

fn register(index: &Index) {
    for (name, a) in all_analyzers() {
        index.tokenizers().register(&name, a);
    }
}

fn lang_facet(code: &str) -> Facet {
    Facet::from_path([code])
}

/// Filters a text search must respect; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct TextFilter {
    pub langs: Vec<String>,
    pub domains: Vec<Domain>,
    pub audience: Option<Audience>,
    /// Desks offering any of these never match (the ones a search has already ranked).
    pub exclude: Vec<Domain>,
}

/// What the synonym matcher read in a query: the service domains it asks for with a weight in
/// (0, 1], strongest first, and the positions of the query's words that said so.
#[derive(Debug, Clone, Default)]
pub struct Understanding {
    pub domains: Vec<(Domain, f32)>,
    /// Word positions (as the tokenizer counts them) explained by a domain; positions of the
    /// CJK analyser's n-grams are offset by [`CJK_POSITIONS`].
    explained: HashSet<usize>,
}

/// Offset of the CJK analyser's token positions in [`Understanding`].
const CJK_POSITIONS: usize = 1 << 20;

/// One hit: the desk's ordinal and its final score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextHit {
    pub ord: u32,
    pub score: f32,
}

/// Counts per language code and per domain code over every match (not just the returned page).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Facets {
    pub languages: BTreeMap<String, u64>,
    pub domains: BTreeMap<String, u64>,
}

/// A desk's filter bits (the spatial index's language and domain masks), by ordinal: what facet
/// counts are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeskBits {
    pub langs: u64,
    pub domains: u32,
    /// 1: public, 2: unions (see [`crate::index::facets`]).
    pub audience: u8,
}

/// Facet counts by bit: `langs[b]` desks have language bit `b` (bit 63: a language without a bit
/// of its own; those desks' ordinals are in `rare`), `domains[b]` have domain `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct BitCounts {
    pub matches: usize,
    pub langs: [u64; 64],
    pub domains: [u64; 32],
    pub rare: Vec<u32>,
}

impl Default for BitCounts {
    fn default() -> Self {
        BitCounts { matches: 0, langs: [0; 64], domains: [0; 32], rare: Vec::new() }
    }
}

impl BitCounts {
    /// Adds the counts of a disjoint set of matches.
    pub fn merge(&mut self, o: &BitCounts) {
        self.matches += o.matches;
        for (a, b) in self.langs.iter_mut().zip(o.langs) {
            *a += b;
        }
        for (a, b) in self.domains.iter_mut().zip(o.domains) {
            *a += b;
        }
        self.rare.extend_from_slice(&o.rare);
    }

    /// Counts desk `ord` with bits `b`.
    #[inline]
    pub fn add(&mut self, ord: u32, b: &DeskBits) {
        self.matches += 1;
        let mut l = b.langs;
        while l != 0 {
            self.langs[l.trailing_zeros() as usize] += 1;
            l &= l - 1;
        }
        let mut d = b.domains;
        while d != 0 {
            self.domains[d.trailing_zeros() as usize] += 1;
            d &= d - 1;
        }
        if b.langs & (1 << 63) != 0 {
            self.rare.push(ord);
        }
    }
}

/// Counts matches and their facets from the desks' filter bits: a few bit operations per match,
/// where tantivy's facet collectors read multi-valued columns.
struct BitFacets {
    bits: Arc<Vec<DeskBits>>,
}

struct BitFacetsSegment {
    ords: Arc<dyn tantivy::columnar::ColumnValues<u64>>,
    bits: Arc<Vec<DeskBits>>,
    counts: BitCounts,
}

impl Collector for BitFacets {
    type Fruit = BitCounts;
    type Child = BitFacetsSegment;

    fn for_segment(&self, _: u32, seg: &tantivy::SegmentReader) -> tantivy::Result<BitFacetsSegment> {
        let ords = seg.fast_fields().u64("ord")?.first_or_default_col(0);
        Ok(BitFacetsSegment { ords, bits: self.bits.clone(), counts: BitCounts::default() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, parts: Vec<BitCounts>) -> tantivy::Result<BitCounts> {
        let mut all = BitCounts::default();
        for p in parts {
            all.matches += p.matches;
            for (a, b) in all.langs.iter_mut().zip(p.langs) {
                *a += b;
            }
            for (a, b) in all.domains.iter_mut().zip(p.domains) {
                *a += b;
            }
            all.rare.extend(p.rare);
        }
        Ok(all)
    }
}

impl SegmentCollector for BitFacetsSegment {
    type Fruit = BitCounts;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        let ord = self.ords.get_val(doc) as u32;
        let b = self.bits.get(ord as usize).copied().unwrap_or_default();
        self.counts.add(ord, &b);
    }

    fn harvest(self) -> BitCounts {
        self.counts
    }
}

/// A text search's answer: the best hits, and counts over every match.
#[derive(Debug, Clone, Default)]
pub struct TextResult {
    pub hits: Vec<TextHit>,
    pub counts: BitCounts,
}

/// The needs a query was understood as, with their weights, as domain bits.
#[derive(Debug, Clone, Default)]
pub struct Needs(pub Vec<(u32, f32)>);

impl Needs {
    /// The share (0 to 1) of the needs' weight that a desk with domain bits `domains` offers.
    pub fn share_offered(&self, domains: u32) -> f32 {
        let total: f32 = self.0.iter().map(|n| n.1).sum();
        if total <= 0.0 {
            return 0.0;
        }
        self.0.iter().filter(|n| domains & n.0 != 0).map(|n| n.1).sum::<f32>() / total
    }
}

/// The final score of a match, highest first. Desks that offer an understood need rank above
/// every other match, those offering more of the needs' weight (`offered`, 0 to 1, in sixteenths)
/// first; within a level, with a position nearer first (`closeness` in (0, 1], 1 at the query
/// point), else by text score. The other matches follow by text score times closeness. Text
/// scores are squashed into [0, 1) with s / (1 + s), so the levels never mix.
pub fn rank(text: f32, offered: f32, closeness: Option<f32>) -> f32 {
    let text = text.max(0.0) / (1.0 + text.max(0.0));
    let level = (offered.clamp(0.0, 1.0) * 16.0).round();
    if level == 0.0 {
        return text * closeness.unwrap_or(1.0);
    }
    2.0 * level + closeness.unwrap_or(text)
}

/// Per-desk adjustments a search applies before picking the top hits: `keep(ord)` filters (for
/// checks the index cannot do, such as opening hours), `weight(ord)` is the desk's closeness to
/// the query's position in (0, 1], `needs` the domain bits of the understood needs (see [`rank`]).
pub struct Adjust {
    pub keep: Option<Arc<dyn Fn(u32) -> bool + Send + Sync>>,
    pub weight: Option<Arc<dyn Fn(u32) -> f32 + Send + Sync>>,
    /// The needs the text was understood as (see [`rank`]).
    pub needs: Needs,
    /// Every desk's filter bits, by ordinal, for the facet counts.
    pub bits: Arc<Vec<DeskBits>>,
}

/// An open text index: one reader for the program's life, a fresh searcher per query.
pub struct TextIndex {
    reader: IndexReader,
    fields: Fields,
    synonyms: SynonymMatcher,
}

/// Writes a text index one desk at a time, in ordinal order: tantivy writes a segment whenever
/// its memory budget fills, so a build of any size holds one budget, not every document.
pub struct TextBuilder {
    index: Index,
    writer: IndexWriter,
    fields: Fields,
}

impl TextBuilder {
    /// A new index in `dir` (on disk) or in memory (`None`).
    pub fn create(dir: Option<&Path>) -> tantivy::Result<TextBuilder> {
        let (schema, fields) = schema();
        let index = match dir {
            Some(d) => Index::create_in_dir(d, schema)?,
            None => Index::create_in_ram(schema),
        };
        register(&index);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        let writer: IndexWriter = index.writer_with_num_threads(threads, 64_000_000 * threads)?;
        Ok(TextBuilder { index, writer, fields })
    }

    /// Indexes desk `ord`.
    pub fn add(&mut self, ord: usize, p: &ContactPoint) -> tantivy::Result<()> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.ord, ord as u64);
        for l in &p.languages {
            doc.add_facet(f.lang, lang_facet(l.as_str()));
        }
        for d in &p.domains {
            doc.add_facet(f.domain, lang_facet(d.code()));
        }
        doc.add_text(f.audience, p.audience.as_str());
        doc.add_text(f.name, &p.name);
        doc.add_text(f.organization, &p.organization);
        doc.add_text(f.city, &p.address.city);
        for (lang, text) in &p.description {
            doc.add_text(f.desc[&analyzer_for(lang)], text);
        }
        self.writer.add_document(doc)?;
        Ok(())
    }

    /// Commits, waits for the merges, and opens the index.
    pub fn finish(mut self, taxonomy: &Taxonomy) -> tantivy::Result<TextIndex> {
        self.writer.commit()?;
        self.writer.wait_merging_threads()?;
        TextIndex::open_index(self.index, self.fields, taxonomy)
    }
}

impl TextIndex {
    /// Indexes `points` into a new index in `dir` (on disk) or in memory (`None`).
    pub fn build(
        points: &[ContactPoint],
        dir: Option<&Path>,
        taxonomy: &Taxonomy,
        on_doc: &mut dyn FnMut(u64),
    ) -> tantivy::Result<TextIndex> {
        let mut b = TextBuilder::create(dir)?;
        for (ord, p) in points.iter().enumerate() {
            b.add(ord, p)?;
            on_doc(1);
        }
        b.finish(taxonomy)
    }

    /// Opens an index written by [`TextIndex::build`] in `dir`, read-only (`dir` may be on a
    /// read-only volume).
    pub fn open(dir: &Path, taxonomy: &Taxonomy) -> tantivy::Result<TextIndex> {
        let index = Index::open(super::read_only::ReadOnlyDirectory::open(dir)?)?;
        let (_, f) = schema();
        Self::open_index(index, f, taxonomy)
    }

    fn open_index(index: Index, fields: Fields, taxonomy: &Taxonomy) -> tantivy::Result<TextIndex> {
        register(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(TextIndex { reader, fields, synonyms: SynonymMatcher::new(taxonomy) })
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The service domains `q` asks for, with a weight in (0, 1], strongest first.
    pub fn expand_domains(&self, q: &str) -> Vec<(Domain, f32)> {
        self.synonyms.expand(q).domains
    }

    /// What `q` asks for, and which of its words said so.
    pub fn understand(&self, q: &str) -> Understanding {
        self.synonyms.expand(q)
    }

    /// The words of `q` that no understood domain explains and that occur in some desk's name,
    /// organisation or city (analysed, as indexed there): what can still tell apart desks that
    /// all offer the need ("CGIL" in "CGIL permesso di soggiorno").
    pub fn residual_words(&self, q: &str, u: &Understanding) -> Vec<String> {
        let cjk_explained = u.explained.iter().any(|&p| p >= CJK_POSITIONS);
        let mut a = self.synonyms.analyzer(FOLD);
        let searcher = self.reader.searcher();
        let f = &self.fields;
        positioned_tokens(&mut a, q)
            .into_iter()
            .filter(|(t, pos)| {
                let cjk = t.chars().any(is_cjk);
                !(u.explained.contains(pos) || (cjk && cjk_explained)) && (cjk || t.chars().count() >= 3)
            })
            .map(|(t, _)| t)
            .filter(|t| {
                [f.name, f.organization, f.city]
                    .iter()
                    .any(|&field| searcher.doc_freq(&Term::from_field_text(field, t)).is_ok_and(|n| n > 0))
            })
            .collect()
    }

    /// The best `limit` desks under `filter` that offer one of `needs` and hold one of `words`
    /// (analysed with the folding analyser) in their name, organisation or city, ranked by
    /// [`rank`] without a position: the needs' share offered, then the words' text score.
    pub fn top_by_words(
        &self,
        words: &[String],
        filter: &TextFilter,
        needs: &Needs,
        bits: &Arc<Vec<DeskBits>>,
        limit: usize,
    ) -> tantivy::Result<Vec<TextHit>> {
        let f = &self.fields;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in [(f.name, 3.0), (f.organization, 1.5), (f.city, 1.5)] {
            for w in words {
                let tq = TermQuery::new(Term::from_field_text(field, w), IndexRecordOption::WithFreqs);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), boost))));
            }
        }
        if should.is_empty() || needs.0.is_empty() {
            return Ok(Vec::new());
        }
        let need_terms: Vec<(Occur, Box<dyn Query>)> = Domain::ALL
            .iter()
            .filter(|d| needs.0.iter().any(|n| n.0 & (1 << d.index()) != 0))
            .map(|d| {
                let t = Term::from_facet(f.domain, &lang_facet(d.code()));
                (Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>)
            })
            .collect();
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, Box::new(BooleanQuery::new(should))),
            (Occur::Must, Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(need_terms)), 0.0))),
        ];
        must.extend(self.filter_clauses(filter));
        let query = BooleanQuery::new(must);
        let searcher = self.reader.searcher();
        let (bits, needs) = (bits.clone(), needs.clone());
        let top = TopDocs::with_limit(limit.max(1)).tweak_score(move |seg: &tantivy::SegmentReader| {
            let ords = seg.fast_fields().u64("ord").expect("ord is a fast field").first_or_default_col(0);
            let (bits, needs) = (bits.clone(), needs.clone());
            move |doc: tantivy::DocId, score: tantivy::Score| {
                let ord = ords.get_val(doc) as u32;
                let offered = bits.get(ord as usize).map_or(0.0, |b| needs.share_offered(b.domains));
                rank(score, offered, None)
            }
        });
        let mut hits = Vec::new();
        for (score, addr) in searcher.search(&query, &top)? {
            hits.push(TextHit { ord: self.ord_of(&searcher, addr)?, score });
        }
        Ok(hits)
    }

    /// Searches `q` (or everything, when `q` is `None`) under `filter`, returning the best `limit`
    /// hits after `adjust`, the number of matches, and facet counts over all matches.
    /// `expansions` are the domains `q` asks for ([`TextIndex::expand_domains`]), computed once
    /// by the caller.
    pub fn search(
        &self,
        q: Option<&str>,
        expansions: &[(Domain, f32)],
        filter: &TextFilter,
        adjust: &Adjust,
        limit: usize,
    ) -> tantivy::Result<TextResult> {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(q) = q {
            let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let mut cache: HashMap<&str, Vec<String>> = HashMap::new();
            for (field, analyzer, boost) in &f.text {
                let toks = cache.entry(analyzer.as_str()).or_insert_with(|| {
                    let mut a = self.synonyms.analyzer(analyzer);
                    tokens(&mut a, q)
                });
                for t in toks.iter() {
                    let tq = TermQuery::new(Term::from_field_text(*field, t), IndexRecordOption::WithFreqs);
                    should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), *boost))));
                }
            }
            for &(d, w) in expansions {
                let tq = TermQuery::new(Term::from_facet(f.domain, &lang_facet(d.code())), IndexRecordOption::Basic);
                should.push((Occur::Should, Box::new(ConstScoreQuery::new(Box::new(tq), 4.0 * w))));
            }
            if should.is_empty() {
                return Ok(TextResult::default());
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        must.extend(self.filter_clauses(filter));
        if !must.is_empty() && must.iter().all(|(o, _)| *o == Occur::MustNot) {
            must.push((Occur::Must, Box::new(AllQuery)));
        }
        let query: Box<dyn Query> = if must.is_empty() {
            Box::new(AllQuery)
        } else if q.is_none() {
            // Filters only: every match scores the same, so distance alone can rank.
            Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(must)), 1.0))
        } else {
            Box::new(BooleanQuery::new(must))
        };

        let searcher = self.reader.searcher();
        let weight = adjust.weight.clone();
        let bits = adjust.bits.clone();
        let needs = adjust.needs.clone();
        let top = TopDocs::with_limit(limit.max(1)).tweak_score(move |seg: &tantivy::SegmentReader| {
            let ords = seg.fast_fields().u64("ord").expect("ord is a fast field").first_or_default_col(0);
            let (weight, bits, needs) = (weight.clone(), bits.clone(), needs.clone());
            move |doc: tantivy::DocId, score: tantivy::Score| {
                let ord = ords.get_val(doc) as u32;
                let offered = bits.get(ord as usize).map_or(0.0, |b| needs.share_offered(b.domains));
                rank(score, offered, weight.as_ref().map(|w| w(ord)))
            }
        });
        let collectors = (top, BitFacets { bits: adjust.bits.clone() });
        let (top, counts) = match &adjust.keep {
            Some(keep) => {
                let keep = keep.clone();
                let pred = move |ord: u64| keep(ord as u32);
                searcher.search(&query, &FilterCollector::new("ord".to_string(), pred, collectors))?
            }
            None => searcher.search(&query, &collectors)?,
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            hits.push(TextHit { ord: self.ord_of(&searcher, addr)?, score });
        }
        Ok(TextResult { hits, counts })
    }

    /// The clauses that apply `filter`: one `Must` per filter given, `MustNot` for exclusions.
    fn filter_clauses(&self, filter: &TextFilter) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.fields;
        let any_of = |terms: Vec<Term>| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|t| (Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>))
                    .collect(),
            ))
        };
        let domain_terms = |ds: &[Domain]| ds.iter().map(|d| Term::from_facet(f.domain, &lang_facet(d.code()))).collect();
        let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !filter.langs.is_empty() {
            let terms = filter.langs.iter().map(|l| Term::from_facet(f.lang, &lang_facet(l))).collect();
            out.push((Occur::Must, any_of(terms)));
        }
        if !filter.domains.is_empty() {
            out.push((Occur::Must, any_of(domain_terms(&filter.domains))));
        }
        if let Some(a) = filter.audience {
            out.push((Occur::Must, any_of(vec![Term::from_field_text(f.audience, a.as_str())])));
        }
        if !filter.exclude.is_empty() {
            out.push((Occur::MustNot, any_of(domain_terms(&filter.exclude))));
        }
        out
    }

    fn ord_of(&self, searcher: &tantivy::Searcher, addr: DocAddress) -> tantivy::Result<u32> {
        let col = searcher.segment_reader(addr.segment_ord).fast_fields().u64("ord")?;
        Ok(col.first(addr.doc_id).unwrap_or_default() as u32)
    }
}

/// Maps query text to the service domains whose labels or synonyms it contains, in any language,
/// forgiving typing errors and endings: a token of 5 or more characters that is not in the
/// taxonomy's vocabulary matches the vocabulary tokens one edit away (an insertion, deletion,
/// substitution or swap of neighbours), one of 9 or more characters those two edits away, and
/// any token the vocabulary token of 5 or more characters it begins with; such matches count
/// less than exact ones.
struct SynonymMatcher {
    /// Every analyser, built once; cloned per query (they need `&mut` to run).
    analyzers: Vec<(String, TextAnalyzer)>,
    /// The same analysers, in the same order, for text already unmarked.
    plain: Vec<(String, TextAnalyzer)>,
    /// (domain, summed weight of the tokens that count) of every label and synonym, analysed.
    phrases: Vec<(Domain, f32)>,
    /// Per phrase, the taxonomy languages it belongs to (bit = index in the taxonomy's list).
    languages: Vec<u64>,
    /// Token → per analyser using it, its [`Use`]. A token's weight is 1 / the number of domains
    /// whose phrases use it, so "help" or "lavoro", in many domains' synonyms, say less than
    /// "asylum". One map for all analysers, so a query token that several analysers produce
    /// alike is looked up once.
    vocab: FxHashMap<String, Vec<Use>>,
    /// A vocabulary token with one or two characters deleted → the (analyser index, vocabulary
    /// token) it comes from: a deletion-neighbourhood index for typing errors.
    deletions: FxHashMap<String, Vec<(usize, String)>>,
}

/// One analyser's use of a vocabulary token.
struct Use {
    analyser: usize,
    /// 1 / the number of domains whose phrases use the token (halved for short words).
    weight: f32,
    /// The phrases (by index) whose counted tokens include it.
    phrases: Vec<u32>,
    /// The length of the shortest word it was analysed from.
    shortest: usize,
}

/// What a query holds of one phrase.
#[derive(Default)]
struct PhraseHit {
    /// The weight of the phrase's tokens the query holds.
    held: f32,
    /// The part of it that counts (near tokens count a share).
    counted: f32,
    /// The query's words (by position) that matched, with the weight each counts.
    words: Vec<(usize, f32)>,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

/// Shortest token whose typing errors are forgiven, and shortest with two.
const FUZZY_MIN_CHARS: usize = 5;
const FUZZY_TWO_MIN_CHARS: usize = 9;

/// The share of a vocabulary token's weight that a query token one or two edits away from it
/// counts: a word typed exactly is surer evidence (the Pashto "اړتیا", "need", is one letter
/// from "وړتیا", "ability").
const TYPO_SHARE: f32 = 0.6;
/// The share a query token counts that begins with a vocabulary token (an ending added).
const PREFIX_SHARE: f32 = 0.8;
/// The share of their weight that phrases count in a language other than the query's.
const OTHER_LANGUAGE_SHARE: f32 = 0.5;
/// Shortest vocabulary token a query token may begin with.
const PREFIX_MIN_CHARS: usize = 5;

/// A token's length for [`allowed_edits`]: its characters, those of the Arabic script (which
/// leaves short vowels unwritten) and of the Ethiopic syllabary counting 5/4, so a four-letter
/// Persian or Pashto word (لټون, "search") forgives a typing error like a five-letter Latin one.
fn typing_len(tok: &str) -> usize {
    let dense = tok.chars().filter(|&c| matches!(c as u32, 0x0600..=0x06FF | 0x0750..=0x077F | 0x1200..=0x139F)).count();
    tok.chars().count() + dense / 4
}

/// Edits a token of `len` characters (see [`typing_len`]) may be away from a vocabulary token.
fn allowed_edits(len: usize) -> usize {
    if len >= FUZZY_TWO_MIN_CHARS {
        2
    } else if len >= FUZZY_MIN_CHARS {
        1
    } else {
        0
    }
}

/// Every string made by deleting `n` (1 or 2) characters of `w`, sorted, without repeats.
fn deletions(w: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = w.chars().collect();
    let len = chars.len();
    let without = |skip: &[usize]| -> String { chars.iter().enumerate().filter(|(k, _)| !skip.contains(k)).map(|(_, c)| c).collect() };
    let mut out = Vec::with_capacity(len + if n == 2 { len * len / 2 } else { 0 });
    for i in 0..len {
        out.push(without(&[i]));
        if n == 2 {
            for j in i + 1..len {
                out.push(without(&[i, j]));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl SynonymMatcher {
    /// A fresh copy of the analyser called `name`.
    fn analyzer(&self, name: &str) -> TextAnalyzer {
        self.analyzers.iter().find(|(n, _)| n == name).map(|(_, a)| a.clone()).expect("known analyzer")
    }

    /// A phrase's counted tokens are its content tokens (3 or more characters), or all its
    /// tokens when it has none (short CJK words).
    fn new(t: &Taxonomy) -> Self {
        let mut analyzers = all_analyzers();
        let pos = |name: &str, a: &[(String, TextAnalyzer)]| a.iter().position(|(n, _)| n == name).expect("known analyzer");
        let mut phrases = Vec::new();
        let mut postings: HashMap<(usize, String), Vec<u32>> = HashMap::new();
        // (domain, analyser, tokens) → the phrase: a phrase two languages share is one phrase
        // of both.
        let mut seen: HashMap<(Domain, usize, Vec<String>), u32> = HashMap::new();
        let mut languages: Vec<u64> = Vec::new();
        // (analyser, token) → the shortest word it was analysed from.
        let mut shortest: HashMap<(usize, String), usize> = HashMap::new();
        let (fold, cjk) = (pos(FOLD, &analyzers), pos(CJK, &analyzers));
        for e in &t.domains {
            for (li, lang) in t.languages.iter().map(|l| l.code.as_str()).enumerate() {
                let bit = 1u64 << (li % 64);
                let i = pos(&analyzer_for(lang), &analyzers);
                let texts = e.labels.get(lang).into_iter().chain(e.synonyms.get(lang).into_iter().flatten());
                for text in texts {
                    let positioned = positioned_tokens(&mut analyzers[i].1, text);
                    let toks: Vec<String> = positioned.iter().map(|(t, _)| t.clone()).collect();
                    if toks.is_empty() {
                        continue;
                    }
                    if let Some(&id) = seen.get(&(e.code, i, toks.clone())) {
                        languages[id as usize] |= bit;
                        continue;
                    }
                    seen.insert((e.code, i, toks.clone()), phrases.len() as u32);
                    languages.push(bit);
                    // Lengths are the typed word's, not its stem's ("ищу" stems to "ищ").
                    let lens = word_lengths(&mut analyzers[fold].1, text);
                    let word_len = |t: &String, p: usize| if i == cjk { t.chars().count() } else { lens.get(&p).copied().unwrap_or(t.chars().count()) };
                    for (t, p) in &positioned {
                        let n = shortest.entry((i, t.clone())).or_insert(usize::MAX);
                        *n = (*n).min(word_len(t, *p));
                    }
                    let content: Vec<String> = positioned.iter().filter(|(t, p)| word_len(t, *p) >= 3).map(|(t, _)| t.clone()).collect();
                    let counted = if content.is_empty() { toks } else { content };
                    let id = phrases.len() as u32;
                    phrases.push((e.code, i, counted.clone()));
                    for tok in counted {
                        postings.entry((i, tok)).or_default().push(id);
                    }
                }
            }
        }
        // A token's weight: 1 / the number of domains among its phrases.
        let mut weights: HashMap<(usize, String), f32> = HashMap::new();
        for (key, list) in &postings {
            let mut ds: Vec<Domain> = list.iter().map(|&p| phrases[p as usize].0).collect::<Vec<_>>();
            ds.sort();
            ds.dedup();
            // Three-letter words of alphabets ("mia", "pay", the French stem of "pays") say
            // less: they are as often function words of another language. In abugidas and
            // syllabaries (ਸਰਨ, "asylum") three letters make a full word.
            let alphabet = key.1.chars().all(|c| (c as u32) < 0x0530);
            let factor = if shortest[key] <= 3 && alphabet { 0.5 } else { 1.0 };
            weights.insert(key.clone(), factor / ds.len() as f32);
        }
        let phrases: Vec<(Domain, f32)> = phrases
            .into_iter()
            .map(|(d, i, toks): (Domain, usize, Vec<String>)| (d, toks.into_iter().map(|t| weights[&(i, t)]).sum()))
            .collect();
        let mut deletions_index: HashMap<(usize, String), Vec<String>> = HashMap::new();
        for (i, tok) in postings.keys() {
            let len = typing_len(tok);
            // A query token one or two edits away is at least FUZZY_MIN_CHARS long only if the
            // vocabulary token has at least FUZZY_MIN_CHARS - 2 characters.
            if len + 2 < FUZZY_MIN_CHARS {
                continue;
            }
            let depth = if len + 1 >= FUZZY_TWO_MIN_CHARS { 2 } else { 1 };
            for d in deletions(tok, depth) {
                deletions_index.entry((*i, d)).or_default().push(tok.clone());
            }
        }
        for list in deletions_index.values_mut() {
            list.sort();
            list.dedup();
        }
        let mut vocab: FxHashMap<String, Vec<Use>> = FxHashMap::default();
        for ((i, tok), list) in postings {
            let key = (i, tok);
            let (w, n) = (weights[&key], shortest[&key]);
            vocab.entry(key.1).or_default().push(Use { analyser: i, weight: w, phrases: list, shortest: n });
        }
        let mut deletions: FxHashMap<String, Vec<(usize, String)>> = FxHashMap::default();
        for ((i, d), list) in deletions_index {
            deletions.entry(d).or_default().extend(list.into_iter().map(|v| (i, v)));
        }
        Self { analyzers, plain: analyzers_plain(), phrases, languages, vocab, deletions }
    }

    /// Vocabulary tokens near `tok`, as (analyser index, token, share of its weight that
    /// counts): those within the edits [`allowed_edits`] forgives ([`TYPO_SHARE`]), and per
    /// analyser the longest of 5 or more characters that `tok` begins with ([`PREFIX_SHARE`]):
    /// "mushaharkeygii" (Somali, "my salary") holds "mushahar", "Wohnungssuche" holds "wohnung".
    fn near(&self, tok: &str) -> Vec<(usize, &str, f32)> {
        let max = allowed_edits(typing_len(tok));
        let mut found: Vec<(usize, &str, f32)> = Vec::new();
        if max > 0 {
            let mut probes = vec![tok.to_string()];
            probes.extend(deletions(tok, max));
            for p in &probes {
                // The vocabulary token itself is the probe (the query has extra characters)…
                if let Some((v, users)) = self.vocab.get_key_value(p.as_str()) {
                    found.extend(users.iter().map(|u| (u.analyser, v.as_str(), TYPO_SHARE)));
                }
                // …or shares a deletion with it.
                if let Some(list) = self.deletions.get(p.as_str()) {
                    found.extend(list.iter().map(|(i, v)| (*i, v.as_str(), TYPO_SHARE)));
                }
            }
            let mut close: FxHashMap<&str, bool> = FxHashMap::default();
            found.retain(|(_, v, _)| *close.entry(v).or_insert_with(|| strsim::damerau_levenshtein(tok, v) <= max));
        }
        let mut prefixed: Vec<usize> = Vec::new();
        for (at, _) in tok.char_indices().skip(PREFIX_MIN_CHARS).collect::<Vec<_>>().into_iter().rev() {
            if let Some((v, users)) = self.vocab.get_key_value(&tok[..at]) {
                for u in users {
                    if !prefixed.contains(&u.analyser) {
                        prefixed.push(u.analyser);
                        found.push((u.analyser, v.as_str(), PREFIX_SHARE));
                    }
                }
            }
        }
        // One entry per (analyser, token), the larger share.
        found.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.total_cmp(&a.2)));
        found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        found
    }

    /// The domains the query asks for, strongest first, weighted relative to the strongest
    /// (1.0). A phrase matches when the query holds at least half of its tokens' weight (a
    /// token's weight is 1 / the number of domains using it; a near token holds all of it); a
    /// domain's strength is the weight of the query's words its matching phrases explain, times
    /// the share of each phrase matched, plus its best phrase's share, where a near token counts
    /// only [`TYPO_SHARE`] or [`PREFIX_SHARE`] of its weight.
    fn expand(&self, q: &str) -> Understanding {
        // Per phrase: the weight of its tokens the query holds, the weight that counts, and
        // which words of the query (by position; the CJK analyser's positions apart) those were,
        // with the weights that count.
        let mut hits: FxHashMap<u32, PhraseHit> = FxHashMap::default();
        // Tokens not in the vocabulary → the vocabulary tokens near them, for every analyser at
        // once: several analysers often produce the same token.
        let mut near: FxHashMap<String, Vec<(usize, &str, f32)>> = FxHashMap::default();
        let mut text = String::new();
        unmark(q, &mut text);
        let q = text.as_str();
        let fold = self.plain.iter().position(|(n, _)| n == FOLD).expect("known analyzer");
        let lens = word_lengths(&mut self.plain[fold].1.clone(), q);
        for (i, (name, a)) in self.plain.iter().enumerate() {
            let mut a = a.clone();
            let cjk = name == CJK;
            let word_base = if cjk { CJK_POSITIONS } else { 0 };
            for (tok, pos) in positioned_tokens(&mut a, q) {
                let word = word_base + pos;
                // A stem is not evidence when the word typed is less than half as long as every
                // word it was made from: the Turkish stemmer makes "insan" (person) "in".
                let typed = if cjk { usize::MAX } else { lens.get(&pos).copied().unwrap_or(usize::MAX) };
                let exact = self.vocab.get(tok.as_str()).and_then(|users| users.iter().find(|u| u.analyser == i));
                let mut matched: Vec<(u32, f32, f32)> = match exact {
                    Some(u) if typed.saturating_mul(2) <= u.shortest => Vec::new(),
                    Some(u) => u.phrases.iter().map(|&p| (p, u.weight, 1.0)).collect(),
                    // A typing error or an ending: each phrase of a vocabulary token near it
                    // counts a share of that token.
                    None => near
                        .entry(tok)
                        .or_insert_with_key(|t| self.near(t))
                        .iter()
                        .filter(|(j, _, _)| *j == i)
                        .flat_map(|(_, v, share)| {
                            let u = self.vocab[*v].iter().find(|u| u.analyser == i).expect("near tokens are vocabulary");
                            u.phrases.iter().map(move |&p| (p, u.weight, *share))
                        })
                        .collect(),
                };
                matched.sort_unstable_by(|a, b| a.0.cmp(&b.0).then((b.1 * b.2).total_cmp(&(a.1 * a.2))));
                matched.dedup_by_key(|x| x.0);
                for (p, w, share) in matched {
                    let h = hits.entry(p).or_default();
                    h.held += w;
                    h.counted += w * share;
                    h.words.push((word, w * share));
                }
            }
        }
        // A phrase counts when the query holds at least half its weight. A domain's evidence is
        // the weight of the query's words its counted phrases explain, each word once, times
        // the share of the phrase that matched: a whole phrase says more than half of one.
        // Its best phrase's share is added: a whole label or synonym typed beats half of one.
        // A person types in one language: the languages whose phrases explain the most of the
        // query's words are taken as the query's, and the phrases of the others count
        // [`OTHER_LANGUAGE_SHARE`] (the Romanian "urgențe" in "cerco lavoro urgente").
        hits.retain(|&p, h| h.held / self.phrases[p as usize].1 >= 0.5);
        let mut per_language: [HashSet<usize>; 64] = std::array::from_fn(|_| HashSet::new());
        for (&p, PhraseHit { words, .. }) in &hits {
            let langs = self.languages[p as usize];
            for (_, explained) in per_language.iter_mut().enumerate().filter(|(l, _)| langs & (1 << l) != 0) {
                explained.extend(words.iter().map(|w| w.0));
            }
        }
        let top = per_language.iter().map(HashSet::len).max().unwrap_or(0);
        let query_languages: u64 = (0..64).filter(|&l| top > 0 && per_language[l].len() == top).fold(0, |m, l| m | 1 << l);
        let mut evidence: BTreeMap<Domain, (f32, HashMap<usize, f32>)> = BTreeMap::new();
        for (p, PhraseHit { counted, words, .. }) in hits {
            let (d, total) = self.phrases[p as usize];
            let own = if self.languages[p as usize] & query_languages != 0 { 1.0 } else { OTHER_LANGUAGE_SHARE };
            let share = (counted / total).min(1.0) * own;
            {
                let e = evidence.entry(d).or_default();
                e.0 = e.0.max(share);
                for (word, w) in words {
                    let v = e.1.entry(word).or_default();
                    *v = v.max(w * share);
                }
            }
        }
        let explained: HashSet<usize> = evidence.values().flat_map(|(_, words)| words.keys().copied()).collect();
        let scores: Vec<(Domain, f32)> = evidence.into_iter().map(|(d, (best, words))| (d, best + words.values().sum::<f32>())).collect();
        let best = scores.iter().map(|s| s.1).fold(0.0f32, f32::max);
        let mut v: Vec<(Domain, f32)> = scores.into_iter().map(|(d, s)| (d, s / best)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Understanding { domains: v, explained }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmarked(s: &str) -> String {
        let mut out = String::new();
        unmark(s, &mut out);
        out
    }

    #[test]
    fn unmark_takes_off_what_people_leave_out() {
        assert_eq!(unmarked("città Città"), "citta Citta");
        assert_eq!(unmarked("português"), "portugues");
        assert_eq!(unmarked("Αθήνα"), "Αθηνα");
        // Gurmukhi: the precomposed letter (a composition exclusion) and letter + nukta agree.
        assert_eq!(unmarked("\u{0A36}ਰਨ"), unmarked("\u{0A38}\u{0A3C}ਰਨ"));
        // Arabic: hamza on alef and harakat go; Arabic and Persian yeh and kaf agree.
        assert_eq!(unmarked("أَسْرة"), unmarked("اسره"));
        assert_eq!(unmarked("كار مي"), unmarked("کار می"));
        // Ethiopic letters that sound alike are one letter.
        assert_eq!(unmarked("የሠራተኛ ማኅበር"), unmarked("የሰራተኛ ማህበር"));
        assert_eq!(unmarked("ሐኪም ፀሐይ ዐይን"), unmarked("ሀኪም ጸሀይ አይን"));
        // Indic vowel signs are letters and stay: কুল is not কল.
        assert_ne!(unmarked("কুল"), unmarked("কল"));
    }

    #[test]
    fn stemmers_read_words_without_accents() {
        let a = all_analyzers();
        let mut pt = a.iter().find(|(n, _)| n == "stem_pt").unwrap().1.clone();
        assert_eq!(tokens(&mut pt, "português"), tokens(&mut pt, "portugues"));
    }
}
