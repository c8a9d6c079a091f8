//! Admission of a hook request before its body is read: the bearer token, the media type and an in-flight slot.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::OwnedSemaphorePermit;

use super::{AppState, Failure};
use crate::metrics::{Metrics, ReasonLabels};

/// A bearer token, kept as its SHA-256 digest so that comparing takes the same time whatever the input's
/// length or content.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl Token {
    pub fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    fn matches(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        self.0.ct_eq(&given).into()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Admits a hook request, in this order: the bearer token ([`authorize`]), the media type ([`require_json`]),
/// an in-flight slot ([`limit`]); so a request without the token or of another media type never takes a slot.
/// One middleware rather than three: each layer cloned the state and the services below it for every request
/// (callgrind: 182,500 instructions per memoized request instead of 185,700).
pub(super) async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(refusal) = authorize(&state, &request).or_else(|| require_json(&request)) {
        return refusal;
    }
    limit(state, request, next).await
}

/// Refuses a request without the right bearer token (when one is configured), counting it.
fn authorize(state: &AppState, request: &Request) -> Option<Response> {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let refusal = match given {
            None => Some(("missing_token", Failure::Unauthorized)),
            Some(given) if !token.matches(given.as_bytes()) => {
                Some(("wrong_token", Failure::Forbidden))
            }
            Some(_) => None,
        };
        if let Some((reason, failure)) = refusal {
            state
                .metrics
                .auth_refusals
                .get_or_create(&ReasonLabels { reason })
                .inc();
            return Some(failure.into_response());
        }
    }
    None
}

/// Answers 415 to a `POST` whose `Content-Type` is not `application/json` (parameters such as `charset` allowed).
/// Metacontroller always sends that type; anything else is another client, and reading its body as a hook
/// request would only produce a confusing 400.
fn require_json(request: &Request) -> Option<Response> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    // Other methods go on to their 405.
    (!json && request.method() == axum::http::Method::POST)
        .then(|| Failure::NotJson.into_response())
}

/// One of `--max-in-flight` slots. Held until the answer is computed, even when the client has gone or the
/// timeout has passed, so that the slots bound the real work.
#[derive(Debug)]
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.in_flight.inc();
        Self {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}

/// Takes an in-flight slot for the request, or answers 429 at once: queueing would only make Metacontroller's
/// 10 s timeout expire while its retries pile up.
async fn limit(state: AppState, mut request: Request, next: Next) -> Response {
    let Ok(permit) = state.slots.clone().try_acquire_owned() else {
        state.metrics.throttled.inc();
        return Failure::Throttled.into_response();
    };
    let slot = Arc::new(Slot::new(permit, state.metrics.clone()));
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    drop(slot);
    response
}
