//! The hook port's routes: authorization, media type, in-flight limit and the pure call; their refusals are
//! [`Failure`]s.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::{debug, error, info};

use super::memo::{self, Memo};
use crate::metrics::{KindLabels, Metrics, RequestLabels, RouteLabels};

mod admission;
mod failure;

pub use admission::Token;
use admission::{Slot, admit};
pub use failure::Failure;

/// A pure call behind a route: the answer, and what the log line says of it.
pub type Hook = fn(&[u8]) -> (crate::Result<Vec<u8>>, crate::Summary);

/// The pure calls behind the routes: [`crate::sync_summarized`] and [`crate::customize_summarized`], replaceable
/// in tests.
#[derive(Clone, Copy, Debug)]
pub struct Hooks {
    pub sync: Hook,
    pub customize: Hook,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            sync: crate::sync_summarized,
            customize: crate::customize_summarized,
        }
    }
}

/// Everything the hook routes read.
#[derive(Clone, Debug)]
pub struct AppState {
    pub hooks: Hooks,
    pub metrics: Arc<Metrics>,
    /// Required bearer token, if any.
    pub token: Option<Token>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Bodies up to this size are answered on the connection's own task; larger ones in the blocking pool,
    /// where `request_timeout` can give up on them. See [`INLINE_BODY_BYTES`].
    pub inline_body_bytes: usize,
    /// Successful answers to earlier requests, for `hooks`. Whoever changes `hooks` after answering a request
    /// needs a new memo.
    pub memo: Arc<Memo>,
    slots: Arc<Semaphore>,
}

/// The largest body answered without leaving the async worker. The sync is linear in the body (about 2 ms
/// per MiB, `cargo bench`), so up to 256 KiB it takes well under a millisecond: less than handing it to the
/// blocking pool and back costs in thread switches, which were a fifth of the server's CPU under load
/// (`perf`, `hack/bench.sh`). Larger bodies, which could hold a worker for long, still go to the pool.
pub const INLINE_BODY_BYTES: usize = 256 * 1024;

impl AppState {
    /// State with the real hooks, no token, the given limits, and a memo of [`memo::DEFAULT_BYTES`] whose
    /// context is the binary's version.
    pub fn new(
        metrics: Arc<Metrics>,
        max_in_flight: NonZeroUsize,
        max_body_bytes: usize,
        request_timeout: Duration,
    ) -> Self {
        let memo = Memo::new(
            memo::DEFAULT_BYTES,
            env!("CARGO_PKG_VERSION").as_bytes(),
            metrics.clone(),
        );
        Self {
            hooks: Hooks::default(),
            metrics,
            token: None,
            max_body_bytes,
            request_timeout,
            inline_body_bytes: INLINE_BODY_BYTES,
            memo: Arc::new(memo),
            slots: Arc::new(Semaphore::new(max_in_flight.get())),
        }
    }
}

/// The hook routes, with authentication, the in-flight limit, panic catching, metrics and the request log.
pub fn router(state: AppState) -> Router {
    let hooks = Router::new()
        .route("/sync", post(sync))
        .route("/customize", post(customize))
        .method_not_allowed_fallback(|| async { Failure::MethodNotAllowed })
        .route_layer(middleware::from_fn_with_state(state.clone(), admit));
    let metrics = state.metrics.clone();
    hooks
        .fallback(|| async { Failure::NotFound })
        .layer(CatchPanicLayer::custom(
            move |_panic: Box<dyn std::any::Any + Send>| {
                // The payload is not echoed: the response says only that it failed. The panic hook logged it.
                metrics
                    .errors
                    .get_or_create(&KindLabels { kind: "panic" })
                    .inc();
                Failure::Panic.into_response()
            },
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// What the request log line says about a hook call, passed from the handler to [`observe`].
#[derive(Clone, Debug, Default)]
struct Outcome {
    namespace: Option<String>,
    name: Option<String>,
    children: Option<usize>,
    error: Option<String>,
}

fn route_label(path: &str) -> &'static str {
    match path {
        "/sync" => "/sync",
        "/customize" => "/customize",
        _ => "other",
    }
}

/// Counts and logs every request: one line at info with route, status, duration, parent and child count.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let code = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels { route, code })
        .inc();
    state
        .metrics
        .duration
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .cloned()
        .unwrap_or_default();
    info!(
        route,
        method = %method,
        status = code,
        // Microsecond precision, printed as milliseconds.
        duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        namespace = outcome.namespace.as_deref(),
        name = outcome.name.as_deref(),
        children = outcome.children,
        error = outcome.error.as_deref(),
        "request"
    );
    response
}

async fn sync(State(state): State<AppState>, request: Request) -> Response {
    let hook = state.hooks.sync;
    answer(state, request, "/sync", hook).await
}

async fn customize(State(state): State<AppState>, request: Request) -> Response {
    let hook = state.hooks.customize;
    answer(state, request, "/customize", hook).await
}

/// Reads the body (bounded in size and time) and answers it from the memo, or runs `hook` on it.
///
/// The pure call is CPU-bound (a 64 MiB request takes a while to parse) so it runs on the blocking pool, where
/// it cannot stall the TLS handshakes, the other requests or the admin port; the in-flight limit bounds how
/// many such threads there are. A panic in it comes back as a join error and becomes a 500.
async fn answer(state: AppState, request: Request, route: &'static str, hook: Hook) -> Response {
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let slot = request.extensions().get::<Arc<Slot>>().cloned();
    let body = match read_body(request, state.max_body_bytes, deadline).await {
        Ok(body) => body,
        Err(failure) => return failure.into_response(),
    };
    if body.len() <= state.inline_body_bytes {
        // A panic here unwinds into the router's CatchPanicLayer, which answers 500 and counts it.
        let answered = compute(&state.memo, route, hook, &body);
        drop(slot);
        return respond(&state, answered);
    }
    let memo = state.memo.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        // Hashing a large body takes a while too: it is done here, off the connection's task.
        compute(&memo, route, hook, &body)
    });
    let answered = match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(done)) => done,
        Ok(Err(join)) => {
            if join.is_panic() {
                error!("the hook panicked; answered 500");
            } else {
                error!(error = %join, "the hook's task failed; answered 500");
            }
            state
                .metrics
                .errors
                .get_or_create(&KindLabels { kind: "panic" })
                .inc();
            return Failure::Panic.into_response();
        }
        Err(_) => {
            state
                .metrics
                .errors
                .get_or_create(&KindLabels { kind: "timeout" })
                .inc();
            return Failure::Timeout.into_response();
        }
    };
    respond(&state, answered)
}

/// The answer to `body` on `route`: the memo's when it holds one, else the hook's (kept in the memo when it is
/// a success). The key is computed only when the memo is on.
fn compute(memo: &Memo, route: &'static str, hook: Hook, body: &[u8]) -> Answered {
    if !memo.enabled() {
        let (result, summary) = hook(body);
        return match result {
            Ok(bytes) => Ok(Arc::new(memo::Answer {
                bytes: bytes.into(),
                summary,
            })),
            Err(e) => Err((e, summary)),
        };
    }
    let key = memo.key(route, body);
    if let Some(answer) = memo.get(&key) {
        return Ok(answer);
    }
    let (result, summary) = hook(body);
    let bytes = result.map_err(|e| (e, summary.clone()))?;
    // The encoder reserves more than most answers need; a kept answer holds only its own bytes.
    let bytes = if bytes.capacity() - bytes.len() > bytes.len() / 8 {
        axum::body::Bytes::copy_from_slice(&bytes)
    } else {
        bytes.into()
    };
    let answer = Arc::new(memo::Answer { bytes, summary });
    memo.put(key, answer.clone());
    Ok(answer)
}

/// A hook's answer, or its error with what the log line says of the request.
type Answered = Result<Arc<memo::Answer>, (crate::Error, crate::Summary)>;

/// The response to a hook's answer, with the outcome the log line reports.
fn respond(state: &AppState, answered: Answered) -> Response {
    match answered {
        Ok(answer) => {
            let mut response = (
                [(header::CONTENT_TYPE, "application/json")],
                answer.bytes.clone(),
            )
                .into_response();
            let summary = &answer.summary;
            response.extensions_mut().insert(Outcome {
                namespace: summary.namespace.clone(),
                name: summary.name.clone(),
                children: summary.children,
                error: None,
            });
            response
        }
        Err((e, summary)) => {
            state
                .metrics
                .errors
                .get_or_create(&KindLabels { kind: e.kind() })
                .inc();
            if let crate::Error::Internal(message) = &e {
                error!(error = %message, "internal error; answered 500");
            }
            let outcome = Outcome {
                namespace: summary.namespace,
                name: summary.name,
                children: summary.children,
                error: Some(e.to_string()),
            };
            let mut response = Failure::Hook(e).into_response();
            response.extensions_mut().insert(outcome);
            response
        }
    }
}

async fn read_body(
    request: Request,
    max: usize,
    deadline: tokio::time::Instant,
) -> Result<axum::body::Bytes, Failure> {
    // A declared length over the limit is refused before reading anything.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(Failure::TooLarge(max));
    }
    let body = Limited::new(request.into_body(), max);
    match tokio::time::timeout_at(deadline, body.collect()).await {
        Err(_) => Err(Failure::BodyTimeout),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Failure::TooLarge(max)),
        Ok(Err(e)) => {
            debug!(error = %e, "reading a request body failed");
            Err(Failure::BodyUnreadable)
        }
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

#[cfg(test)]
mod tests;
