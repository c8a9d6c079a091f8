//! Load and faults that fit in a few seconds, against the real binary over real TLS: overload answers only 200
//! or 429 with `Retry-After`, a certificate rotation fails no request, and idle or excess connections do not
//! stop the server from answering. `hack/load.sh` and `hack/soak.sh` do the same at scale.

mod server_support;

use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper::http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use server_support::*;
use tokio::io::AsyncReadExt;

fn anything(alpn: &[&str]) -> Arc<rustls::ClientConfig> {
    client(Trust::Anything, alpn, None)
}

/// An HTTP/2 connection kept open for several requests.
async fn h2(
    server: &Server,
    config: Arc<rustls::ClientConfig>,
) -> (SendRequest<Full<Bytes>>, tokio::task::JoinHandle<()>) {
    let stream = connect(server.hook, config, "localhost")
        .await
        .expect("connects");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, task)
}

/// `200` with children, or `429` with `Retry-After: 1`: the only answers allowed under overload.
fn allowed(status: StatusCode, retry_after: Option<&str>, body: &[u8]) -> Result<(), String> {
    match status {
        StatusCode::OK => {
            let json: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| format!("200 without JSON: {e}"))?;
            match json["children"].as_array() {
                Some(children) if !children.is_empty() => Ok(()),
                _ => Err("200 without children".to_owned()),
            }
        }
        StatusCode::TOO_MANY_REQUESTS if retry_after == Some("1") => Ok(()),
        StatusCode::TOO_MANY_REQUESTS => Err("429 without Retry-After: 1".to_owned()),
        other => Err(format!("status {other}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twice_max_in_flight_answers_only_200_or_429_with_retry_after() {
    const IN_FLIGHT: usize = 2;
    const EACH: usize = 20;
    let server = Server::start(&["--max-in-flight", &IN_FLIGHT.to_string()]);
    let mut tasks = Vec::new();
    // 2×N clients: half on one HTTP/2 connection each, half on HTTP/1.1 with a connection per request.
    for client in 0..2 * IN_FLIGHT {
        let sender = if client % 2 == 0 {
            Some(h2(&server, anything(&["h2"])).await.0)
        } else {
            None
        };
        let hook = server.hook;
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..EACH {
                let answer = match &sender {
                    Some(sender) => {
                        let mut sender = sender.clone();
                        match sender.send_request(post("/sync", EXAMPLE)).await {
                            Ok(response) => {
                                let (parts, body) = response.into_parts();
                                let body = http_body_util::BodyExt::collect(body)
                                    .await
                                    .map(|b| b.to_bytes());
                                body.map(|body| (parts.status, parts.headers, body))
                                    .map_err(|e| e.to_string())
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    None => send(hook, anything(&["http/1.1"]), post("/sync", EXAMPLE))
                        .await
                        .map(|a| (a.status, a.headers, a.body))
                        .map_err(|e| e.to_string()),
                };
                outcomes.push(answer.and_then(|(status, headers, body)| {
                    let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok());
                    allowed(status, retry_after, &body).map(|()| status)
                }));
            }
            outcomes
        }));
    }
    let (mut ok, mut throttled, mut failures) = (0, 0, Vec::new());
    for task in tasks {
        for outcome in task.await.expect("client task") {
            match outcome {
                Ok(StatusCode::OK) => ok += 1,
                Ok(_) => throttled += 1,
                Err(e) => failures.push(e),
            }
        }
    }
    eprintln!("{ok} answered 200, {throttled} answered 429");
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(ok + throttled, 2 * IN_FLIGHT * EACH);
    // The server counted the same: every 429 came from the in-flight limit, which sets Retry-After.
    let metric = |code: u16| {
        format!("prometheus_replica_operator_requests_total{{route=\"/sync\",code=\"{code}\"}}")
    };
    assert_eq!(server.metric(&metric(200)).await, ok as f64);
    assert_eq!(server.metric(&metric(429)).await, throttled as f64);
    assert_eq!(
        server
            .metric("prometheus_replica_operator_throttled_requests_total")
            .await,
        throttled as f64
    );
}

/// Replace `name` in `dir` by the file of `from`, atomically, as a Secret volume's symlink swap does.
fn replace(dir: &std::path::Path, from: &std::path::Path, name: &str) {
    let staged = dir.join(format!(".{name}.new"));
    std::fs::copy(from.join(name), &staged).expect("copy");
    std::fs::rename(&staged, dir.join(name)).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_during_a_burst_fails_no_request() {
    let (live, next) = (temp_dir(), temp_dir());
    certs(live.path(), &["localhost"]);
    certs(next.path(), &["localhost"]);
    // Clients trust both CAs, as a caBundle does during a rotation.
    let both = path_in(&live, "both-ca.crt");
    let bundle = [
        std::fs::read(live.path().join("ca.crt")).expect("read"),
        std::fs::read(next.path().join("ca.crt")).expect("read"),
    ]
    .concat();
    std::fs::write(&both, bundle).expect("write");
    let flag = |name: &str| live.path().join(name).to_str().expect("utf-8").to_owned();
    let server = Server::start(&[
        "--tls-cert",
        &flag("tls.crt"),
        "--tls-key",
        &flag("tls.key"),
        "--max-in-flight",
        "64",
    ]);
    let config = client(Trust::Ca(&both), &["h2", "http/1.1"], None);
    let reloaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (config, reloaded, hook) = (config.clone(), reloaded.clone(), server.hook);
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + PATIENCE;
            let (mut sent, mut after, mut failures) = (0, 0, Vec::new());
            // Until 10 requests after the reload, on a new connection (a new handshake) each.
            while after < 10 && Instant::now() < deadline {
                let done = reloaded.load(std::sync::atomic::Ordering::SeqCst);
                match send(hook, config.clone(), post("/sync", EXAMPLE)).await {
                    Ok(answer) if answer.status == StatusCode::OK => {}
                    Ok(answer) => failures.push(format!("{}: {}", answer.status, answer.text())),
                    Err(e) => failures.push(e.to_string()),
                }
                sent += 1;
                if done {
                    after += 1;
                }
            }
            (sent, after, failures)
        }));
    }
    // Mid-burst: the key, then the certificate, each swapped atomically (in between the pair does not match,
    // and the previous one stays in use).
    server
        .wait_for_metric(
            "prometheus_replica_operator_requests_total{route=\"/sync\",code=\"200\"}",
            |n| n >= 8.0,
        )
        .await;
    replace(live.path(), next.path(), "tls.key");
    replace(live.path(), next.path(), "tls.crt");
    server
        .wait_for_metric("prometheus_replica_operator_tls_reloads_total", |n| {
            n >= 1.0
        })
        .await;
    reloaded.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    for task in tasks {
        let (sent, after, failures) = task.await.expect("client task");
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(after, 10, "the burst stopped before the deadline");
        total += sent;
    }
    eprintln!("{total} requests, none failed, across the rotation");
    // New connections now verify against the new CA alone.
    let new_only = client(Trust::Ca(&next.path().join("ca.crt")), &["h2"], None);
    let answer = send(server.hook, new_only, post("/sync", EXAMPLE))
        .await
        .expect("served with the new certificate");
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_send_a_request_do_not_lock_others_out() {
    let server = Server::start(&["--max-connections", "3", "--header-read-timeout", "1s"]);
    // Every slot taken: two bare TCP connections and one TLS connection on HTTP/1.1.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(
            tokio::net::TcpStream::connect(server.hook)
                .await
                .expect("connects"),
        );
    }
    let mut h1 = connect(server.hook, anything(&["http/1.1"]), "localhost")
        .await
        .expect("connects");
    server
        .wait_for_metric("prometheus_replica_operator_connections", |n| n >= 3.0)
        .await;
    // This one waits until the header-read timeout frees a slot, then is served.
    let answer = send(server.hook, anything(&["h2"]), post("/sync", EXAMPLE))
        .await
        .expect("answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let mut rest = Vec::new();
    for (i, mut tcp) in idle.into_iter().enumerate() {
        let closed = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "bare connection {i} stayed open");
    }
    let closed = tokio::time::timeout(PATIENCE, h1.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle HTTP/1.1 connection stayed open");
    assert!(
        server
            .metric("prometheus_replica_operator_connection_limit_reached_total")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connection_without_requests_makes_room_at_the_limit() {
    // The idle timeout is far beyond the test: only the limit can close the connection.
    let server = Server::start(&[
        "--max-connections",
        "1",
        "--header-read-timeout",
        "1s",
        "--idle-timeout",
        "10m",
    ]);
    // An HTTP/2 client answers the server's pings, so hyper alone would keep its connection for ever.
    let (sender, task) = h2(&server, anything(&["h2"])).await;
    server
        .wait_for_metric("prometheus_replica_operator_connections", |n| n == 1.0)
        .await;
    // Served once the first connection has gone a second without a request and is closed.
    let answer = send(server.hook, anything(&["h2"]), post("/sync", EXAMPLE))
        .await
        .expect("answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let closed = tokio::time::timeout(PATIENCE, task).await;
    assert!(closed.is_ok(), "the idle HTTP/2 connection stayed open");
    drop(sender);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_idle_keep_alive_connections_make_room() {
    // An idle timeout far beyond the test: only the limit can close these connections.
    let server = Server::start(&["--max-connections", "3", "--idle-timeout", "10m"]);
    let mut open = Vec::new();
    for _ in 0..3 {
        let (mut sender, task) = h2(&server, anything(&["h2"])).await;
        let response = sender
            .send_request(post("/sync", EXAMPLE))
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        open.push((sender, task));
    }
    server
        .wait_for_metric("prometheus_replica_operator_connections", |n| n == 3.0)
        .await;
    let answer = send(server.hook, anything(&["h2"]), post("/sync", EXAMPLE))
        .await
        .expect("answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    // Served because an idle one was sent a GOAWAY and closed (as many close as it takes).
    let deadline = Instant::now() + PATIENCE;
    while !open.iter().any(|(_, task)| task.is_finished()) {
        assert!(Instant::now() < deadline, "no idle connection was closed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        server
            .metric("prometheus_replica_operator_connection_limit_reached_total")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "1s"]);
    let (mut sender, task) = h2(&server, anything(&["h2"])).await;
    let response = sender
        .send_request(post("/sync", EXAMPLE))
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    // hyper's own pings would keep it open for ever; the idle timeout closes it with a GOAWAY.
    let closed = tokio::time::timeout(PATIENCE, task).await;
    assert!(closed.is_ok(), "the idle HTTP/2 connection stayed open");
    server
        .wait_for_metric("prometheus_replica_operator_connections", |n| n == 0.0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_connections_leave_the_hook_serving() {
    const IDLE: usize = 200;
    let server = Server::start(&["--max-connections", "100", "--header-read-timeout", "1s"]);
    let before = server.memory_kib("VmRSS");
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        // TLS, then nothing; the kernel queues what the server does not accept yet.
        let hook = server.hook;
        idle.push(tokio::spawn(async move {
            if let Ok(mut stream) = connect(hook, anything(&["http/1.1"]), "localhost").await {
                let mut rest = Vec::new();
                let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
            }
        }));
    }
    // And some that never start TLS.
    let mut bare = Vec::new();
    for _ in 0..IDLE / 3 {
        bare.push(
            tokio::net::TcpStream::connect(server.hook)
                .await
                .expect("connects"),
        );
    }
    let answer = send(server.hook, anything(&["h2"]), post("/sync", EXAMPLE))
        .await
        .expect("answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let during = server.memory_kib("VmRSS");
    eprintln!("RSS {before} KiB before, {during} KiB with {IDLE} idle connections");
    drop(bare);
    for task in idle {
        task.abort();
    }
}
