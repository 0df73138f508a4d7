//! The widget's routes through the router: the embedded script and stylesheet are the committed
//! built files, cacheable with a strong `ETag` and `304`; its strings per language; today's hours
//! as the pages compute them; the Natural Earth base map's tiles (`200`, `204` for open sea, `400`
//! naming the part at fault); `/demo` and `/embed` with a policy that allows no inline script,
//! `/embed` framable by the partners only when partners are configured, and bad `/embed`
//! parameters answered with problem+json naming them. (The widget itself runs in a real
//! browser in `tests/browser/widget.mjs`.)

use sportello::http::AppState;
use sportello::http::parse_origin;
use sportello::http::pages::i18n::Catalog;
use sportello::http::widget::{OPERATOR_BASEMAP_JS, WIDGET_CSS, WIDGET_JS};
use sportello::query::open;

use crate::support::{embedded, get, get_with};

fn header<'a>(a: &'a crate::support::Answer, name: &str) -> &'a str {
    a.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Browsers' first view: the embedded script and stylesheets go out compressed once at the best
/// levels (brotli 11, else gzip 9) rather than at the compression layer's fastest level; every
/// form decompresses to the file, is one the client asked for, and keeps the file's `ETag`.
#[tokio::test]
async fn embedded_files_go_out_compressed_at_the_best_level_once_ready() {
    use std::io::Read;
    let s = embedded();
    let browser = "gzip, deflate, br, zstd";
    for (path, bytes) in [
        ("/widget.js", WIDGET_JS),
        ("/widget.css", WIDGET_CSS),
        ("/widget/operator-basemap.js", OPERATOR_BASEMAP_JS),
        ("/assets/pages.css", sportello::http::pages::render::CSS.as_bytes()),
    ] {
        // The first request starts the compression off the request path; until it is done the
        // answer is the compression layer's (fast zstd here).
        let first = get_with(AppState::shared(s.clone()), path, &[("accept-encoding", browser)]).await;
        let mut best = None;
        for _ in 0..200 {
            let a = get_with(AppState::shared(s.clone()), path, &[("accept-encoding", browser)]).await;
            if header(&a, "content-encoding") == "br" {
                best = Some(a);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let best = best.unwrap_or_else(|| panic!("{path}: never answered with brotli"));
        let mut plain = Vec::new();
        brotli_decompressor::Decompressor::new(&best.body[..], 4096).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, bytes, "{path}: brotli form");
        assert!(header(&best, "vary").to_ascii_lowercase().contains("accept-encoding"), "{path}");
        assert!(best.body.len() <= first.body.len(), "{path}: best {} > first {} ({})", best.body.len(), first.body.len(), header(&first, "content-encoding"));
        assert_eq!(header(&best, "etag"), header(&first, "etag"), "{path}: one validator for every form");

        let gz = get_with(AppState::shared(s.clone()), path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(header(&gz, "content-encoding"), "gzip", "{path}");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz.body[..]).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, bytes, "{path}: gzip form");
        let none = get_with(AppState::shared(s.clone()), path, &[("accept-encoding", "identity")]).await;
        assert_eq!((header(&none, "content-encoding"), &none.body[..]), ("", bytes), "{path}: identity");
        println!("{path}: {} bytes, brotli {}, gzip {}, first answer {} ({})", bytes.len(), best.body.len(), gz.body.len(), first.body.len(), header(&first, "content-encoding"));
    }
}

#[tokio::test]
async fn script_and_stylesheet_are_the_committed_build_cacheable_with_etags() {
    let s = embedded();
    for (path, bytes, kind, file) in [
        ("/widget.js", WIDGET_JS, "text/javascript", "src/widget/dist/widget.js"),
        ("/widget.css", WIDGET_CSS, "text/css", "src/widget/dist/widget.css"),
        ("/widget/operator-basemap.js", OPERATOR_BASEMAP_JS, "text/javascript", "src/widget/dist/operator-basemap.js"),
    ] {
        let a = get(&s, path).await;
        assert_eq!(a.status, 200);
        assert!(a.content_type().starts_with(kind), "{path}: {}", a.content_type());
        assert_eq!(a.body, bytes);
        assert_eq!(a.body, std::fs::read(file).unwrap(), "{path} serves {file}");
        assert_eq!(header(&a, "cache-control"), "public, max-age=300");
        let etag = header(&a, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let again = get_with(AppState::shared(s.clone()), path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(get(&s, &format!("{path}?x=1")).await.status, 400);
    }
    // The bundle is minified and carries no source map or build date.
    let js = String::from_utf8_lossy(WIDGET_JS);
    assert!(!js.contains("sourceMappingURL"));
    assert!(js.lines().count() < 40, "minified: {} lines", js.lines().count());
}

#[tokio::test]
async fn strings_in_every_language_with_direction_and_the_language_list() {
    let s = embedded();
    for ui in &Catalog::embedded().langs {
        let a = get(&s, &format!("/widget/ui/{}.json", ui.code)).await;
        assert_eq!(a.status, 200, "{}", ui.code);
        let v = a.json();
        assert_eq!(v["ui"], ui.code.as_str());
        assert_eq!(v["rtl"], ui.rtl);
        assert_eq!(v["strings"]["widget_my_position"], ui.s.widget_my_position.as_str());
        assert_eq!(v["strings"]["results_near"], ui.s.results_near.as_str());
        assert_eq!(v["languages"].as_array().unwrap().len(), 30);
        assert_eq!(header(&a, "cache-control"), "public, max-age=300");
    }
    let a = get(&s, "/widget/ui/xx.json").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.content_type(), "application/problem+json");
}

#[tokio::test]
async fn today_gives_the_hours_the_pages_show_and_is_never_cached() {
    let s = embedded();
    let a = get(&s, "/widget/today?ids=it-milano-anolf,no-such-desk,be-bruxelles-etuc").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(header(&a, "cache-control"), "no-store");
    let v = a.json();
    let o = v.as_object().unwrap();
    assert!(!o.contains_key("no-such-desk"));
    let ord = s.desks.ord_of("it-milano-anolf").unwrap();
    let want = open::today(&s.desks.desk(ord).unwrap(), chrono::Utc::now());
    assert_eq!(o["it-milano-anolf"]["open_now"], serde_json::json!(want.open_now));
    assert_eq!(o["it-milano-anolf"]["hours"], serde_json::json!(want.hours));
    for (q, name) in [("", "ids"), ("ids=", "ids"), ("ids=a&ids=b", "ids"), ("id=a", "id")] {
        let a = get(&s, &format!("/widget/today?{q}")).await;
        assert_eq!(a.status, 400, "{q}");
        assert_eq!(a.json()["invalid_params"][0]["name"], name, "{q}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("d{i}")).collect();
    assert_eq!(get(&s, &format!("/widget/today?ids={}", many.join(","))).await.status, 400);
}

#[tokio::test]
async fn base_map_tiles_land_sea_and_bad_addresses() {
    let s = embedded();
    // Milan's zoom-6 tile: land, a border, towns.
    let a = get(&s, "/basemap/natural-earth/6/33/22.json").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type(), "application/json");
    assert_eq!(header(&a, "cache-control"), "public, max-age=300");
    let v = a.json();
    let kinds: Vec<&str> = v.as_array().unwrap().iter().map(|f| f["p"]["k"].as_str().unwrap()).collect();
    for k in ["land", "border", "town"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let etag = header(&a, "etag").to_string();
    let again = get_with(AppState::shared(s.clone()), "/basemap/natural-earth/6/33/22.json", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    // The whole world at zoom 0.
    assert_eq!(get(&s, "/basemap/natural-earth/0/0/0.json").await.status, 200);
    // Open Atlantic: nothing to draw.
    let sea = get(&s, "/basemap/natural-earth/6/24/26.json").await;
    assert_eq!(sea.status, 204);
    assert!(sea.body.is_empty());
    for (path, name) in [
        ("/basemap/natural-earth/7/0/0.json", "z"),
        ("/basemap/natural-earth/2/4/0.json", "x"),
        ("/basemap/natural-earth/2/0/4.json", "y"),
        ("/basemap/natural-earth/a/0/0.json", "z"),
        ("/basemap/natural-earth/2/0/0.png", "format"),
    ] {
        let a = get(&s, path).await;
        assert_eq!(a.status, 400, "{path}");
        assert_eq!(a.content_type(), "application/problem+json");
        assert_eq!(a.json()["invalid_params"][0]["name"], name, "{path}");
    }
}

#[tokio::test]
async fn demo_embeds_the_widget_as_a_partner_would_and_links_the_list() {
    let s = embedded();
    let a = get(&s, "/demo?ui=ar").await;
    assert_eq!(a.status, 200);
    let page = String::from_utf8(a.body.clone()).unwrap();
    assert!(page.contains("<script src=\"/widget.js\" defer></script>"));
    assert!(page.contains("data-sportello") && page.contains("data-lang=\"ar\""));
    assert!(page.contains("dir=\"rtl\""));
    assert!(page.contains("href=\"/list?ui=ar\""), "a visible link to the list without JavaScript");
    let csp = header(&a, "content-security-policy");
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!page.contains("<script>"), "no inline script");
    assert!(a.headers.get("set-cookie").is_none());
    assert_eq!(get(&s, "/demo?place=x").await.status, 400);
}

#[tokio::test]
async fn embed_takes_the_presets_and_is_framable_by_the_partners() {
    let s = embedded();
    let a = get(&s, "/embed?lang=it&center=45.46,9.19&zoom=13&domain=housing,health&audience=all&lang_filter=ar,fr").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let page = String::from_utf8(a.body.clone()).unwrap();
    for attr in ["data-lang=\"it\"", "data-center=\"45.46,9.19\"", "data-zoom=\"13\"", "data-domain=\"housing,health\"", "data-audience=\"all\"", "data-lang-filter=\"ar,fr\""] {
        assert!(page.contains(attr), "{attr}");
    }
    let csp = header(&a, "content-security-policy").to_string();
    assert!(csp.ends_with("frame-ancestors *"), "any site may frame it when no partner is configured: {csp}");
    assert!(!csp.contains("unsafe"));

    let partners = AppState::shared(s.clone()).with_cors_origins(vec![parse_origin("https://www.comune.milano.it").unwrap(), parse_origin("http://localhost:3000").unwrap()]);
    let a = get_with(partners, "/embed?lang=fr", &[]).await;
    let csp = header(&a, "content-security-policy");
    assert!(csp.ends_with("frame-ancestors https://www.comune.milano.it http://localhost:3000"), "{csp}");

    for (q, name) in [
        ("lang=xx", "lang"),
        ("center=91,9", "center"),
        ("center=here", "center"),
        ("zoom=30", "zoom"),
        ("domain=tax", "domain"),
        ("audience=me", "audience"),
        ("lang_filter=arabic", "lang_filter"),
        ("color=red", "color"),
    ] {
        let a = get(&s, &format!("/embed?{q}")).await;
        assert_eq!(a.status, 400, "{q}");
        assert_eq!(a.content_type(), "application/problem+json");
        assert_eq!(a.json()["invalid_params"][0]["name"], name, "{q}");
    }
}
