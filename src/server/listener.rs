//! The hook port's listener: TLS, HTTP/1 or HTTP/2 by ALPN, the connection limit, idle connections, draining.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::admin::Readiness;
use crate::metrics::Metrics;

/// What each hook connection needs.
pub(super) struct HookServer {
    pub(super) tls: TlsAcceptor,
    pub(super) app: Router,
    pub(super) metrics: Arc<Metrics>,
    pub(super) header_read_timeout: Duration,
    pub(super) idle_timeout: Duration,
    /// One per open connection: `--max-connections` of them.
    pub(super) slots: Arc<Semaphore>,
}

/// Accepts TLS connections until `shutdown`, then closes the listener, marks not ready and waits (at most
/// `drain`) for the connections to finish their requests.
///
/// At `--max-connections`, accepting pauses: the connection just accepted and those behind it in the kernel's
/// queue wait (a client sees a slow handshake, not a reset, and is served when a slot frees) while the
/// connections that sit idle between requests are told to close. Refusing instead would fail Metacontroller's
/// calls outright during a burst.
pub(super) async fn serve(
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
