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
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::admin::{self, AdminState, Readiness};
use crate::logging::{self, LogFormat};
use crate::metrics::Metrics;
use crate::server::memo::Memo;
use crate::tls::{self, PairFiles, Reloading, Snapshot};

mod listener;
pub mod memo;
mod routes;

use listener::{HookServer, serve};
pub use routes::{AppState, Failure, Hook, Hooks, INLINE_BODY_BYTES, Token, router};

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
    /// Bytes of successful answers kept to answer identical requests again (Metacontroller's resyncs) without
    /// computing them; least recently used first out. 0 computes every answer.
    #[arg(long, env = "PRO_MEMO_BYTES", value_name = "BYTES", default_value_t = memo::DEFAULT_BYTES)]
    pub memo_bytes: usize,
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

/// `serve`: check the files, bind the admin port, then the hook port, serve until SIGTERM or SIGINT, drain.
pub fn run(args: ServeArgs) -> Result<(), String> {
    // The memo's context: everything but the route and the body that an answer could depend on. Every flag is
    // in it, so that none that changes answers can be left out; they are fixed for the life of the process.
    let memo_context = format!("{} {args:?}", env!("CARGO_PKG_VERSION"));
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
        memo_bytes,
    } = args;
    logging::init_server(log_format.unwrap_or_else(LogFormat::detect), &log_level)?;
    log_panics();

    // Every file is checked before anything is bound, so a bad flag fails fast and names itself.
    let certificate = Certificate::load(tls_cert, tls_key)?;
    let client_ca = client_ca.as_deref().map(tls::load_client_ca).transpose()?;
    let token = auth_token_file.as_deref().map(read_token).transpose()?;

    let client_certificates = client_ca.is_some();
    let tls_config = tls::server_config(certificate.resolver.clone(), client_ca)?;
    let max_in_flight = max_in_flight.unwrap_or_else(default_max_in_flight);
    let metrics = Arc::new(Metrics::new());
    let mut state = AppState::new(
        metrics.clone(),
        max_in_flight,
        max_body_bytes,
        request_timeout,
    );
    state.token = token;
    state.memo = Arc::new(Memo::new(
        memo_bytes,
        memo_context.as_bytes(),
        metrics.clone(),
    ));
    let hook = HookPort {
        addr,
        certificate,
        tls: TlsAcceptor::from(Arc::new(tls_config)),
        state,
        header_read_timeout,
        idle_timeout,
        max_connections,
        shutdown_timeout,
        client_certificates,
        max_in_flight,
        memo_bytes,
    };
    serve_ports(hook, admin_addr, metrics)
}

/// Runs the admin port and then the hook port until SIGTERM or SIGINT and the drain.
fn serve_ports(
    hook: HookPort,
    admin_addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        let readiness = Arc::new(Readiness::new());
        let admin = AdminPort::start(admin_addr, readiness.clone(), metrics.clone()).await?;
        hook.serve(shutdown, &readiness, metrics).await?;
        admin.stop().await;
        info!("stopped");
        Ok(())
    });
    // Rendering threads still running after the drain are abandoned rather than waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The hook port's serving certificate: from the files, watched for changes, or self-signed.
struct Certificate {
    /// The files and what was loaded from them; none for a self-signed certificate.
    files: Option<(PairFiles, Snapshot)>,
    /// What the TLS configuration serves.
    resolver: Arc<Reloading>,
}

impl Certificate {
    fn load(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Self, String> {
        let files = match (cert, key) {
            (Some(cert), Some(key)) => Some(PairFiles { cert, key }),
            _ => None,
        };
        let (pair, files) = match files {
            Some(files) => {
                let (pair, loaded) = files.load_watched()?;
                (pair, Some((files, loaded)))
            }
            None => (tls::self_signed()?, None),
        };
        Ok(Self {
            files,
            resolver: Arc::new(Reloading::new(pair)),
        })
    }

    /// Watches the files for changes, and says what is served.
    fn watch(self, metrics: Arc<Metrics>) {
        match self.files {
            Some((files, loaded)) => {
                tokio::spawn(tls::watch(files.clone(), loaded, self.resolver, metrics));
                info!(cert = %files.cert.display(), key = %files.key.display(), "serving the certificate files, reloaded when they change");
            }
            None => info!(
                "no --tls-cert/--tls-key: serving a self-signed certificate for localhost and 127.0.0.1 (clients must skip verification, e.g. curl -k)"
            ),
        }
    }
}

/// A listener on `addr`, and the address it took; errors name the flag that set `addr`.
async fn bind(flag: &str, addr: SocketAddr) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{flag} {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("{flag} {addr}: {e}"))?;
    Ok((listener, local))
}

/// The plain-HTTP admin port, served on its own task.
struct AdminPort {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminPort {
    async fn start(
        addr: SocketAddr,
        readiness: Arc<Readiness>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let (listener, local) = bind("--admin-addr", addr).await?;
        let app = admin::router(AdminState { readiness, metrics });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                error!(error = %e, "the admin server failed");
            }
        });
        info!(addr = %local, "admin port listening (http): /healthz /readyz /metrics");
        Ok(Self { stop, task })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        // A scraper's keep-alive connection must not hold the exit up.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// The HTTPS hook port, with everything checked and built before anything is bound.
struct HookPort {
    addr: SocketAddr,
    certificate: Certificate,
    tls: TlsAcceptor,
    state: AppState,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: NonZeroUsize,
    shutdown_timeout: Duration,
    /// For the line that says the port listens.
    client_certificates: bool,
    max_in_flight: NonZeroUsize,
    memo_bytes: usize,
}

impl HookPort {
    /// Binds the port, marks the server ready, and serves until `shutdown` and the drain.
    async fn serve(
        self,
        shutdown: impl Future<Output = ()>,
        readiness: &Readiness,
        metrics: Arc<Metrics>,
    ) -> Result<(), String> {
        let (listener, local) = bind("--addr", self.addr).await?;
        self.certificate.watch(metrics.clone());
        // Ready before the line that says so: whoever reads the log may ask at once.
        readiness.set(true);
        info!(
            addr = %local,
            client_certificates = self.client_certificates,
            bearer_token = self.state.token.is_some(),
            max_in_flight = self.max_in_flight.get(),
            max_body_bytes = self.state.max_body_bytes,
            request_timeout_ms = self.state.request_timeout.as_millis() as u64,
            max_connections = self.max_connections.get(),
            memo_bytes = self.memo_bytes,
            "hook port listening (https): POST /sync, POST /customize"
        );
        let server = HookServer {
            tls: self.tls,
            app: router(self.state),
            metrics,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            slots: Arc::new(Semaphore::new(self.max_connections.get())),
        };
        serve(listener, server, shutdown, readiness, self.shutdown_timeout).await;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_flags_document() {
        assert_eq!(parse_duration("8s"), Ok(Duration::from_secs(8)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("8x").is_err());
        assert!(parse_duration("s").is_err());
    }
}
