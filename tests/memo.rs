//! The server's memo of answers (`src/server/memo.rs`): a request identical to one answered before gets the same
//! answer from the memo; a request that differs anywhere, by one byte of its body or by its route, never gets
//! an old answer; the memo stays within its budget; its hits, misses and size are exported.

mod server_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::http::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_replica_operator::metrics::Metrics;
use prometheus_replica_operator::server::memo::Memo;
use prometheus_replica_operator::server::{AppState, router};
use prometheus_replica_operator::{customize_json, sync_json};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use server_support::{Server, Trust, client, connect, example_with, post};
use tower::ServiceExt;

const ROUTES: [&str; 2] = ["/sync", "/customize"];

/// Real requests: the 2018 example, and one with the customize hook, self-monitoring and alerting.
fn seeds() -> [&'static [u8]; 2] {
    [
        include_bytes!("../hack/examples/sync-request.json"),
        include_bytes!("data/monitoring/sync-request.json"),
    ]
}

fn state(memo_bytes: usize) -> AppState {
    let metrics = Arc::new(Metrics::new());
    let mut state = AppState::new(
        metrics.clone(),
        std::num::NonZeroUsize::new(4).expect("non-zero"),
        64 * 1024 * 1024,
        Duration::from_secs(8),
    );
    state.memo = Arc::new(Memo::new(memo_bytes, b"tests/memo.rs", metrics));
    state
}

/// The status and body the router answers to `body` on `route`.
async fn ask(app: &axum::Router, route: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
    let request = Request::post(route)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes.to_vec())
}

/// The pure, uncached call behind `route`.
fn uncached(route: &str, body: &[u8]) -> prometheus_replica_operator::Result<Vec<u8>> {
    match route {
        "/sync" => sync_json(body),
        _ => customize_json(body),
    }
}

/// One changed byte: replaced by any other byte, inserted, removed, or (most often still valid JSON, so most
/// often a new successful answer) a letter or digit replaced by another.
#[derive(Clone, Debug)]
enum Change {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Alphanumeric(prop::sample::Index, char),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Change::Replace(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Change::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Change::Remove),
        (any::<prop::sample::Index>(), "[a-zA-Z0-9]").prop_map(|(i, s)| {
            Change::Alphanumeric(i, s.chars().next().expect("one character"))
        }),
        (any::<prop::sample::Index>(), "[a-zA-Z0-9]").prop_map(|(i, s)| {
            Change::Alphanumeric(i, s.chars().next().expect("one character"))
        }),
    ]
}

/// `body` with `change` made: always a different body.
fn changed(body: &[u8], change: &Change) -> Vec<u8> {
    let mut out = body.to_vec();
    match change {
        Change::Replace(i, b) => {
            let i = i.index(out.len());
            // Any byte but the one there.
            out[i] = if out[i] == *b { b.wrapping_add(1) } else { *b };
        }
        Change::Insert(i, b) => out.insert(i.index(out.len() + 1), *b),
        Change::Remove(i) => {
            out.remove(i.index(out.len()));
        }
        Change::Alphanumeric(i, c) => {
            let positions: Vec<usize> = (0..out.len())
                .filter(|&p| out[p].is_ascii_alphanumeric())
                .collect();
            let p = *i.get(&positions);
            let c = *c as u8;
            out[p] = if out[p] == c {
                if c == b'z' { b'a' } else { c + 1 }
            } else {
                c
            };
        }
    }
    out
}

#[test]
fn a_request_changed_by_one_byte_never_gets_an_old_answer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Small enough that answers are evicted during the run, large enough to keep a few dozen.
    let state = state(1024 * 1024);
    let metrics = state.metrics.clone();
    let app = router(state);
    // Cases whose changed request was answered 200 with other bytes than the original: those where an old
    // answer would have been wrong and the test could catch it.
    let different = AtomicUsize::new(0);
    let mut runner = TestRunner::default();
    let strategy = (0..seeds().len(), 0..ROUTES.len(), change());
    let result = runner.run(&strategy, |(seed, route, change)| {
        let route = ROUTES[route];
        let original = seeds()[seed];
        let mutated = changed(original, &change);
        prop_assert_ne!(original, &mutated[..]);
        // The original is answered (and kept) first; then the changed one, twice (computed, then perhaps from
        // the memo); then the original again, from the memo.
        let mut answers = Vec::new();
        for body in [original, &mutated[..], &mutated[..], original] {
            let (status, answer) = runtime.block_on(ask(&app, route, body));
            match uncached(route, body) {
                Ok(expected) => {
                    prop_assert_eq!(status, StatusCode::OK);
                    prop_assert!(
                        answer == expected,
                        "{route}: the answer differs from the uncached one after {change:?}"
                    );
                }
                Err(e) => {
                    prop_assert_ne!(status, StatusCode::OK, "{} after {:?}", e, change);
                    let json: serde_json::Value =
                        serde_json::from_slice(&answer).expect("errors are JSON");
                    prop_assert!(json["error"].is_string(), "{json}");
                }
            }
            answers.push((status, answer));
        }
        if answers[1].0 == StatusCode::OK && answers[1] != answers[0] {
            different.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The memo answered, missed and evicted: the run tested it rather than going around it.
    let different = different.into_inner();
    assert!(
        different >= 10,
        "only {different} changed requests had another successful answer"
    );
    assert!(metrics.memo_hits.get() > 0, "no answer came from the memo");
    assert!(metrics.memo_misses.get() > 0);
    assert!(metrics.memo_evictions.get() > 0, "nothing was evicted");
    assert!(metrics.memo_bytes.get() <= 1024 * 1024);
}

#[tokio::test]
async fn the_same_body_on_another_route_gets_that_routes_answer() {
    let app = router(state(1024 * 1024));
    let body = seeds()[1];
    let (status, sync) = ask(&app, "/sync", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sync, sync_json(body).expect("a valid request"));
    let (status, customize) = ask(&app, "/customize", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(customize, customize_json(body).expect("a valid request"));
}

#[tokio::test]
async fn errors_are_computed_every_time() {
    let state = state(1024 * 1024);
    let metrics = state.metrics.clone();
    let app = router(state);
    for _ in 0..3 {
        let (status, _) = ask(&app, "/sync", br#"{"parent": {}}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(metrics.memo_hits.get(), 0);
    assert_eq!(metrics.memo_misses.get(), 3);
    assert_eq!(metrics.memo_entries.get(), 0);
}

/// An HTTP/2 connection to the server, to send many requests without a handshake each.
async fn h2(server: &Server) -> Sender {
    let stream = connect(
        server.hook,
        client(Trust::Anything, &["h2"], None),
        "localhost",
    )
    .await
    .expect("TLS connection");
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

type Sender = hyper::client::conn::http2::SendRequest<http_body_util::Full<hyper::body::Bytes>>;

/// The answer to `POST /sync` with `body`, which must be a 200.
async fn answer(sender: &mut Sender, body: impl Into<hyper::body::Bytes>) -> hyper::body::Bytes {
    let response = sender
        .send_request(post("/sync", body))
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

const HITS: &str = "prometheus_replica_operator_memo_hits_total";
const MISSES: &str = "prometheus_replica_operator_memo_misses_total";
const BYTES: &str = "prometheus_replica_operator_memo_bytes";
const ENTRIES: &str = "prometheus_replica_operator_memo_entries";
const EVICTIONS: &str = "prometheus_replica_operator_memo_evictions_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_is_answered_from_the_memo_and_counted() {
    let server = Server::start(&[]);
    let mut sender = h2(&server).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(answer(&mut sender, server_support::EXAMPLE).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    assert_eq!(server.metric(MISSES).await, 1.0);
    assert_eq!(server.metric(HITS).await, 2.0);
    assert_eq!(server.metric(ENTRIES).await, 1.0);
    let bytes = server.metric(BYTES).await;
    assert!(
        bytes > answers[0].len() as f64 && bytes < 2.0 * answers[0].len() as f64,
        "{bytes} bytes held for one answer of {}",
        answers[0].len()
    );
    // The log line of a hit names the parent and its children as that of the first answer. The lines reach
    // the test through a pipe and a thread: wait for them.
    let deadline = std::time::Instant::now() + server_support::PATIENCE;
    let lines = loop {
        let lines: Vec<serde_json::Value> = server
            .logs()
            .iter()
            .filter(|l| l.contains("\"message\":\"request\""))
            .map(|l| serde_json::from_str(l).expect("JSON log line"))
            .collect();
        if lines.len() == 3 || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        assert_eq!(
            (&line["name"], &line["children"]),
            (&lines[0]["name"], &lines[0]["children"])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memo_bytes_zero_computes_every_answer() {
    let server = Server::start(&["--memo-bytes", "0"]);
    let mut sender = h2(&server).await;
    for _ in 0..2 {
        answer(&mut sender, server_support::EXAMPLE).await;
    }
    assert_eq!(server.metric(HITS).await, 0.0);
    assert_eq!(server.metric(MISSES).await, 0.0);
    assert_eq!(server.metric(ENTRIES).await, 0.0);
}

/// Two and a half times the default budget of distinct answers, as many parents each changing would send: the
/// memo evicts to stay within its budget, the process's peak memory grows by less than twice the budget (a memo
/// that kept every answer would grow by 2.5 times; the allocator's arenas make the rest, 1.2 to 1.6 times when the
/// machine is busy), and (in a release
/// build, as shipped: `cargo test --release --test memo`) stays under 32 MiB. A debug build's code and
/// unoptimized frames alone take 20 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_distinct_requests_stay_within_the_budget_and_32_mib() {
    let server = Server::start(&[]);
    let budget = prometheus_replica_operator::server::memo::DEFAULT_BYTES as f64;
    let mut sender = h2(&server).await;
    // The baseline: the server after its first answer, which starts its threads and allocator pages.
    let mut answered = answer(&mut sender, server_support::EXAMPLE).await.len() as f64;
    let baseline = server.memory_kib("VmHWM");
    let mut i = 0;
    while answered < 2.5 * budget {
        let body = example_with(|request| {
            request["parent"]["metadata"]["name"] = format!("example-{i}").into();
        });
        i += 1;
        answered += answer(&mut sender, body).await.len() as f64;
    }
    let held = server.metric(BYTES).await;
    assert!(held <= budget, "{held} bytes held, over the budget");
    assert!(
        held > budget / 2.0,
        "{held} bytes held: the memo keeps little"
    );
    assert!(server.metric(EVICTIONS).await > 0.0);
    assert_eq!(server.metric(MISSES).await, f64::from(i + 1));
    let peak = server.memory_kib("VmHWM");
    eprintln!("peak RSS {baseline} KiB after one answer, {peak} KiB after {i} more distinct ones");
    let growth = (peak - baseline) as f64 * 1024.0;
    assert!(
        growth < 2.0 * budget,
        "peak RSS grew by {growth} bytes with a budget of {budget}"
    );
    if !cfg!(debug_assertions) {
        assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
    }
}
