//! The floor that `hack/bench.sh` measures the hook against: the same tokio, hyper and rustls (ring) stack and
//! TLS settings as `serve`, reading each request body whole and answering every POST with a copy of the hook's
//! own answer to the same request, computed once at start. What the hook costs above this is its own work.
//!
//! `cargo run --release --example floor -- 127.0.0.1:9443 hack/examples/sync-request.json`

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_replica_operator::tls::{self, Reloading};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(path), None) = (args.next(), args.next(), args.next()) else {
        return Err("usage: floor ADDR SYNC_REQUEST_FILE".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let request = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let answer = prometheus_replica_operator::sync_json(&request)
        .map_err(|e| format!("{path}: the hook refuses it: {e}"))?;

    let resolver = Arc::new(Reloading::new(tls::self_signed()?));
    let tls = TlsAcceptor::from(Arc::new(tls::server_config(resolver, None)?));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(serve(addr, tls, Bytes::from(answer)))
}

async fn serve(addr: SocketAddr, tls: TlsAcceptor, answer: Bytes) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    println!("floor listening on https://{addr}");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let tls = tls.clone();
        let answer = answer.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request| respond(request, answer.clone()));
            // A client that goes away mid-request is no concern of a benchmark.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Reads the body whole, as the hook does, then answers with the precomputed bytes.
async fn respond(
    request: Request<Incoming>,
    answer: Bytes,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let post = request.method() == Method::POST;
    let body = request.into_body().collect().await?.to_bytes();
    std::hint::black_box(body);
    let response = if post {
        Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(answer))
    } else {
        Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body(Full::default())
    };
    Ok(response.expect("a response of constant parts always builds"))
}
