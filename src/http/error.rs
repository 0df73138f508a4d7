//! The only place that knows how errors become HTTP answers: `application/problem+json` (RFC 9457)
//! with a `detail` that names the parameter at fault. Internal errors are logged (without request
//! data) and answered with a generic 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::query::{ParamError, QueryError};

#[derive(Debug)]
pub enum ApiError {
    BadParam(ParamError),
    NotFound(String),
    /// Too much work queued: try again shortly.
    Busy,
    Internal(String),
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::BadParam(e)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

#[derive(Serialize)]
struct InvalidParam<'a> {
    name: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid_params: Option<[InvalidParam<'a>; 1]>,
}

/// A problem+json response.
pub fn problem(status: StatusCode, title: &str, detail: &str, param: Option<&ParamError>) -> Response {
    let body = Problem {
        kind: "about:blank",
        title,
        status: status.as_u16(),
        detail,
        invalid_params: param.map(|p| [InvalidParam { name: &p.name, reason: &p.reason }]),
    };
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = (status, json).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadParam(p) => problem(StatusCode::BAD_REQUEST, "Invalid parameter", &p.to_string(), Some(&p)),
            ApiError::NotFound(what) => problem(StatusCode::NOT_FOUND, "Not found", &what, None),
            ApiError::Busy => {
                let mut res = problem(StatusCode::SERVICE_UNAVAILABLE, "Busy", "too many searches at once; try again in a moment", None);
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                res
            }
            ApiError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "the server failed to answer; it has been logged", None)
            }
        }
    }
}

/// How an HTML page turned out; [`page`] gives it its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStatus {
    Ok,
    /// A parameter could not be read, or a place name matched no town: the form is shown again
    /// with the message.
    BadInput,
    NotFound,
    /// Too much work queued: try again shortly.
    Busy,
    /// The failure has been logged by the caller, without request data.
    Internal,
}

/// An HTML page answer with the status for `kind`.
pub fn page(kind: PageStatus, html: String) -> Response {
    let status = match kind {
        PageStatus::Ok => StatusCode::OK,
        PageStatus::BadInput => StatusCode::BAD_REQUEST,
        PageStatus::NotFound => StatusCode::NOT_FOUND,
        PageStatus::Busy => StatusCode::SERVICE_UNAVAILABLE,
        PageStatus::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut res = (status, html).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if kind == PageStatus::Busy {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}
