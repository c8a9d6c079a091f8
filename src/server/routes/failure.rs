//! [`Failure`]: why a request was not answered with the desired state, as a short JSON error body with the
//! status code Metacontroller acts on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a request was not answered with the desired state. The response says what to fix, briefly.
#[derive(Debug)]
pub enum Failure {
    /// The pure core refused: 400, 422 or 500.
    Hook(crate::Error),
    /// The body could not be read (the client reset the stream): 400.
    BodyUnreadable,
    /// 408: the body did not arrive within `--request-timeout`.
    BodyTimeout,
    /// 413.
    TooLarge(usize),
    /// 415: a `Content-Type` other than `application/json`.
    NotJson,
    /// 500: the answer took longer than `--request-timeout`.
    Timeout,
    /// 500: a panic while answering.
    Panic,
    /// 429 with `Retry-After: 1`.
    Throttled,
    /// 401: no bearer token.
    Unauthorized,
    /// 403: a wrong bearer token.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
}

/// Longest message in an error body: it ends up in an Event on the parent.
pub(super) const MAX_MESSAGE: usize = 1024;

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Self::Hook(crate::Error::BadRequest(_)) | Self::BodyUnreadable => {
                StatusCode::BAD_REQUEST
            }
            Self::Hook(crate::Error::Invalid { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Hook(crate::Error::Internal(_)) | Self::Timeout | Self::Panic => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn message(&self) -> String {
        match self {
            // Messages of the core name a field and a value from the parent's spec, never a Secret or a body.
            Self::Hook(e @ (crate::Error::BadRequest(_) | crate::Error::Invalid { .. })) => {
                e.to_string()
            }
            // Internal details go to the log, not to the Event.
            Self::Hook(crate::Error::Internal(_)) | Self::Panic => "internal error".to_owned(),
            Self::Timeout => {
                "internal error: the answer took longer than the request timeout".to_owned()
            }
            Self::BodyUnreadable => "malformed request: the body could not be read".to_owned(),
            Self::BodyTimeout => {
                "the request body did not arrive within the request timeout".to_owned()
            }
            Self::TooLarge(limit) => format!("request body over {limit} bytes"),
            Self::NotJson => {
                "unsupported media type: send Content-Type: application/json".to_owned()
            }
            Self::Throttled => "too many requests in flight; retry later".to_owned(),
            Self::Unauthorized => "missing bearer token".to_owned(),
            Self::Forbidden => "wrong bearer token".to_owned(),
            Self::NotFound => {
                "not found: the hook serves POST /sync and POST /customize".to_owned()
            }
            Self::MethodNotAllowed => "method not allowed: use POST".to_owned(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut message = self.message();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        let mut response =
            (self.status(), axum::Json(ErrorBody { error: &message })).into_response();
        let headers = response.headers_mut();
        match self {
            // Without Retry-After, Metacontroller retries a 429 at once, in a hot loop.
            Self::Throttled => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
