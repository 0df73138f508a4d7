//! The interface strings of the HTML pages (the widget will reuse them), read from
//! `data/ui.json` in the 30 languages of `data/taxonomy.json`, which also gives each language's
//! native name and writing direction; and the choice of a page's language: `ui`, else the
//! browser's `Accept-Language`, else English. Strings are plain text: placeholders in braces are
//! filled in here and the result is escaped when rendered.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::model::Taxonomy;

/// The strings file embedded in the binary.
pub const EMBEDDED_UI: &str = include_str!("../../../data/ui.json");

/// One language's strings: every key is required and no other is allowed, so a missing or
/// misspelt key in `data/ui.json` is refused when it is read, naming the language and the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    pub page_title: String,
    pub intro: String,
    pub privacy: String,
    pub ui_label: String,
    pub place_label: String,
    pub lang_label: String,
    pub lang_any: String,
    pub need_label: String,
    pub need_any: String,
    pub q_label: String,
    pub submit: String,
    pub results_near: String,
    pub results_here: String,
    pub results_found: String,
    pub results_none: String,
    pub understood: String,
    pub error_title: String,
    pub error_place: String,
    pub error_lang: String,
    pub error_need: String,
    pub error_position: String,
    pub error_too_long: String,
    pub error_param: String,
    pub busy: String,
    pub error_internal: String,
    pub distance: String,
    pub decimal: String,
    pub languages: String,
    pub needs: String,
    pub audience_unions: String,
    pub fees_free: String,
    pub fees_membership: String,
    pub fees_fee: String,
    pub open_now: String,
    pub closed_now: String,
    pub today: String,
    pub closed_today: String,
    pub hours_unknown: String,
    pub wheelchair_yes: String,
    pub wheelchair_limited: String,
    pub wheelchair_no: String,
    pub call: String,
    pub email: String,
    pub website: String,
    pub directions: String,
    pub details: String,
    pub back: String,
    pub not_found: String,
    pub widget_map: String,
    pub widget_my_position: String,
    pub widget_locating: String,
    pub widget_position_failed: String,
    pub widget_show_on_map: String,
    pub widget_here: String,
    pub widget_no_js: String,
    pub widget_demo_intro: String,
    pub widget_cluster: String,
}

/// A language the pages are written in.
#[derive(Debug, Clone)]
pub struct Ui {
    /// ISO 639-1 code, as in `lang` attributes.
    pub code: String,
    /// The language's name in its own script (from the taxonomy).
    pub native: String,
    /// Written right to left (Arabic, Farsi, Pashto, Urdu).
    pub rtl: bool,
    pub s: Strings,
}

impl Ui {
    /// `dir` attribute value.
    pub fn dir(&self) -> &'static str {
        if self.rtl { "rtl" } else { "ltr" }
    }
}

/// Every page language, in the taxonomy's order.
#[derive(Debug)]
pub struct Catalog {
    pub langs: Vec<Ui>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    about: String,
    strings: BTreeMap<String, serde_json::Value>,
}

/// The placeholders (`{name}`) of a string, sorted.
fn placeholders(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = s.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect();
    out.sort_unstable();
    out
}

impl Catalog {
    /// Reads a strings file and checks it against the taxonomy's languages: every language
    /// present and no other, every key present, known and non-empty, and the same placeholders
    /// as the English string.
    pub fn from_json(text: &str, taxonomy: &Taxonomy) -> Result<Catalog, String> {
        let file: File = serde_json::from_str(text).map_err(|e| format!("ui.json: {e}"))?;
        if let Some(extra) = file.strings.keys().find(|c| taxonomy.ui_language(c).is_none()) {
            return Err(format!("ui.json: `{extra}` is not a language of taxonomy.json"));
        }
        let english = file.strings.get("en").and_then(|v| v.as_object()).ok_or("ui.json: no English (`en`) strings")?;
        let mut langs = Vec::new();
        for l in &taxonomy.languages {
            let value = file.strings.get(&l.code).ok_or_else(|| format!("ui.json: no strings for `{}`", l.code))?;
            let object = value.as_object().ok_or_else(|| format!("ui.json: `{}` is not an object", l.code))?;
            for (key, v) in object {
                let text = v.as_str().ok_or_else(|| format!("ui.json: `{}`.`{key}` is not a string", l.code))?;
                if text.trim().is_empty() {
                    return Err(format!("ui.json: `{}`.`{key}` is empty", l.code));
                }
                let want = english.get(key).and_then(|e| e.as_str()).map(placeholders).unwrap_or_default();
                if placeholders(text) != want {
                    return Err(format!("ui.json: `{}`.`{key}` has placeholders {:?}, English has {:?}", l.code, placeholders(text), want));
                }
            }
            let s: Strings = serde_json::from_value(value.clone()).map_err(|e| format!("ui.json: `{}`: {e}", l.code))?;
            langs.push(Ui { code: l.code.clone(), native: l.native.clone(), rtl: l.rtl, s });
        }
        Ok(Catalog { langs })
    }

    /// The embedded strings, read once.
    pub fn embedded() -> &'static Catalog {
        static C: OnceLock<Catalog> = OnceLock::new();
        C.get_or_init(|| Catalog::from_json(EMBEDDED_UI, Taxonomy::embedded()).expect("embedded ui.json is valid (tested)"))
    }

    pub fn get(&self, code: &str) -> Option<&Ui> {
        self.langs.iter().find(|u| u.code == code)
    }

    fn english(&self) -> &Ui {
        self.get("en").expect("English is checked at load")
    }

    /// The page language: `ui` when it is one of ours; else the first of the browser's
    /// languages (`Accept-Language`, by quality; a region or script subtag is ignored) that is;
    /// else English.
    pub fn choose(&self, ui: Option<&str>, accept_language: Option<&str>) -> &Ui {
        if let Some(u) = ui.and_then(|c| self.get(&c.trim().to_ascii_lowercase())) {
            return u;
        }
        let Some(header) = accept_language else { return self.english() };
        for (tag, q) in accept_language::parse_with_quality(header).into_iter().take(32) {
            if q <= 0.0 {
                continue;
            }
            let primary = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
            let code = match primary.as_str() {
                // Filipino is written as Tagalog; Dari and Iranian Persian as Persian; Western
                // Punjabi shares the language (our strings are in Gurmukhi).
                "fil" => "tl",
                "prs" | "pes" => "fa",
                "pnb" => "pa",
                other => other,
            };
            if let Some(u) = self.get(code) {
                return u;
            }
        }
        self.english()
    }
}

/// `template` with `{name}` replaced by `value`.
pub fn fill(template: &str, name: &str, value: &str) -> String {
    template.replace(&format!("{{{name}}}"), value)
}

/// `template` split around `{name}`: the text before and after it (the whole template before
/// when it has no such placeholder), so markup can be put in its place.
pub fn split<'a>(template: &'a str, name: &str) -> (&'a str, &'a str) {
    let mark = format!("{{{name}}}");
    template.split_once(mark.as_str()).unwrap_or((template, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found() {
        assert_eq!(placeholders("a {km} b {hours}"), vec!["hours", "km"]);
        assert!(placeholders("none").is_empty());
        assert_eq!(split("Today: {hours}.", "hours"), ("Today: ", "."));
        assert_eq!(fill("near {place}", "place", "Milano"), "near Milano");
    }

    #[test]
    fn the_browsers_languages_choose_when_ui_does_not() {
        let c = Catalog::embedded();
        assert_eq!(c.choose(Some("ar"), Some("fr")).code, "ar");
        assert_eq!(c.choose(Some("xx"), Some("de-AT, fr;q=0.8")).code, "de");
        assert_eq!(c.choose(None, Some("ku;q=0.9, fa-IR;q=0.8, en;q=0.5")).code, "fa");
        assert_eq!(c.choose(None, Some("fil-PH")).code, "tl");
        assert_eq!(c.choose(None, Some("it;q=0, es;q=0.3")).code, "es");
        assert_eq!(c.choose(None, Some("*")).code, "en");
        assert_eq!(c.choose(None, None).code, "en");
        assert!(c.choose(Some("UR"), None).rtl);
    }
}
