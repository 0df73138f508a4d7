//! The HTML of the pages, written with `maud` (every value is escaped unless marked otherwise):
//! one layout (language switch, main, privacy note), the list page's form, error summary and
//! desks, a desk's own page with its Open Graph preview, and the short message pages. Knows the
//! strings and the records it is given; finds nothing itself.

use std::sync::LazyLock;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::{Catalog, Ui, fill, split};
use crate::locate::Candidate;
use crate::model::{ContactPoint, Domain, Fees, Taxonomy, Wheelchair};
use crate::query::ShownDesk;
use crate::query::params::ParamError;

/// The pages' one stylesheet.
pub const CSS: &str = include_str!("pages.css");

/// A short hash of the stylesheet, so its URL changes when it does.
pub fn css_version() -> &'static str {
    static V: LazyLock<String> = LazyLock::new(|| blake3::hash(CSS.as_bytes()).to_hex()[..10].to_string());
    &V
}

/// A globe, drawn with the text colour, for the language switch (readers who cannot read the
/// current language still find it).
const GLOBE: PreEscaped<&str> = PreEscaped(
    r#"<svg class="sp-icon" aria-hidden="true" focusable="false" width="20" height="20" viewBox="0 0 24 24"><path fill="none" stroke="currentColor" stroke-width="2" d="M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20zM2 12h20M12 2c2.6 2.8 4 6.2 4 10s-1.4 7.2-4 10c-2.6-2.8-4-6.2-4-10s1.4-7.2 4-10z"/></svg>"#,
);

/// Longest value kept from a request to show it again in the form.
const ECHO_CHARS: usize = 200;

/// What the request asked, as typed, to fill the form again (also when it could not be read).
#[derive(Debug, Clone, Default)]
pub struct Echo {
    pub place: String,
    pub lat: String,
    pub lon: String,
    pub lang: String,
    pub domain: String,
    pub q: String,
    pub ui: String,
}

impl Echo {
    /// The first value of each form field in `raw`, each cut to a bounded length.
    pub fn from_query(raw: Option<&str>) -> Echo {
        let mut e = Echo::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match k.as_ref() {
                "place" => &mut e.place,
                "lat" => &mut e.lat,
                "lon" => &mut e.lon,
                "lang" => &mut e.lang,
                "domain" => &mut e.domain,
                "q" => &mut e.q,
                "ui" => &mut e.ui,
                _ => continue,
            };
            if slot.is_empty() {
                *slot = v.trim().chars().take(ECHO_CHARS).collect();
            }
        }
        e
    }

    /// This list page again in language `ui`.
    fn href(&self, ui: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("place", &self.place), ("lat", &self.lat), ("lon", &self.lon), ("lang", &self.lang), ("domain", &self.domain), ("q", &self.q)] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("ui", ui);
        format!("/list?{}", q.finish())
    }
}

/// What is wrong with a request, as the page tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// No town has this name.
    PlaceNotFound(String),
    PlaceTooLong,
    Lang,
    Domain,
    QTooLong,
    /// `lat`/`lon` malformed or out of range.
    Position,
    /// A parameter the page does not take, or one given twice.
    Param(String),
    Busy,
    Internal,
}

impl Problem {
    /// The problem a parameter error is on the list page.
    pub fn from_param(e: &ParamError) -> Problem {
        match e.name.as_str() {
            "place" => Problem::PlaceTooLong,
            "q" => Problem::QTooLong,
            "lang" => Problem::Lang,
            "domain" => Problem::Domain,
            "lat" | "lon" => Problem::Position,
            other => Problem::Param(other.to_string()),
        }
    }

    /// The form field at fault, by its `id`.
    fn field(&self) -> Option<&'static str> {
        match self {
            Problem::PlaceNotFound(_) | Problem::PlaceTooLong => Some("place"),
            Problem::Lang => Some("lang"),
            Problem::Domain => Some("domain"),
            Problem::QTooLong => Some("q"),
            _ => None,
        }
    }

    fn message(&self, ui: &Ui) -> String {
        let s = &ui.s;
        match self {
            Problem::PlaceNotFound(text) => fill(&s.error_place, "value", text),
            Problem::PlaceTooLong | Problem::QTooLong => s.error_too_long.clone(),
            Problem::Lang => s.error_lang.clone(),
            Problem::Domain => s.error_need.clone(),
            Problem::Position => s.error_position.clone(),
            Problem::Param(name) => fill(&s.error_param, "value", name),
            Problem::Busy => s.busy.clone(),
            Problem::Internal => s.error_internal.clone(),
        }
    }

    fn label<'a>(&self, ui: &'a Ui) -> Option<&'a str> {
        let s = &ui.s;
        self.field().map(|f| match f {
            "place" => s.place_label.as_str(),
            "lang" => s.lang_label.as_str(),
            "domain" => s.need_label.as_str(),
            _ => s.q_label.as_str(),
        })
    }
}

/// The desks a list page shows and how they were found.
pub struct Results<'a> {
    pub desks: &'a [ShownDesk],
    /// The town the position came from.
    pub place: Option<&'a Candidate>,
    /// Whether there was a position at all.
    pub positioned: bool,
    pub understood: &'a [Domain],
}

/// Extra `<head>` content for a page (its preview tags).
pub(crate) fn layout(ui: &Ui, catalog: &Catalog, title: &str, head: Markup, switch: &dyn Fn(&str) -> String, main: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(ui.code) dir=(ui.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – sportello" }
                link rel="stylesheet" href={ "/assets/pages.css?v=" (css_version()) };
                (head)
            }
            body {
                header class="sp-header" {
                    div class="sp-wrap sp-header__row" {
                        a class="sp-brand" href={ "/list?ui=" (ui.code) } { "sportello" }
                        nav class="sp-langs" aria-label=(ui.s.ui_label) {
                            details {
                                summary { (GLOBE) " " span { (ui.s.ui_label) } " · " bdi { (ui.native) } }
                                ul class="sp-langs__list" {
                                    @for l in &catalog.langs {
                                        li {
                                            a href=(switch(&l.code)) lang=(l.code) hreflang=(l.code) dir=(l.dir())
                                                aria-current=[(l.code == ui.code).then_some("page")] { (l.native) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main id="main" class="sp-wrap" { (main) }
                footer class="sp-footer" { div class="sp-wrap" { p { (ui.s.privacy) } } }
            }
        }
    }
    .into_string()
}

/// The language a desk's staff speak, named in its own script where we know it.
fn language_name(tax: &Taxonomy, code: &str) -> String {
    if let Some(l) = tax.ui_language(code) {
        return l.native.clone();
    }
    let lang = match code.len() {
        2 => isolang::Language::from_639_1(code),
        _ => isolang::Language::from_639_3(code),
    };
    lang.map(|l| l.to_autonym().unwrap_or(l.to_name()).to_string()).unwrap_or_else(|| code.to_string())
}

/// A distance in metres, in the page's language: one decimal under 10 km.
fn distance(ui: &Ui, m: f64) -> String {
    let km = m / 1000.0;
    let n = if km < 10.0 { format!("{km:.1}").replace('.', &ui.s.decimal) } else { format!("{km:.0}") };
    fill(&ui.s.distance, "km", &n)
}

/// Only the digits of a phone number, with its leading `+`.
fn dial(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if number.trim_start().starts_with('+') { format!("+{digits}") } else { digits }
}

/// The desk's text in the page's language, else English, else any.
fn description<'a>(d: &'a ContactPoint, ui: &Ui) -> Option<(&'a str, &'a str)> {
    d.description
        .get_key_value(&ui.code)
        .or_else(|| d.description.get_key_value("en"))
        .or_else(|| d.description.iter().next())
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Open now or not, and today's hours, in the desk's own time zone.
fn hours(ui: &Ui, d: &ShownDesk) -> Markup {
    let s = &ui.s;
    let t = &d.today;
    let times = t.hours.iter().map(|(a, b)| format!("{a}–{b}")).collect::<Vec<_>>().join(", ");
    let (before, after) = split(&s.today, "hours");
    html! {
        p class="sp-hours" {
            @match t.open_now {
                Some(true) => { strong class="sp-open" { (s.open_now) } " " }
                Some(false) => { strong class="sp-closed" { (s.closed_now) } " " }
                None => { span { (s.hours_unknown) } }
            }
            @if t.open_now.is_some() {
                @if times.is_empty() { span { (s.closed_today) } }
                @else { span { (before) bdi dir="ltr" { (times) } (after) } }
            }
        }
    }
}

/// What a desk offers: languages, needs, audience, fees, wheelchair access.
fn facts(ui: &Ui, tax: &Taxonomy, d: &ContactPoint) -> Markup {
    let s = &ui.s;
    let fees = d.fees.map(|f| match f {
        Fees::Free => &s.fees_free,
        Fees::Membership => &s.fees_membership,
        Fees::Fee => &s.fees_fee,
    });
    let wheelchair = d.access.wheelchair.map(|w| match w {
        Wheelchair::Yes => &s.wheelchair_yes,
        Wheelchair::Limited => &s.wheelchair_limited,
        Wheelchair::No => &s.wheelchair_no,
    });
    let unions = d.audience == crate::model::Audience::Unions;
    html! {
        dl class="sp-facts" {
            div {
                dt { (s.languages) }
                dd { ul class="sp-chips" { @for l in &d.languages { li { bdi lang=(l.as_str()) { (language_name(tax, l.as_str())) } } } } }
            }
            div {
                dt { (s.needs) }
                dd { ul class="sp-chips" { @for n in &d.domains { li { (tax.label(*n, &ui.code)) } } } }
            }
        }
        @if fees.is_some() || wheelchair.is_some() || unions {
            ul class="sp-tags" {
                @if unions { li class="sp-tag sp-tag--warn" { (s.audience_unions) } }
                @if let Some(f) = fees { li class="sp-tag" { (f) } }
                @if let Some(w) = wheelchair { li class="sp-tag" { (w) } }
            }
        }
    }
}

/// One-tap links: phone, messaging apps, e-mail, website, directions and the map.
fn actions(ui: &Ui, d: &ContactPoint) -> Markup {
    let s = &ui.s;
    let c = &d.contacts;
    let (lat, lon) = (d.position.lat.degrees(), d.position.lon.degrees());
    let telegram = c.telegram.as_deref().map(|t| {
        if let Some(name) = t.strip_prefix('@') {
            format!("https://t.me/{name}")
        } else if t.starts_with("https://") {
            t.to_string()
        } else {
            format!("https://t.me/{}", dial(t))
        }
    });
    // Signal links only phone numbers; a user name is shown for the person to type.
    let signal = c.signal.as_deref().map(|v| if v.trim_start().starts_with('+') { (Some(format!("https://signal.me/#p/{}", dial(v))), v) } else { (None, v) });
    html! {
        ul class="sp-actions" {
            @if let Some(p) = &c.phone {
                li { a class="sp-action" href={ "tel:" (dial(p)) } { (s.call) " " span class="sp-action__detail" { bdi dir="ltr" { (p) } } } }
            }
            @if let Some(w) = &c.whatsapp {
                li { a class="sp-action" rel="noopener noreferrer" href={ "https://wa.me/" (dial(w).trim_start_matches('+')) } { "WhatsApp" } }
            }
            @if let Some((link, v)) = &signal {
                li {
                    @if let Some(href) = link { a class="sp-action" rel="noopener noreferrer" href=(href) { "Signal" } }
                    @else { span class="sp-action sp-action--text" { "Signal " bdi dir="ltr" { (v) } } }
                }
            }
            @if let Some(t) = &telegram {
                li { a class="sp-action" rel="noopener noreferrer" href=(t) { "Telegram" } }
            }
            @if let Some(e) = &c.email {
                li { a class="sp-action" href={ "mailto:" (e) } { (s.email) } }
            }
            @if let Some(w) = &c.website {
                li { a class="sp-action" rel="noopener noreferrer" href=(w) { (s.website) } }
            }
            li { a class="sp-action" href={ "geo:" (lat) "," (lon) } { (s.directions) } }
            li { a class="sp-action" rel="noopener noreferrer" href={ "https://www.openstreetmap.org/?mlat=" (lat) "&mlon=" (lon) "#map=17/" (lat) "/" (lon) } { "OpenStreetMap" } }
        }
    }
}

/// Organisation, city and distance.
fn meta(ui: &Ui, d: &ShownDesk) -> Markup {
    let p = &d.desk;
    html! {
        p class="sp-meta" {
            bdi { (p.organization) } " · " bdi { (p.address.city) }
            @if let Some(m) = d.distance_m { " · " strong { (distance(ui, m)) } }
        }
    }
}

fn card(ui: &Ui, tax: &Taxonomy, d: &ShownDesk) -> Markup {
    let p = &d.desk;
    html! {
        article class="sp-desk" aria-labelledby={ "desk-" (p.id) } {
            h3 id={ "desk-" (p.id) } { a href={ "/d/" (p.id) "?ui=" (ui.code) } { bdi { (p.name) } } }
            (meta(ui, d))
            (hours(ui, d))
            (facts(ui, tax, p))
            (actions(ui, p))
            p class="sp-more" { a href={ "/d/" (p.id) "?ui=" (ui.code) } { (ui.s.details) span class="sp-visually-hidden" { ": " (p.name) } } }
        }
    }
}

fn error_summary(ui: &Ui, problem: &Problem) -> Markup {
    let message = problem.message(ui);
    html! {
        div class="sp-error-summary" role="alert" aria-labelledby="error-title" tabindex="-1" {
            h2 id="error-title" { (ui.s.error_title) }
            ul {
                li {
                    @match (problem.field(), problem.label(ui)) {
                        (Some(f), Some(label)) => { a href={ "#" (f) } { (label) ": " (message) } }
                        _ => { (message) }
                    }
                }
            }
        }
    }
}

/// A form field's wrapper, label and error message; `control` is the input itself.
fn field(id: &str, label: &str, error: Option<&str>, control: Markup) -> Markup {
    html! {
        div class={ "sp-field" @if error.is_some() { " sp-field--error" } } {
            label for=(id) { (label) }
            @if let Some(e) = error { p id={ (id) "-error" } class="sp-error-message" { (e) } }
            (control)
        }
    }
}

fn form(ui: &Ui, catalog: &Catalog, tax: &Taxonomy, echo: &Echo, problem: Option<&Problem>) -> Markup {
    let s = &ui.s;
    let error_for = |id: &str| problem.filter(|p| p.field() == Some(id)).map(|p| p.message(ui));
    let described = |id: &str| error_for(id).map(|_| format!("{id}-error"));
    let invalid = |id: &str| error_for(id).map(|_| "true");
    let keep_position = !echo.lat.is_empty() && !echo.lon.is_empty() && problem != Some(&Problem::Position);
    let other_lang = !echo.lang.is_empty() && catalog.get(&echo.lang).is_none();
    let other_domain = !echo.domain.is_empty() && Domain::parse(&echo.domain).is_none();
    html! {
        form class="sp-form" method="get" action="/list" novalidate {
            input type="hidden" name="ui" value=(ui.code);
            @if keep_position {
                input type="hidden" name="lat" value=(echo.lat);
                input type="hidden" name="lon" value=(echo.lon);
            }
            (field("place", &s.place_label, error_for("place").as_deref(), html! {
                input class="sp-input" type="text" id="place" name="place" value=(echo.place) maxlength="100"
                    autocomplete="address-level2" spellcheck="false" aria-describedby=[described("place")] aria-invalid=[invalid("place")];
            }))
            (field("lang", &s.lang_label, error_for("lang").as_deref(), html! {
                select class="sp-select" id="lang" name="lang" aria-describedby=[described("lang")] aria-invalid=[invalid("lang")] {
                    option value="" selected[echo.lang.is_empty()] { (s.lang_any) }
                    @for l in &catalog.langs {
                        option value=(l.code) lang=(l.code) selected[echo.lang == l.code] { (l.native) }
                    }
                    @if other_lang { option value=(echo.lang) selected { (echo.lang) } }
                }
            }))
            (field("domain", &s.need_label, error_for("domain").as_deref(), html! {
                select class="sp-select" id="domain" name="domain" aria-describedby=[described("domain")] aria-invalid=[invalid("domain")] {
                    option value="" selected[echo.domain.is_empty()] { (s.need_any) }
                    @for d in Domain::ALL {
                        option value=(d.code()) selected[echo.domain == d.code()] { (tax.label(*d, &ui.code)) }
                    }
                    @if other_domain { option value=(echo.domain) selected { (echo.domain) } }
                }
            }))
            (field("q", &s.q_label, error_for("q").as_deref(), html! {
                input class="sp-input" type="text" id="q" name="q" value=(echo.q) maxlength="200"
                    aria-describedby=[described("q")] aria-invalid=[invalid("q")];
            }))
            button class="sp-button" type="submit" { (s.submit) }
        }
    }
}

fn results(ui: &Ui, tax: &Taxonomy, r: &Results) -> Markup {
    let s = &ui.s;
    let needs = r.understood.iter().map(|d| tax.label(*d, &ui.code)).collect::<Vec<_>>().join(", ");
    html! {
        section class="sp-results" aria-labelledby="results-title" {
            h2 id="results-title" {
                @if let Some(town) = r.place {
                    @let (before, after) = split(&s.results_near, "place");
                    (before) bdi { (town.name) } (after)
                } @else if r.positioned {
                    (s.results_here)
                } @else {
                    (s.results_found)
                }
            }
            @if !needs.is_empty() { p class="sp-understood" { (fill(&s.understood, "needs", &needs)) } }
            @if r.desks.is_empty() {
                p { (s.results_none) }
            } @else {
                ol class="sp-desks" {
                    @for d in r.desks { li { (card(ui, tax, d)) } }
                }
            }
        }
    }
}

/// The list page: the form, the problem if there is one, and the desks if there are any.
pub fn list_page(ui: &Ui, catalog: &Catalog, tax: &Taxonomy, echo: &Echo, problem: Option<&Problem>, found: Option<&Results>) -> String {
    let main = html! {
        h1 { (ui.s.page_title) }
        p class="sp-lead" { (ui.s.intro) }
        // On a phone the desks start below the form: one tap takes the reader there.
        @if found.is_some_and(|r| !r.desks.is_empty()) { p class="sp-jump" { a href="#results-title" { (ui.s.results_found) } } }
        @if let Some(p) = problem { (error_summary(ui, p)) }
        (form(ui, catalog, tax, echo, problem))
        @if let Some(r) = found { (results(ui, tax, r)) }
    };
    layout(ui, catalog, &ui.s.page_title, html! {}, &|code| echo.href(code), main)
}

/// Text of a preview: at most 200 characters.
fn preview(text: &str) -> String {
    if text.chars().count() <= 200 { text.to_string() } else { format!("{}…", text.chars().take(199).collect::<String>().trim_end()) }
}

/// A desk's own page, with Open Graph tags for messaging apps' previews.
pub fn desk_page(ui: &Ui, catalog: &Catalog, tax: &Taxonomy, d: &ShownDesk) -> String {
    let p = &d.desk;
    let text = description(p, ui);
    let summary = preview(&text.map(|(_, t)| t.to_string()).unwrap_or_else(|| format!("{} · {}", p.organization, p.address.city)));
    let head = html! {
        meta name="description" content=(summary);
        meta property="og:type" content="website";
        meta property="og:site_name" content="sportello";
        meta property="og:title" content=(p.name);
        meta property="og:description" content=(summary);
        meta property="og:locale" content=(ui.code);
        meta name="twitter:card" content="summary";
    };
    let a = &p.address;
    let (lat, lon) = (p.position.lat.degrees(), p.position.lon.degrees());
    let main = html! {
        article class="sp-desk sp-desk--page" {
            h1 { bdi { (p.name) } }
            (meta(ui, d))
            p class="sp-address" {
                @if let Some(street) = &a.street { bdi { (street) } br; }
                bdi { @if let Some(pc) = &a.postcode { (pc) " " } (a.city) } " · " (a.country)
            }
            @if let Some((lang, t)) = text { p class="sp-description" lang=(lang) dir="auto" { (t) } }
            (hours(ui, d))
            (facts(ui, tax, p))
            (actions(ui, p))
        }
        p class="sp-back" { a href={ "/list?lat=" (lat) "&lon=" (lon) "&ui=" (ui.code) } { (ui.s.back) } }
    };
    let id = p.id.clone();
    layout(ui, catalog, &p.name, head, &move |code| format!("/d/{id}?ui={code}"), main)
}

/// A page that only says something went wrong (no such desk, busy, a failure), with a way back.
pub fn message_page(ui: &Ui, catalog: &Catalog, problem: Option<&Problem>, switch: &dyn Fn(&str) -> String) -> String {
    let message = problem.map_or_else(|| ui.s.not_found.clone(), |p| p.message(ui));
    let main = html! {
        h1 { (ui.s.error_title) }
        p class="sp-lead" { (message) }
        p class="sp-back" { a href={ "/list?ui=" (ui.code) } { (ui.s.back) } }
    };
    layout(ui, catalog, &ui.s.error_title, html! {}, switch, main)
}
