//! The pages that work without JavaScript (`/list`, `/d/{id}`): every one of the 30 interface
//! languages with its own strings and direction, the same desks in the same order as the API,
//! Open Graph previews, escaping of desk data, strict headers, bad input shown on the form with
//! 400, and the weight of a full list page as a browser receives it.

use std::io::Read;
use std::sync::Arc;

use sportello::http::AppState;
use sportello::http::pages::PAGE_CSP;
use sportello::http::pages::i18n::{Catalog, EMBEDDED_UI};
use sportello::model::Taxonomy;

use crate::support::{Answer, Server, embedded, get, get_with, minimal_desk, snapshot_of, synthetic};

const RTL: [&str; 4] = ["ar", "fa", "ps", "ur"];

/// Text as the pages escape it (maud escapes these four).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html(a: &Answer) -> String {
    assert!(a.content_type().starts_with("text/html"), "an HTML page, got {}", a.content_type());
    String::from_utf8(a.body.clone()).expect("UTF-8")
}

/// The desk ids a list page shows, in order.
fn desk_ids(page: &str) -> Vec<String> {
    page.split("<article class=\"sp-desk\" aria-labelledby=\"desk-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

fn api_ids(a: &Answer) -> Vec<String> {
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    a.json()["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_language_has_every_key_and_no_key_is_empty() {
    let tax = Taxonomy::embedded();
    let c = Catalog::from_json(EMBEDDED_UI, tax).expect("data/ui.json is valid");
    assert_eq!(c.langs.len(), 30);
    let codes: Vec<&str> = c.langs.iter().map(|u| u.code.as_str()).collect();
    for code in "ar fa ps ur ti so am uk ru tr sq ro bg el sl sr hr zh bn pa tl wo fr en it es pt de nl pl".split(' ') {
        assert!(codes.contains(&code), "{code} missing");
    }
    let file: serde_json::Value = serde_json::from_str(EMBEDDED_UI).unwrap();
    let strings = file["strings"].as_object().unwrap();
    let english = strings["en"].as_object().unwrap();
    assert!((30..=60).contains(&english.len()), "a small key set: {}", english.len());
    for (code, v) in strings {
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), english.len(), "{code}: every key");
        for (k, s) in o {
            assert!(english.contains_key(k), "{code}: unknown key {k}");
            assert!(!s.as_str().unwrap().trim().is_empty(), "{code}.{k} is empty");
        }
    }
    // A real translation each: the page title is never the English one outside English.
    for (code, v) in strings {
        if code != "en" {
            assert_ne!(v["page_title"], english["page_title"], "{code} page_title is English");
            assert_ne!(v["intro"], english["intro"], "{code} intro is English");
        }
    }
    for u in &c.langs {
        assert_eq!(u.rtl, RTL.contains(&u.code.as_str()), "{} direction", u.code);
    }
}

#[test]
fn a_broken_strings_file_is_refused_naming_language_and_key() {
    let tax = Taxonomy::embedded();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(EMBEDDED_UI).unwrap();
        f(&mut v);
        Catalog::from_json(&v.to_string(), tax).map(|_| ()).unwrap_err()
    };
    let e = edit(&|v| {
        v["strings"]["so"].as_object_mut().unwrap().remove("call");
    });
    assert!(e.contains("`so`") && e.contains("call"), "{e}");
    let e = edit(&|v| v["strings"]["wo"]["back"] = "  ".into());
    assert!(e.contains("`wo`.`back` is empty"), "{e}");
    let e = edit(&|v| v["strings"]["pl"]["bogus"] = "x".into());
    assert!(e.contains("`pl`") && e.contains("bogus"), "{e}");
    let e = edit(&|v| v["strings"]["de"]["results_near"] = "Stellen in der Nähe".into());
    assert!(e.contains("`de`.`results_near`") && e.contains("place"), "{e}");
    let e = edit(&|v| {
        v["strings"].as_object_mut().unwrap().remove("ti");
    });
    assert!(e.contains("no strings for `ti`"), "{e}");
    let e = edit(&|v| v["strings"]["xx"] = serde_json::json!({}));
    assert!(e.contains("`xx`"), "{e}");
}

#[tokio::test]
async fn every_language_renders_the_list_and_a_desk_page_in_its_own_strings_and_direction() {
    let s = embedded();
    let c = Catalog::embedded();
    let english = c.get("en").unwrap();
    for u in &c.langs {
        let dir = if RTL.contains(&u.code.as_str()) { "rtl" } else { "ltr" };
        let a = get(&s, &format!("/list?place=Milano&ui={}", u.code)).await;
        assert_eq!(a.status, 200, "{}", u.code);
        let page = html(&a);
        assert!(page.contains(&format!("<html lang=\"{}\" dir=\"{dir}\">", u.code)), "{}: lang and dir", u.code);
        for text in [&u.s.page_title, &u.s.intro, &u.s.place_label, &u.s.lang_label, &u.s.need_label, &u.s.submit, &u.s.languages, &u.s.needs, &u.s.directions, &u.s.details, &u.s.privacy] {
            assert!(page.contains(&esc(text)), "{}: {text:?} missing from the list page", u.code);
        }
        let (before, _) = u.s.results_near.split_once("{place}").unwrap();
        assert!(page.contains(&esc(before)), "{}: results heading", u.code);
        if u.code != "en" {
            assert!(!page.contains(&esc(&english.s.intro)), "{}: English intro on the page", u.code);
        }
        assert_eq!(desk_ids(&page).len(), 10, "{}", u.code);
        assert!(page.contains(&format!("<a href=\"#results-title\">{}</a>", esc(&u.s.results_found))), "{}: a link down to the desks", u.code);
        // The domain labels come from the taxonomy, in this language.
        let label = Taxonomy::embedded().label(sportello::model::Domain::FamilyReunification, &u.code);
        assert!(page.contains(&esc(label)), "{}: taxonomy label", u.code);

        let d = get(&s, &format!("/d/it-milano-anolf?ui={}", u.code)).await;
        assert_eq!(d.status, 200, "{}", u.code);
        let desk = html(&d);
        assert!(desk.contains(&format!("<html lang=\"{}\" dir=\"{dir}\">", u.code)), "{}: desk page lang and dir", u.code);
        for text in [&u.s.back, &u.s.languages, &u.s.needs, &u.s.call, &u.s.directions] {
            assert!(desk.contains(&esc(text)), "{}: {text:?} missing from the desk page", u.code);
        }
        assert!(desk.contains(&format!("<meta property=\"og:locale\" content=\"{}\">", u.code)));
    }
}

#[tokio::test]
async fn the_list_shows_the_same_desks_in_the_same_order_as_the_api() {
    let s = embedded();
    let cases: &[(&str, &str)] = &[
        ("place=Milano&lang=ar&domain=family-reunification&ui=it", "/api/v1/nearest?place=Milano&lang=ar&domain=family-reunification&ui=it&k=10"),
        ("lat=50.85&lon=4.35&ui=fr", "/api/v1/nearest?lat=50.85&lon=4.35&k=10"),
        ("place=Sofia&lang=uk,ru&ui=bg", "/api/v1/nearest?place=Sofia&lang=uk,ru&ui=bg&k=10"),
        ("place=Athens&domain=asylum-protection&ui=el", "/api/v1/nearest?place=Athens&domain=asylum-protection&ui=el&k=10"),
        ("q=permesso+di+soggiorno&place=Pordenone&ui=it", "/api/v1/search?q=permesso+di+soggiorno&place=Pordenone&ui=it&limit=10"),
        ("q=%D9%84%D9%85+%D8%B4%D9%85%D9%84+%D8%A7%D9%84%D8%A3%D8%B3%D8%B1%D8%A9&ui=ar", "/api/v1/search?q=%D9%84%D9%85+%D8%B4%D9%85%D9%84+%D8%A7%D9%84%D8%A3%D8%B3%D8%B1%D8%A9&limit=10"),
        ("q=housing&lat=45.46&lon=9.19&lang=ar&ui=en", "/api/v1/search?q=housing&lat=45.46&lon=9.19&lang=ar&limit=10"),
        ("domain=legal-aid&ui=en", "/api/v1/search?domain=legal-aid&limit=10"),
    ];
    for (list, api) in cases {
        let page = get(&s, &format!("/list?{list}")).await;
        assert_eq!(page.status, 200, "{list}");
        let ids = desk_ids(&html(&page));
        assert!(!ids.is_empty(), "{list}: some desks");
        assert_eq!(ids, api_ids(&get(&s, api).await), "{list} against {api}");
    }
    // On synthetic data too, where pages are full.
    let syn = synthetic();
    for (list, api) in [
        ("lat=48.85&lon=2.35&lang=ti&ui=ti", "/api/v1/nearest?lat=48.85&lon=2.35&lang=ti&k=10"),
        ("q=ricongiungimento+familiare&lat=45.46&lon=9.19&ui=it", "/api/v1/search?q=ricongiungimento+familiare&lat=45.46&lon=9.19&limit=10"),
    ] {
        let ids = desk_ids(&html(&get(&syn, &format!("/list?{list}")).await));
        assert_eq!(ids.len(), 10, "{list}");
        assert_eq!(ids, api_ids(&get(&syn, api).await), "{list}");
    }
}

#[tokio::test]
async fn a_desk_page_has_an_open_graph_preview_escaped() {
    let mut d = minimal_desk("it-test-og", 45.46, 9.19);
    d.name = "Café \"Le <b>Bon</b>\" & Co".into();
    d.description.insert("it".into(), "Aiuto <i>gratuito</i> \"subito\" & bene".into());
    d.description.insert("en".into(), "Free help, at once".into());
    let s = Arc::new(snapshot_of(vec![d]));
    let a = get(&s, "/d/it-test-og?ui=it").await;
    assert_eq!(a.status, 200);
    let page = html(&a);
    assert!(page.contains("<meta property=\"og:title\" content=\"Café &quot;Le &lt;b&gt;Bon&lt;/b&gt;&quot; &amp; Co\">"), "{page}");
    assert!(page.contains("<meta property=\"og:description\" content=\"Aiuto &lt;i&gt;gratuito&lt;/i&gt; &quot;subito&quot; &amp; bene\">"));
    assert!(page.contains("<meta property=\"og:type\" content=\"website\">"));
    assert!(page.contains("<meta property=\"og:site_name\" content=\"sportello\">"));
    assert!(!page.contains("<b>") && !page.contains("<i>"), "desk text is never markup");
    // The description follows the UI language, else English.
    let en = html(&get(&s, "/d/it-test-og?ui=de").await);
    assert!(en.contains("content=\"Free help, at once\""));
    // Shareable: the same for everyone, so it may be cached briefly, varying on the language.
    assert_eq!(a.headers["cache-control"], "public, max-age=300");
    assert!(a.headers.get_all("vary").iter().any(|v| v == "accept-language"));
}

#[tokio::test]
async fn desk_data_is_rendered_as_text_never_as_markup() {
    let mut d = minimal_desk("it-test-xss", 45.46, 9.19);
    d.name = "<script>alert(1)</script>".into();
    d.organization = "<img src=x onerror=alert(2)>".into();
    d.address.city = "\"><svg onload=alert(3)>".into();
    let s = Arc::new(snapshot_of(vec![d]));
    for uri in ["/list?lat=45.46&lon=9.19&ui=en", "/d/it-test-xss?ui=ar"] {
        let page = html(&get(&s, uri).await);
        assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("<svg onload"), "{uri}: {page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{uri}");
        assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"), "{uri}");
        assert!(page.contains("&quot;&gt;&lt;svg onload=alert(3)&gt;"), "{uri}");
    }
    // What a person typed is escaped too.
    let a = get(&s, "/list?place=%3Cscript%3Ex%3C%2Fscript%3E&ui=en").await;
    assert_eq!(a.status, 400);
    let page = html(&a);
    assert!(!page.contains("<script") && page.contains("&lt;script&gt;x&lt;/script&gt;"));
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_no_cookies() {
    let s = embedded();
    for uri in ["/list", "/list?place=Milano", "/list?lat=nope&lon=1", "/d/it-milano-anolf", "/d/nobody-here", "/list?q=lavoro&ui=it"] {
        let a = get(&s, uri).await;
        let page = html(&a);
        assert_eq!(a.headers["content-security-policy"], PAGE_CSP, "{uri}");
        assert!(PAGE_CSP.contains("script-src") || !PAGE_CSP.contains("'unsafe"), "no inline script or eval");
        assert!(a.headers.get("set-cookie").is_none(), "{uri}: no cookie");
        assert_eq!(a.headers["referrer-policy"], "no-referrer", "{uri}");
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{uri}");
        // Nothing that would run or load from elsewhere: no scripts, no inline styles, only our
        // own stylesheet.
        assert!(!page.contains("<script") && !page.contains(" style=") && !page.contains("<style"), "{uri}");
        assert!(!page.contains("<img") && !page.contains("<iframe"), "{uri}");
        for link in page.split("<link ").skip(1) {
            let href = link.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
            assert!(href.starts_with('/'), "{uri}: {href} is not our own");
        }
    }
    // Pages that carry a position or search words are never stored.
    for uri in ["/list?place=Milano", "/list?lat=45.46&lon=9.19", "/list?q=casa", "/list?place=Xyzzy"] {
        assert_eq!(get(&s, uri).await.headers["cache-control"], "no-store", "{uri}");
    }
    // The API keeps its own, stricter policy.
    let api = get(&s, "/api/v1/nearest?lat=45&lon=9").await;
    assert_eq!(api.headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
    let css = get(&s, "/assets/pages.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.content_type(), "text/css; charset=utf-8");
}

#[test]
fn the_stylesheet_mirrors_for_right_to_left_and_respects_reduced_motion() {
    let css = sportello::http::pages::render::CSS;
    for physical in ["margin-left", "margin-right", "padding-left", "padding-right", "border-left", "border-right", "text-align: left", "text-align: right", "float:", " left:", " right:"] {
        assert!(!css.contains(physical), "physical property `{physical}`: use logical properties so pages mirror");
    }
    assert!(css.contains("prefers-reduced-motion"));
    assert!(css.contains(":focus"));
    assert!(!css.contains("url("), "no fonts or images fetched");
    assert!(!css.contains("@import"));
}

#[tokio::test]
async fn bad_input_shows_the_form_again_with_400_naming_the_field() {
    let s = embedded();
    let it = Catalog::embedded().get("it").unwrap();
    let label_and = |label: &str, msg: &str| esc(&format!("{label}: {msg}"));
    let cases: Vec<(String, Option<&str>, String)> = vec![
        ("lang=english".into(), Some("lang"), label_and(&it.s.lang_label, &it.s.error_lang)),
        ("place=Milano&domain=family-reunion".into(), Some("domain"), label_and(&it.s.need_label, &it.s.error_need)),
        (format!("q={}", "a".repeat(201)), Some("q"), label_and(&it.s.q_label, &it.s.error_too_long)),
        (format!("place={}", "b".repeat(101)), Some("place"), label_and(&it.s.place_label, &it.s.error_too_long)),
        ("place=Xyzzyqwv".into(), Some("place"), label_and(&it.s.place_label, &it.s.error_place.replace("{value}", "Xyzzyqwv"))),
        ("lat=abc&lon=9".into(), None, esc(&it.s.error_position)),
        ("lat=91&lon=9".into(), None, esc(&it.s.error_position)),
        ("colour=red".into(), None, esc(&it.s.error_param.replace("{value}", "colour"))),
        ("lang=ar&lang=fa".into(), Some("lang"), label_and(&it.s.lang_label, &it.s.error_lang)),
    ];
    for (query, field, message) in cases {
        let a = get(&s, &format!("/list?{query}&ui=it")).await;
        assert_eq!(a.status, 400, "{query}");
        let page = html(&a);
        assert!(page.contains(&esc(&it.s.error_title)), "{query}: error summary");
        assert!(page.contains(&message), "{query}: {message}");
        assert!(page.contains("<form class=\"sp-form\""), "{query}: the form is shown again");
        assert!(page.contains("<html lang=\"it\""), "{query}: in the UI language");
        if let Some(f) = field {
            assert!(page.contains(&format!("<a href=\"#{f}\">")), "{query}: summary links to #{f}");
            assert!(page.contains(&format!("id=\"{f}-error\"")), "{query}: message at the field");
            assert!(page.contains(&format!("aria-describedby=\"{f}-error\" aria-invalid=\"true\"")), "{query}: field marked invalid");
        }
        assert!(desk_ids(&page).is_empty(), "{query}: no desks");
    }
    // What was typed stays in the form.
    let page = html(&get(&s, "/list?place=Xyzzyqwv&q=casa&ui=it").await);
    assert!(page.contains("name=\"place\" value=\"Xyzzyqwv\"") && page.contains("name=\"q\" value=\"casa\""));
    // A desk page with a parameter it does not take.
    let a = get(&s, "/d/it-milano-anolf?colour=red").await;
    assert_eq!(a.status, 400);
    assert!(html(&a).contains("colour"));
}

#[tokio::test]
async fn the_language_comes_from_ui_else_the_browser_and_can_be_switched() {
    let s = embedded();
    let state = || AppState::shared(s.clone());
    let fa = html(&get_with(state(), "/list?place=Milano", &[("accept-language", "fa-IR,fa;q=0.9,en;q=0.5")]).await);
    assert!(fa.contains("<html lang=\"fa\" dir=\"rtl\">"));
    let de = html(&get_with(state(), "/list?place=Milano&ui=de", &[("accept-language", "fa-IR")]).await);
    assert!(de.contains("<html lang=\"de\" dir=\"ltr\">"));
    let en = html(&get_with(state(), "/list", &[("accept-language", "ja-JP, ku")]).await);
    assert!(en.contains("<html lang=\"en\" dir=\"ltr\">"));
    let unknown_ui = html(&get_with(state(), "/list?ui=xx", &[("accept-language", "pl")]).await);
    assert!(unknown_ui.contains("<html lang=\"pl\""));
    // The switch keeps the question and names each language in its own script.
    assert!(de.contains("<a href=\"/list?place=Milano&amp;ui=ar\" lang=\"ar\" hreflang=\"ar\" dir=\"rtl\">العربية</a>"));
    assert!(de.contains(">ትግርኛ</a>") && de.contains(">中文</a>") && de.contains(">ਪੰਜਾਬੀ</a>"));
    assert!(de.contains("aria-current=\"page\">Deutsch</a>"));
    // Desk languages are named in their own script too.
    assert!(de.contains("<bdi lang=\"ar\">العربية</bdi>"));
}

#[tokio::test]
async fn the_form_alone_a_missing_desk_and_the_root() {
    let s = embedded();
    let a = get(&s, "/list?ui=so").await;
    assert_eq!(a.status, 200);
    let page = html(&a);
    assert!(page.contains("<form") && !page.contains("sp-results"));
    let missing = get(&s, "/d/no-such-desk?ui=sq").await;
    assert_eq!(missing.status, 404);
    assert!(html(&missing).contains(&esc(&Catalog::embedded().get("sq").unwrap().s.not_found)));
    let root = get(&s, "/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.headers["location"], "/demo");
    let root = get(&s, "/?ui=ar").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.headers["location"], "/demo?ui=ar");
    // A link to `/` that asked for desks still finds them.
    let root = get(&s, "/?place=Milano&ui=ar").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.headers["location"], "/list?place=Milano&ui=ar");
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).expect("gzip");
    out
}

#[tokio::test]
async fn a_full_list_page_weighs_at_most_30_kb_compressed() {
    const LIMIT: usize = 30 * 1024;
    let browser = "gzip, deflate, br, zstd";
    for (name, s, uri) in [
        ("sample, Milan, ar", embedded(), "/list?place=Milano&ui=ar"),
        ("sample, Brussels, en", embedded(), "/list?lat=50.85&lon=4.35&ui=en"),
        ("synthetic, Paris, fr", synthetic(), "/list?lat=48.85&lon=2.35&ui=fr"),
    ] {
        let raw = get(&s, uri).await;
        // Pages are compressed on the fly: a browser's list gets zstd (the best it offers).
        let br = get_with(AppState::shared(s.clone()), uri, &[("accept-encoding", browser)]).await;
        let gz = get_with(AppState::shared(s.clone()), uri, &[("accept-encoding", "gzip")]).await;
        assert_eq!(br.headers["content-encoding"], "zstd");
        assert_eq!(gz.headers["content-encoding"], "gzip");
        assert_eq!(gunzip(&gz.body), raw.body, "{name}: the same page");
        assert_eq!(desk_ids(&html(&raw)).len(), 10, "{name}: a full page");
        println!("/list {name}: {} B raw, {} B gzip, {} B zstd", raw.body.len(), gz.body.len(), br.body.len());
        assert!(br.body.len() <= LIMIT && gz.body.len() <= LIMIT, "{name}: over 30 KB");
    }
    let css = get_with(AppState::shared(embedded()), "/assets/pages.css", &[("accept-encoding", browser)]).await;
    println!("/assets/pages.css: {} B zstd (cached once)", css.body.len());
    assert!(css.body.len() <= 4 * 1024);
}

#[tokio::test]
async fn a_real_server_serves_the_pages_over_loopback() {
    // At the most verbose logging, so the log can be searched for what was asked.
    let server = Server::start(&[], &[("RUST_LOG", "trace")]).await;
    // Decompressed by hand, to see what was sent.
    let client = reqwest::Client::builder().no_gzip().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(format!("{}/list?place=Pordenone&lang=ar&ui=ar", server.base)).header("accept-encoding", "gzip").send().await.unwrap();
    let searched = client.get(format!("{}/list?q=ricongiungimento&lat=45.9564&lon=12.6615&ui=it", server.base)).send().await.unwrap();
    assert_eq!(searched.status(), 200);
    assert!(searched.headers()["cache-control"] == "no-store");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert!(res.headers().get("set-cookie").is_none());
    let body = gunzip(&res.bytes().await.unwrap());
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(!desk_ids(&page).is_empty());
    let first = &desk_ids(&page)[0];
    let desk = client.get(format!("{}/d/{first}?ui=ar", server.base)).send().await.unwrap();
    assert_eq!(desk.status(), 200);
    assert!(desk.text().await.unwrap().contains("og:title"));
    let root = client.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(root.status(), 303);
    let css = client.get(format!("{}/assets/pages.css", server.base)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    let log = server.stop();
    assert!(log.contains("/list"), "the access log names the route");
    for secret in ["Pordenone", "ricongiungimento", "45.9564", "12.6615"] {
        assert!(!log.contains(secret), "the log holds `{secret}`");
    }
}
