//! The layering of DESIGN.md, checked on the sources: arrows point down only. `index/` does not
//! read input files (that is `ingest/`, driven by `pipeline`), the query layer knows no HTTP, and
//! the model depends on none of the layers above it.

use std::path::Path;

/// Every `.rs` file under `src/<dir>` with the lines that name one of `forbidden`.
fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                // Unit tests (the `#[cfg(test)]` module at a file's end) may reach across layers
                // to check an answer end to end; the layering is the production code's.
                for (i, line) in std::fs::read_to_string(&p).unwrap().lines().enumerate().take_while(|(_, l)| l.trim() != "#[cfg(test)]") {
                    let code = line.split("//").next().unwrap_or("");
                    if forbidden.iter().any(|f| code.contains(f)) {
                        out.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn index_does_not_import_ingest_http_or_query() {
    let o = offenders("index", &["crate::ingest", "crate::http", "crate::query", "crate::pipeline"]);
    assert!(o.is_empty(), "index/ imports a layer it must not:\n{}", o.join("\n"));
}

#[test]
fn ingest_does_not_import_index_http_or_query() {
    let o = offenders("ingest", &["crate::index", "crate::http", "crate::query", "crate::pipeline"]);
    assert!(o.is_empty(), "ingest/ imports a layer it must not:\n{}", o.join("\n"));
}

#[test]
fn the_query_layer_knows_no_http() {
    let o = offenders("query", &["crate::http", "axum", "tokio", "hyper"]);
    assert!(o.is_empty(), "query/ uses HTTP types:\n{}", o.join("\n"));
}

#[test]
fn the_model_depends_on_no_layer_above_it() {
    let o = offenders("model", &["crate::index", "crate::ingest", "crate::http", "crate::query", "crate::pipeline", "crate::tiles"]);
    assert!(o.is_empty(), "model/ imports a layer above it:\n{}", o.join("\n"));
}
