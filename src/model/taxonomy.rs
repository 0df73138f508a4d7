//! The service-domain taxonomy: the 19 stable domain codes, and their labels and search synonyms in
//! the 30 languages the network's users read (from `data/taxonomy.json`, embedded in the binary).
//!
//! Codes are never translated; labels and synonyms are. Text analysis of the synonyms lives in the
//! text index, not here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

macro_rules! domains {
    ($($variant:ident => $code:literal),+ $(,)?) => {
        /// A service domain, one of the 19 codes of DOMAIN.md.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Domain {
            $(#[serde(rename = $code)] $variant,)+
        }

        impl Domain {
            /// Every domain, in the taxonomy's order (the order also gives each its bit).
            pub const ALL: &'static [Domain] = &[$(Domain::$variant),+];

            /// The stable code, as used in data files and query parameters.
            pub fn code(self) -> &'static str {
                match self { $(Domain::$variant => $code,)+ }
            }

            /// Parses a code; codes are case-sensitive and never translated.
            pub fn parse(code: &str) -> Option<Domain> {
                match code { $($code => Some(Domain::$variant),)+ _ => None }
            }
        }
    };
}

domains! {
    WorkRights => "work-rights",
    JobSearch => "job-search",
    SkillsAssessment => "skills-assessment",
    Qualifications => "qualifications",
    FamilyReunification => "family-reunification",
    ResidencePermits => "residence-permits",
    AsylumProtection => "asylum-protection",
    TaxSocialSecurity => "tax-social-security",
    UnionMembership => "union-membership",
    TraffickingExploitation => "trafficking-exploitation",
    Orientation => "orientation",
    PreDeparture => "pre-departure",
    ReturnMigration => "return-migration",
    Community => "community",
    LanguageCourses => "language-courses",
    Health => "health",
    Housing => "housing",
    LegalAid => "legal-aid",
    Psychosocial => "psychosocial",
}

impl Domain {
    /// Position in [`Domain::ALL`]: the domain's bit in a domain mask.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The code closest in spelling to `code`, for "did you mean" hints.
    pub fn closest(code: &str) -> Option<Domain> {
        Domain::ALL
            .iter()
            .map(|d| (strsim::jaro_winkler(code, d.code()), *d))
            .filter(|(sim, _)| *sim >= 0.88)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, d)| d)
    }
}

/// In the OpenAPI description, a domain is one of its 19 codes.
impl utoipa::PartialSchema for Domain {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Domain::ALL.iter().map(|d| d.code())))
            .description(Some("A service domain: one of the 19 codes of the taxonomy (see `/api/v1/domains`)"))
            .into()
    }
}

impl utoipa::ToSchema for Domain {}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A UI language of the taxonomy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UiLanguage {
    pub code: String,
    pub english: String,
    pub native: String,
    pub rtl: bool,
}

/// Labels and synonyms of one domain, keyed by language code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainEntry {
    pub code: Domain,
    pub labels: BTreeMap<String, String>,
    pub synonyms: BTreeMap<String, Vec<String>>,
}

/// The whole taxonomy file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Taxonomy {
    #[serde(default)]
    pub about: String,
    pub languages: Vec<UiLanguage>,
    pub domains: Vec<DomainEntry>,
}

/// The taxonomy file embedded in the binary.
pub const EMBEDDED_TAXONOMY: &str = include_str!("../../data/taxonomy.json");

impl Taxonomy {
    /// Parses and checks a taxonomy: every one of the 19 domains exactly once, in order, with a
    /// label in every listed language.
    pub fn from_json(text: &str) -> Result<Taxonomy, String> {
        let t: Taxonomy =
            serde_json::from_str(text).map_err(|e| format!("taxonomy.json: {e}"))?;
        let codes: Vec<Domain> = t.domains.iter().map(|d| d.code).collect();
        if codes != Domain::ALL {
            return Err("taxonomy.json: `domains` must list the 19 domains once each, in the order of Domain::ALL".into());
        }
        for d in &t.domains {
            for l in &t.languages {
                if !d.labels.contains_key(&l.code) {
                    return Err(format!("taxonomy.json: domain `{}` has no label in `{}`", d.code, l.code));
                }
            }
        }
        Ok(t)
    }

    /// The embedded taxonomy, parsed once.
    pub fn embedded() -> &'static Taxonomy {
        static T: OnceLock<Taxonomy> = OnceLock::new();
        T.get_or_init(|| Taxonomy::from_json(EMBEDDED_TAXONOMY).expect("embedded taxonomy is valid (tested)"))
    }

    pub fn entry(&self, d: Domain) -> &DomainEntry {
        &self.domains[d.index()]
    }

    /// The label of `d` in `ui`, falling back to English.
    pub fn label(&self, d: Domain, ui: &str) -> &str {
        let e = self.entry(d);
        e.labels.get(ui).or_else(|| e.labels.get("en")).map(String::as_str).unwrap_or(d.code())
    }

    pub fn ui_language(&self, code: &str) -> Option<&UiLanguage> {
        self.languages.iter().find(|l| l.code == code)
    }
}
