//! The real binary's hook server over real TLS: routes, status codes, limits, shutdown.

mod server_support;

use std::time::Duration;

use hyper::http::{Request, StatusCode};
use server_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IN_FLIGHT: &str = "prometheus_replica_operator_in_flight_requests";

fn anything(alpn: &[&str]) -> std::sync::Arc<rustls::ClientConfig> {
    client(Trust::Anything, alpn, None)
}

async fn post_example(server: &Server) -> Answer {
    send(
        server.hook,
        anything(&["h2", "http/1.1"]),
        post("/sync", EXAMPLE),
    )
    .await
    .expect("request answered")
}

fn assert_full_answer(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let json = answer.json();
    let children = json["children"].as_array().expect("children is an array");
    assert!(!children.is_empty(), "{json}");
    assert!(json["status"].is_object(), "{json}");
}

/// The error body every failure has: `{"error": "..."}`.
fn error_of(answer: &Answer) -> String {
    let json = answer.json();
    assert_eq!(json.as_object().map(|o| o.len()), Some(1), "{json}");
    json["error"].as_str().expect("error message").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_sync_over_https_answers_200_with_children_and_status() {
    let server = Server::start(&[]);
    assert_full_answer(&post_example(&server).await);
    // One request line in the log, naming the parent and the child count, without the body.
    let logs = server.logs();
    let line = logs
        .iter()
        .find(|l| l.contains("\"message\":\"request\""))
        .expect("a request log line");
    let json: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(json["route"], "/sync");
    assert_eq!(json["status"], 200);
    assert_eq!(json["namespace"], "default");
    assert_eq!(json["name"], "example");
    assert!(json["children"].as_u64().is_some_and(|n| n > 0), "{line}");
    assert!(json["duration_ms"].is_number(), "{line}");
    assert!(
        !logs.iter().any(|l| l.contains("s3-bucket")),
        "the body was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_negotiates_h2_and_http1_and_both_serve_the_hook() {
    let server = Server::start(&[]);
    for (offer, expected) in [
        (&["h2"][..], Some(&b"h2"[..])),
        (&["http/1.1"][..], Some(&b"http/1.1"[..])),
        (&[][..], None),
    ] {
        let answer = send(server.hook, anything(offer), post("/sync", EXAMPLE))
            .await
            .expect("request answered");
        assert_eq!(answer.alpn.as_deref(), expected, "offered {offer:?}");
        assert_full_answer(&answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_are_mapped_as_designed_with_short_json_bodies() {
    let server = Server::start(&["--max-body-bytes", "100000"]);
    let config = anything(&["http/1.1"]);
    let ask = |request| send(server.hook, config.clone(), request);

    let malformed = ask(post("/sync", "{\"children\": 5"))
        .await
        .expect("answered");
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(error_of(&malformed).starts_with("malformed request"));

    let not_found = ask(post("/hooks/sync", EXAMPLE)).await.expect("answered");
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    error_of(&not_found);

    let get = Request::get("/sync")
        .header("host", "localhost")
        .body(Default::default())
        .expect("request");
    let wrong_method = ask(get).await.expect("answered");
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers["allow"], "POST");

    let bad_retention =
        example_with(|r| r["parent"]["spec"]["metrics"]["retention"] = "24x".into());
    let invalid = ask(post("/sync", bad_retention)).await.expect("answered");
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.text()
    );
    assert!(
        error_of(&invalid).contains("spec.metrics.retention"),
        "{}",
        invalid.text()
    );

    let long_name = example_with(|r| r["parent"]["metadata"]["name"] = "a".repeat(60).into());
    let invalid = ask(post("/sync", long_name)).await.expect("answered");
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.text()
    );
    assert!(
        error_of(&invalid).contains("metadata.name"),
        "{}",
        invalid.text()
    );

    let too_large = example_with(|r| {
        r["related"]["Padding.v1"] = serde_json::json!({"x": "y".repeat(200_000)})
    });
    let refused = send(server.hook, anything(&["h2"]), post("/sync", too_large))
        .await
        .expect("answered");
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    error_of(&refused);
    // The server goes on serving.
    assert_full_answer(&post_example(&server).await);

    let metrics = server.admin_get("/metrics").await.1;
    for sample in [
        "requests_total{route=\"/sync\",code=\"400\"} 1",
        "requests_total{route=\"other\",code=\"404\"} 1",
        "requests_total{route=\"/sync\",code=\"405\"} 1",
        "requests_total{route=\"/sync\",code=\"422\"} 2",
        "requests_total{route=\"/sync\",code=\"413\"} 1",
        "requests_total{route=\"/sync\",code=\"200\"} 1",
        "hook_errors_total{kind=\"invalid_spec\"} 2",
    ] {
        assert!(
            metrics.contains(&format!("prometheus_replica_operator_{sample}")),
            "{sample}:\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customize_answers_200_with_json() {
    let server = Server::start(&[]);
    let answer = send(server.hook, anything(&["h2"]), post("/customize", EXAMPLE))
        .await
        .expect("answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.json().is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_required_when_configured() {
    let dir = temp_dir();
    let token_file = path_in(&dir, "token");
    std::fs::write(&token_file, "s3cret-token\n").expect("write token");
    let server = Server::start(&[
        "--auth-token-file",
        token_file.to_str().expect("utf-8 path"),
    ]);
    let config = anything(&["http/1.1"]);
    let with = |value: Option<&str>| {
        let mut request = post("/sync", EXAMPLE);
        if let Some(value) = value {
            request
                .headers_mut()
                .insert("authorization", value.parse().expect("header"));
        }
        send(server.hook, config.clone(), request)
    };
    let missing = with(None).await.expect("answered");
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&missing), "missing bearer token");
    let wrong = with(Some("Bearer s3cret-tokem")).await.expect("answered");
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_full_answer(&with(Some("Bearer s3cret-token")).await.expect("answered"));
    let metrics = server.admin_get("/metrics").await.1;
    assert!(
        metrics.contains("auth_refusals_total{reason=\"missing_token\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("auth_refusals_total{reason=\"wrong_token\"} 1"),
        "{metrics}"
    );
}

/// An HTTP/1.1 request whose body is sent but for its last byte, holding its in-flight slot.
struct HeldRequest {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    last: u8,
}

impl HeldRequest {
    async fn start(server: &Server, body: &str) -> Self {
        let mut stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
            .await
            .expect("connects");
        let (head, last) = body.as_bytes().split_at(body.len() - 1);
        let headers = format!(
            "POST /sync HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream
            .write_all(headers.as_bytes())
            .await
            .expect("write headers");
        stream.write_all(head).await.expect("write body");
        stream.flush().await.expect("flush");
        Self {
            stream,
            last: last[0],
        }
    }

    /// Send the last byte; the status code and body of the answer.
    async fn finish(mut self) -> (u16, String) {
        self.stream
            .write_all(&[self.last])
            .await
            .expect("write the last byte");
        self.stream.flush().await.expect("flush");
        self.answer().await
    }

    /// Read the answer without sending the rest of the body.
    async fn answer(mut self) -> (u16, String) {
        let mut raw = Vec::new();
        // The server closes after answering (Connection: close); an unclean close still leaves the answer.
        let _ = tokio::time::timeout(PATIENCE, self.stream.read_to_end(&mut raw)).await;
        server_support::raw_response(&raw)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_in_flight_answers_429_with_retry_after() {
    let server = Server::start(&["--max-in-flight", "1"]);
    let held = HeldRequest::start(&server, EXAMPLE).await;
    server.wait_for_metric(IN_FLIGHT, |n| n == 1.0).await;

    let throttled = post_example(&server).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers["retry-after"], "1");
    error_of(&throttled);

    let (status, body) = held.finish().await;
    assert_eq!(status, 200, "{body}");
    server.wait_for_metric(IN_FLIGHT, |n| n == 0.0).await;
    assert_full_answer(&post_example(&server).await);
    assert_eq!(
        server
            .metric("prometheus_replica_operator_throttled_requests_total")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_that_never_arrives_is_408_after_the_request_timeout() {
    let server = Server::start(&["--request-timeout", "1s"]);
    let held = HeldRequest::start(&server, EXAMPLE).await;
    let (status, body) = held.answer().await;
    assert_eq!(status, 408, "{body}");
    server.wait_for_metric(IN_FLIGHT, |n| n == 0.0).await;
    assert_full_answer(&post_example(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_finishes_its_headers_is_cut_off() {
    let server = Server::start(&["--header-read-timeout", "1s"]);
    let mut stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
        .await
        .expect("connects");
    stream
        .write_all(b"POST /sync HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    // Well within hyper's own default of 30 s, so that this checks the flag; generous against 1 s.
    let cut_off = Duration::from_secs(20);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(cut_off, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");

    // A client that never even starts TLS is cut off too.
    let mut tcp = TcpStream::connect(server.hook).await.expect("connects");
    let closed = tokio::time::timeout(cut_off, tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");

    assert_full_answer(&post_example(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_readiness_drains_in_flight_requests_and_exits_0() {
    let mut server = Server::start(&["--shutdown-timeout", "60s"]);
    assert_eq!(server.admin_get("/readyz").await.0, 200);
    let held = HeldRequest::start(&server, EXAMPLE).await;
    server.wait_for_metric(IN_FLIGHT, |n| n == 1.0).await;

    server.terminate();
    // Not ready, and no new connections, while the held request is still in flight.
    let deadline = std::time::Instant::now() + PATIENCE;
    while server.admin_get("/readyz").await.0 != 503 {
        assert!(std::time::Instant::now() < deadline, "/readyz stayed 200");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while TcpStream::connect(server.hook).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hook port kept accepting"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.admin_get("/healthz").await.0, 200);

    let (status, body) = held.finish().await;
    assert_eq!(status, 200, "{body}");
    let exit = server.wait();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_health_and_metrics_are_served_on_the_admin_port() {
    let server = Server::start(&[]);
    assert_eq!(server.admin_get("/readyz").await.0, 200);
    assert_eq!(server.admin_get("/healthz").await.0, 200);
    let (status, metrics) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("prometheus_replica_operator_build_info{version="),
        "{metrics}"
    );
    assert!(server.logs().iter().any(|l| l.contains("self-signed")));
}

#[test]
fn unreadable_tls_files_exit_non_zero_naming_the_flag() {
    let dir = temp_dir();
    let missing = path_in(&dir, "missing.crt");
    let missing = missing.to_str().expect("utf-8 path");
    let output = std::process::Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .args(["--tls-cert", missing, "--tls-key", missing])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--tls-cert {missing}: no such file")),
        "{stderr}"
    );

    let token = path_in(&dir, "empty-token");
    std::fs::write(&token, "\n").expect("write");
    let output = std::process::Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--auth-token-file")
        .arg(&token)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--auth-token-file"));
}

#[test]
fn flags_can_be_set_from_the_environment() {
    let output = std::process::Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .env("PRO_TLS_CERT", "/nonexistent/from-env.crt")
        .env("PRO_TLS_KEY", "/nonexistent/from-env.key")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--tls-cert /nonexistent/from-env.crt")
    );
}
