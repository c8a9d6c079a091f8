//! The HTTPS hook server that Metacontroller calls, and the plain-HTTP admin server beside it.
//!
//! Guarantees, from DESIGN section 4 and Metacontroller's behaviour:
//! - a 200 always carries the whole answer of the pure core; every failure is a non-200 with a short
//!   `{"error": "..."}` body that carries no request data, no internals and no panic text;
//! - 400 malformed request, 401/403 bearer token, 404 unknown path, 405 wrong method, 408 body not received in
//!   time, 413 body over `--max-body-bytes`, 415 a body that is not declared `application/json`, 422 invalid
//!   spec, 429 with `Retry-After` over `--max-in-flight`, 500 internal error (a bug, a panic, or an answer slower
//!   than `--request-timeout`, for bodies over [`INLINE_BODY_BYTES`]);
//! - at most `--max-connections` connections are open; idle ones are closed after `--idle-timeout` (HTTP/1:
//!   `--header-read-timeout`), and at once when the limit is reached and they have answered a request;
//! - a panic while answering is caught, counted and answered 500; the process keeps serving;
//! - SIGTERM or SIGINT: `/readyz` turns false, the listener closes, requests in flight finish (for at most
//!   `--shutdown-timeout`), and the process exits 0.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::{debug, error, info, warn};

use crate::admin::{self, AdminState, Readiness};
use crate::logging::{self, LogFormat};
use crate::metrics::{KindLabels, Metrics, ReasonLabels, RequestLabels, RouteLabels};
use crate::tls::{self, PairFiles, Reloading};

/// Arguments of `serve`. Each flag can also be set by the environment variable named beside it.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address of the HTTPS hook port (`POST /sync`, `POST /customize`).
    #[arg(long, env = "PRO_ADDR", default_value = "0.0.0.0:8443")]
    pub addr: SocketAddr,
    /// Address of the plain-HTTP admin port (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, env = "PRO_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,
    /// PEM certificate chain of the hook port. Changes to the file are picked up for new connections within
    /// seconds. Without `--tls-cert` and `--tls-key`, a self-signed certificate for localhost is made.
    #[arg(long, env = "PRO_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "PRO_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of CAs: when set, every client must present a certificate signed by one of them
    /// (Metacontroller's `clientTLS`).
    #[arg(long, env = "PRO_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// File holding a token: when set, hook requests need `Authorization: Bearer <token>` (Metacontroller's
    /// `authorization`). Read once at start; surrounding whitespace is ignored.
    #[arg(long, env = "PRO_AUTH_TOKEN_FILE", value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Log format; default `text` on a terminal, `json` otherwise.
    #[arg(long, env = "PRO_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `debug,hyper=info`.
    #[arg(
        long,
        env = "PRO_LOG_LEVEL",
        value_name = "FILTER",
        default_value = "info"
    )]
    pub log_level: String,
    /// Largest request body; larger ones get 413. Real requests carry every child with its managedFields.
    #[arg(long, env = "PRO_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time to receive a request's body and answer it (under Metacontroller's 10 s), e.g. `8s`, `1500ms`.
    #[arg(long, env = "PRO_REQUEST_TIMEOUT", value_name = "DURATION", default_value = "8s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Time a client has to complete the TLS handshake, and then each HTTP/1 request's headers.
    #[arg(long, env = "PRO_HEADER_READ_TIMEOUT", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Hook requests served at once; more get 429 with `Retry-After: 1`. Default: 4 per CPU core.
    #[arg(long, env = "PRO_MAX_IN_FLIGHT", value_name = "N")]
    pub max_in_flight: Option<NonZeroUsize>,
    /// After SIGTERM or SIGINT, how long requests in flight may take to finish.
    #[arg(long, env = "PRO_SHUTDOWN_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Connections open at once on the hook port. At the limit, connections that have answered a request and sit
    /// idle are closed, and new ones wait in the kernel's accept queue until a slot frees. Keep it under the
    /// process's file descriptor limit.
    #[arg(
        long,
        env = "PRO_MAX_CONNECTIONS",
        value_name = "N",
        default_value = "1024"
    )]
    pub max_connections: NonZeroUsize,
    /// A connection with no request in progress for this long is closed (HTTP/2 with a GOAWAY). An idle
    /// HTTP/1 connection is closed sooner, after `--header-read-timeout`.
    #[arg(long, env = "PRO_IDLE_TIMEOUT", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
}

/// A duration as `500ms`, `8s`, `2m`, or a plain number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 8s or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("{text:?} is not a duration like 8s or 500ms")),
    }
}

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
    slots: Arc<Semaphore>,
}

/// The largest body answered without leaving the async worker. The sync is linear in the body (about 2 ms
/// per MiB, `cargo bench`), so up to 256 KiB it takes well under a millisecond: less than handing it to the
/// blocking pool and back costs in thread switches, which were a fifth of the server's CPU under load
/// (`perf`, `hack/bench.sh`). Larger bodies, which could hold a worker for long, still go to the pool.
pub const INLINE_BODY_BYTES: usize = 256 * 1024;

impl AppState {
    /// State with the real hooks, no token, and the given limits.
    pub fn new(
        metrics: Arc<Metrics>,
        max_in_flight: NonZeroUsize,
        max_body_bytes: usize,
        request_timeout: Duration,
    ) -> Self {
        Self {
            hooks: Hooks::default(),
            metrics,
            token: None,
            max_body_bytes,
            request_timeout,
            inline_body_bytes: INLINE_BODY_BYTES,
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
        // Outermost first: a request without the token or of another media type never takes an in-flight slot.
        .route_layer(middleware::from_fn_with_state(state.clone(), limit))
        .route_layer(middleware::from_fn(require_json))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
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
const MAX_MESSAGE: usize = 1024;

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

/// Refuses a request without the right bearer token (when one is configured), counting it.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
            return failure.into_response();
        }
    }
    next.run(request).await
}

/// Answers 415 to a `POST` whose `Content-Type` is not `application/json` (parameters such as `charset` allowed).
/// Metacontroller always sends that type; anything else is another client, and reading its body as a hook
/// request would only produce a confusing 400.
async fn require_json(request: Request, next: Next) -> Response {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    // Other methods go on to their 405.
    if !json && request.method() == axum::http::Method::POST {
        return Failure::NotJson.into_response();
    }
    next.run(request).await
}

/// One of `--max-in-flight` slots. Held until the answer is computed, even when the client has gone or the
/// timeout has passed, so that the slots bound the real work.
#[derive(Debug)]
struct Slot {
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
async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
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

async fn sync(State(state): State<AppState>, request: Request) -> Response {
    let hook = state.hooks.sync;
    answer(state, request, hook).await
}

async fn customize(State(state): State<AppState>, request: Request) -> Response {
    let hook = state.hooks.customize;
    answer(state, request, hook).await
}

/// Reads the body (bounded in size and time) and runs `hook` on it.
///
/// The pure call is CPU-bound (a 64 MiB request takes a while to parse) so it runs on the blocking pool, where
/// it cannot stall the TLS handshakes, the other requests or the admin port; the in-flight limit bounds how
/// many such threads there are. A panic in it comes back as a join error and becomes a 500.
async fn answer(state: AppState, request: Request, hook: Hook) -> Response {
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let slot = request.extensions().get::<Arc<Slot>>().cloned();
    let body = match read_body(request, state.max_body_bytes, deadline).await {
        Ok(body) => body,
        Err(failure) => return failure.into_response(),
    };
    if body.len() <= state.inline_body_bytes {
        // A panic here unwinds into the router's CatchPanicLayer, which answers 500 and counts it.
        let (result, summary) = hook(&body);
        drop(slot);
        return respond(&state, result, summary);
    }
    let work = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        hook(&body)
    });
    let (result, summary) = match tokio::time::timeout_at(deadline, work).await {
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
    respond(&state, result, summary)
}

/// The response to a hook's answer, with the outcome the log line reports.
fn respond(state: &AppState, result: crate::Result<Vec<u8>>, summary: crate::Summary) -> Response {
    let mut outcome = Outcome {
        namespace: summary.namespace,
        name: summary.name,
        children: summary.children,
        error: None,
    };
    let mut response = match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => {
            state
                .metrics
                .errors
                .get_or_create(&KindLabels { kind: e.kind() })
                .inc();
            if let crate::Error::Internal(message) = &e {
                error!(error = %message, "internal error; answered 500");
            }
            outcome.error = Some(e.to_string());
            Failure::Hook(e).into_response()
        }
    };
    response.extensions_mut().insert(outcome);
    response
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

/// `serve`: check the files, bind the admin port, then the hook port, serve until SIGTERM or SIGINT, drain.
pub fn run(args: ServeArgs) -> Result<(), String> {
    // Destructured so that a flag nobody reads fails to compile.
    let ServeArgs {
        addr,
        admin_addr,
        tls_cert,
        tls_key,
        client_ca,
        auth_token_file,
        log_format,
        log_level,
        max_body_bytes,
        request_timeout,
        header_read_timeout,
        max_in_flight,
        shutdown_timeout,
        max_connections,
        idle_timeout,
    } = args;
    logging::init_server(log_format.unwrap_or_else(LogFormat::detect), &log_level)?;
    log_panics();

    // Every file is checked before anything is bound, so a bad flag fails fast and names itself.
    let files = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(PairFiles { cert, key }),
        _ => None,
    };
    let (pair, loaded) = match &files {
        Some(files) => {
            let (pair, loaded) = files.load_watched()?;
            (pair, Some(loaded))
        }
        None => (tls::self_signed()?, None),
    };
    let client_ca = client_ca.as_deref().map(tls::load_client_ca).transpose()?;
    let token = auth_token_file.as_deref().map(read_token).transpose()?;

    let resolver = Arc::new(Reloading::new(pair));
    let tls_config = tls::server_config(resolver.clone(), client_ca.clone())?;
    let max_in_flight = max_in_flight.unwrap_or_else(default_max_in_flight);
    let metrics = Arc::new(Metrics::new());
    let mut state = AppState::new(
        metrics.clone(),
        max_in_flight,
        max_body_bytes,
        request_timeout,
    );
    state.token = token;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        let readiness = Arc::new(Readiness::new());

        let admin_listener = TcpListener::bind(admin_addr)
            .await
            .map_err(|e| format!("--admin-addr {admin_addr}: {e}"))?;
        let admin_local = admin_listener.local_addr().map_err(|e| format!("--admin-addr {admin_addr}: {e}"))?;
        let admin_app = admin::router(AdminState {
            readiness: readiness.clone(),
            metrics: metrics.clone(),
        });
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_task = tokio::spawn(async move {
            let serve = axum::serve(admin_listener, admin_app).with_graceful_shutdown(async {
                let _ = admin_stopped.await;
            });
            if let Err(e) = serve.await {
                error!(error = %e, "the admin server failed");
            }
        });
        info!(addr = %admin_local, "admin port listening (http): /healthz /readyz /metrics");

        let listener = TcpListener::bind(addr).await.map_err(|e| format!("--addr {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| format!("--addr {addr}: {e}"))?;
        match (files, loaded) {
            (Some(files), Some(loaded)) => {
                tokio::spawn(tls::watch(files.clone(), loaded, resolver, metrics.clone()));
                info!(cert = %files.cert.display(), key = %files.key.display(), "serving the certificate files, reloaded when they change");
            }
            _ => info!(
                "no --tls-cert/--tls-key: serving a self-signed certificate for localhost and 127.0.0.1 (clients must skip verification, e.g. curl -k)"
            ),
        }
        // Ready before the line that says so: whoever reads the log may ask at once.
        readiness.set(true);
        info!(
            addr = %local,
            client_certificates = client_ca.is_some(),
            bearer_token = state.token.is_some(),
            max_in_flight = max_in_flight.get(),
            max_body_bytes,
            request_timeout_ms = request_timeout.as_millis() as u64,
            max_connections = max_connections.get(),
            "hook port listening (https): POST /sync, POST /customize"
        );

        let server = HookServer {
            tls: TlsAcceptor::from(Arc::new(tls_config)),
            app: router(state),
            metrics,
            header_read_timeout,
            idle_timeout,
            slots: Arc::new(Semaphore::new(max_connections.get())),
        };
        serve(listener, server, shutdown, &readiness, shutdown_timeout).await;

        let _ = admin_stop.send(());
        // A scraper's keep-alive connection must not hold the exit up.
        let _ = tokio::time::timeout(Duration::from_secs(2), admin_task).await;
        info!("stopped");
        Ok(())
    });
    // Rendering threads still running after the drain are abandoned rather than waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

fn default_max_in_flight() -> NonZeroUsize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    NonZeroUsize::new(4 * cores).unwrap_or(NonZeroUsize::MIN)
}

fn read_token(path: &std::path::Path) -> Result<Token, String> {
    let flag = format!("--auth-token-file {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{flag}: no such file"),
        _ => format!("{flag}: {e}"),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{flag}: the file is empty"));
    }
    Ok(Token::new(token))
}

/// Panics are logged as one error line (in the chosen format) instead of the default text on stderr.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        error!(
            location = location.as_deref(),
            "panic: {}",
            panic_message(info.payload())
        );
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Resolves on the first SIGTERM or SIGINT. Registered before anything is bound, so that a signal during
/// start-up still shuts down cleanly.
fn shutdown_signal() -> Result<impl Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("listening for SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("listening for SIGINT: {e}"))?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(
            signal = name,
            "shutting down: no new connections, draining requests in flight"
        );
    })
}

/// What each hook connection needs.
struct HookServer {
    tls: TlsAcceptor,
    app: Router,
    metrics: Arc<Metrics>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    /// One per open connection: `--max-connections` of them.
    slots: Arc<Semaphore>,
}

/// Accepts TLS connections until `shutdown`, then closes the listener, marks not ready and waits (at most
/// `drain`) for the connections to finish their requests.
///
/// At `--max-connections`, accepting pauses: the connection just accepted and those behind it in the kernel's
/// queue wait (a client sees a slow handshake, not a reset, and is served when a slot frees) while the
/// connections that sit idle between requests are told to close. Refusing instead would fail Metacontroller's
/// calls outright during a burst.
async fn serve(
    listener: TcpListener,
    server: HookServer,
    shutdown: impl Future<Output = ()>,
    readiness: &Readiness,
    drain: Duration,
) {
    let server = Arc::new(server);
    let total = server.slots.available_permits();
    // `true` tells every connection to close gracefully.
    let (stop, stopping) = watch::channel(false);
    // `true` while a new connection waits for a slot: idle connections close.
    let (full, crowded) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match server.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // This connection waits (its client sees a slow handshake) and so do those behind it, in the
                // kernel's queue; idle ones close to make room.
                server.metrics.connection_limit_reached.inc();
                debug!(
                    max_connections = total,
                    "connection limit reached; closing idle connections"
                );
                full.send_replace(true);
                let slot = tokio::select! {
                    () = &mut shutdown => break,
                    slot = server.slots.clone().acquire_owned() => slot,
                };
                full.send_replace(false);
                match slot {
                    Ok(slot) => slot,
                    // The semaphore is never closed.
                    Err(_) => break,
                }
            }
        };
        let close = Close {
            stopping: stopping.clone(),
            crowded: crowded.clone(),
            idle: server.idle_timeout,
        };
        tokio::spawn(connection(server.clone(), tcp, peer, slot, close));
    }
    readiness.set(false);
    drop(listener);
    stop.send_replace(true);
    // Every slot back means every connection closed.
    let all = u32::try_from(total).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, server.slots.acquire_many(all))
        .await
        .is_err()
    {
        warn!(
            timeout_ms = drain.as_millis() as u64,
            "requests still in flight after --shutdown-timeout; closing them"
        );
    }
}

/// An open connection: counted in the gauge and holding one of `--max-connections` slots until it closes.
struct Open {
    _slot: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.metrics.connections.dec();
    }
}

/// The TLS handshake (bounded by `--header-read-timeout`), then HTTP/2 or HTTP/1.1 as ALPN chose, until the
/// client closes or [`Close::when`] says to.
async fn connection(
    server: Arc<HookServer>,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    close: Close,
) {
    server.metrics.connections.inc();
    let _open = Open {
        _slot: slot,
        metrics: server.metrics.clone(),
    };
    // A response goes out as several TLS records; with Nagle's algorithm the last waits for the client's
    // delayed ACK, 40 ms on Linux, for every request.
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, error = %e, "setting TCP_NODELAY failed");
    }
    let handshake = tokio::time::timeout(server.header_read_timeout, server.tls.accept(tcp)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            server.metrics.tls_handshake_failures.inc();
            debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            server.metrics.tls_handshake_failures.inc();
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let (busy, requests) = watch::channel(Busy::default());
    let service = Tracked {
        inner: TowerToHyperService::new(server.app.clone()),
        busy: Arc::new(busy),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if h2 {
        builder = builder.http2_only();
        // Pings find peers that vanished without closing, so their connections do not pile up.
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)));
    } else {
        builder = builder.http1_only();
        // hyper also applies this to an idle keep-alive connection waiting for its next request: such a
        // connection is closed after the same time, and the client opens a new one.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(server.header_read_timeout)
            // The read buffer lives as long as the connection, idle or not: keep it small. Bodies stream through.
            .max_buf_size(64 * 1024);
    }
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let closing = close.when(requests);
    tokio::pin!(closing);
    let mut closed = false;
    let result = loop {
        tokio::select! {
            result = conn.as_mut() => break result,
            reason = &mut closing, if !closed => {
                debug!(%peer, reason, "closing the connection");
                // Requests in progress finish; HTTP/2 clients get a GOAWAY and retry elsewhere.
                conn.as_mut().graceful_shutdown();
                closed = true;
            }
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// What a connection has done so far: requests in progress, and whether it has answered one.
#[derive(Clone, Copy, Debug, Default)]
struct Busy {
    active: usize,
    served: bool,
}

/// When a connection should close gracefully.
struct Close {
    stopping: watch::Receiver<bool>,
    crowded: watch::Receiver<bool>,
    idle: Duration,
}

/// How long after its TLS handshake a connection without a request is spared when the limit is reached: a client
/// sends its first request within milliseconds of the handshake, so one that has not after a second is idle.
const FRESH: Duration = Duration::from_secs(1);

impl Close {
    /// Resolves with the reason: shutdown; `--idle-timeout` without a request in progress; or being idle while
    /// `--max-connections` is reached. Called after the TLS handshake: a new connection's first request may be on
    /// its way, so it is not closed for crowding before that request, or before [`FRESH`] without one.
    async fn when(self, mut requests: watch::Receiver<Busy>) -> &'static str {
        let Self {
            mut stopping,
            mut crowded,
            idle,
        } = self;
        let fresh_until = tokio::time::Instant::now() + FRESH;
        let idle = async move {
            loop {
                if requests.wait_for(|busy| busy.active == 0).await.is_err() {
                    // The service is gone: so is the connection.
                    return std::future::pending().await;
                }
                let served = requests.borrow().served;
                let crowding = async {
                    if !served {
                        tokio::time::sleep_until(fresh_until).await;
                    }
                    crowded.wait_for(|full| *full).await.map(|_| ())
                };
                tokio::select! {
                    () = tokio::time::sleep(idle) => return "idle",
                    Ok(()) = crowding => return "idle at the connection limit",
                    Ok(()) = requests.changed() => {}
                }
            }
        };
        tokio::select! {
            Ok(_) = stopping.wait_for(|stop| *stop) => "shutdown",
            reason = idle => reason,
        }
    }
}

/// The router as a hyper service that keeps [`Busy`] up to date for [`Close::when`].
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    busy: Arc<watch::Sender<Busy>>,
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        self.busy.send_modify(|busy| busy.active += 1);
        let done = Done(self.busy.clone());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(done);
            response
        })
    }
}

/// Marks a request finished, also when its future is dropped (the client went away).
struct Done(Arc<watch::Sender<Busy>>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.send_modify(|busy| {
            busy.active -= 1;
            busy.served = true;
        });
    }
}

#[cfg(test)]
mod tests;
