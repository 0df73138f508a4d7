//! The admin listener: operations that change what the server serves, on a port of their own
//! (never the public one) and only with the token from configuration. `POST /admin/reload` loads
//! the bundle and IP databases again and swaps in each that loads; one that fails is refused and
//! the current one keeps serving.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::{AppState, Reloadable, reload_all};

/// Shortest admin token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The admin token, kept as its BLAKE3 hash: comparing hashes takes the same time whatever the
/// guess, and the token itself is not kept in memory after start-up.
#[derive(Clone)]
pub struct AdminToken(blake3::Hash);

impl AdminToken {
    /// Reads the token from the first line of `path` (surrounding white space dropped).
    pub fn from_file(path: &Path) -> Result<AdminToken, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!("{}: the admin token must be at least {MIN_TOKEN_CHARS} characters", path.display()));
        }
        Ok(AdminToken::new(token))
    }

    pub fn new(token: &str) -> AdminToken {
        AdminToken(blake3::hash(token.as_bytes()))
    }

    /// Whether `headers` carry `Authorization: Bearer TOKEN` with this token.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        // blake3::Hash compares in constant time.
        given.is_some_and(|t| blake3::hash(t.trim().as_bytes()) == self.0)
    }
}

#[derive(Clone)]
struct Admin {
    app: AppState,
    reload: Arc<Reloadable>,
    token: AdminToken,
    /// One reload at a time.
    busy: Arc<tokio::sync::Mutex<()>>,
}

/// The admin router over the public server's state.
pub fn router(app: AppState, reload: Reloadable, token: AdminToken) -> Router {
    let admin = Admin { app, reload: Arc::new(reload), token, busy: Arc::new(tokio::sync::Mutex::new(())) };
    Router::new().route("/admin/reload", post(reload_now)).with_state(admin)
}

fn answer(status: StatusCode, content_type: &'static str, body: serde_json::Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn reload_now(State(a): State<Admin>, headers: HeaderMap) -> Response {
    if !a.token.admits(&headers) {
        let mut res = answer(
            StatusCode::UNAUTHORIZED,
            "application/problem+json",
            serde_json::json!({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "send the admin token as `Authorization: Bearer TOKEN`"}),
        );
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return res;
    }
    if a.reload.bundle.is_none() && a.reload.geoip.is_empty() && a.reload.basemap.is_none() {
        return answer(
            StatusCode::CONFLICT,
            "application/problem+json",
            serde_json::json!({"type": "about:blank", "title": "Nothing to reload", "status": 409, "detail": "the server serves the embedded dataset and no IP database; start it with --bundle to reload"}),
        );
    }
    let _one = a.busy.lock().await;
    let previous = a.app.snapshot.load().version().to_string();
    let report = reload_all(&a.app, &a.reload).await;
    let serving = a.app.snapshot.load().version().to_string();
    let errors: Vec<&String> = report.iter().collect();
    if errors.is_empty() {
        answer(StatusCode::OK, "application/json", serde_json::json!({"status": "reloaded", "previous": previous, "bundle": serving}))
    } else {
        answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/problem+json",
            serde_json::json!({
                "type": "about:blank",
                "title": "Reload refused",
                "status": 500,
                "detail": errors.iter().map(|e| e.as_str()).collect::<Vec<_>>().join("; "),
                "bundle": serving,
            }),
        )
    }
}
