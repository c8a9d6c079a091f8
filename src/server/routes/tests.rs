//! Router tests: the routes, limits and error mapping, without sockets.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use tower::ServiceExt;

use super::failure::MAX_MESSAGE;
use super::*;
use crate::metrics::ReasonLabels;

const EXAMPLE: &[u8] = include_bytes!("../../../hack/examples/sync-request.json");

fn state() -> AppState {
    AppState::new(
        Arc::new(Metrics::new()),
        NonZeroUsize::new(4).expect("non-zero"),
        1024 * 1024,
        Duration::from_secs(8),
    )
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("valid request")
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    outcome: Option<Outcome>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Every failure answers `{"error": "..."}` and nothing else.
    fn error(&self) -> String {
        let json = self.json();
        let object = json.as_object().expect("an object");
        assert_eq!(object.len(), 1, "{}", self.body);
        object["error"].as_str().expect("a string").to_owned()
    }
}

async fn call(state: &AppState, request: Request<Body>) -> Answer {
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let outcome = response.extensions().get::<Outcome>().cloned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        outcome,
    }
}

fn counted(state: &AppState, route: &'static str, code: u16) -> u64 {
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels { route, code })
        .get()
}

#[tokio::test]
async fn valid_sync_answers_200_with_children_and_status() {
    let state = state();
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    let json = answer.json();
    let children = json["children"].as_array().expect("children is an array");
    assert!(!children.is_empty());
    assert!(json["status"].is_object(), "{json}");
    let outcome = answer.outcome.expect("outcome for the log line");
    assert_eq!(outcome.namespace.as_deref(), Some("default"));
    assert_eq!(outcome.name.as_deref(), Some("example"));
    assert_eq!(outcome.children, Some(children.len()));
    assert_eq!(counted(&state, "/sync", 200), 1);
}

#[tokio::test]
async fn log_outcome_carries_the_hooks_summary() {
    let mut state = state();
    state.hooks.sync = |_| {
        let answer = br#"{"status":{},"children":[{},{},{}],"resyncAfterSeconds":0}"#.to_vec();
        let summary = crate::Summary {
            namespace: Some("default".into()),
            name: Some("example".into()),
            children: Some(3),
        };
        (Ok(answer), summary)
    };
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let outcome = answer.outcome.expect("outcome");
    assert_eq!(outcome.namespace.as_deref(), Some("default"));
    assert_eq!(outcome.name.as_deref(), Some("example"));
    assert_eq!(outcome.children, Some(3));
}

#[tokio::test]
async fn malformed_body_is_400_with_a_short_json_error() {
    let state = state();
    let answer = call(&state, post("/sync", "{not json")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.error().starts_with("malformed request"),
        "{}",
        answer.body
    );
    assert_eq!(counted(&state, "/sync", 400), 1);
    assert_eq!(
        state
            .metrics
            .errors
            .get_or_create(&KindLabels {
                kind: "bad_request"
            })
            .get(),
        1
    );
}

#[tokio::test]
async fn malformed_customize_body_is_400() {
    let answer = call(&state(), post("/customize", "[1, 2")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    answer.error();
}

#[tokio::test]
async fn invalid_spec_is_422_naming_the_field() {
    let mut state = state();
    state.hooks.sync = |_| {
        let error = crate::Error::invalid("spec.metrics.retention", "\"24x\" is not a duration");
        (Err(error), Default::default())
    };
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer.error(),
        "spec.metrics.retention: \"24x\" is not a duration"
    );
    assert_eq!(
        state
            .metrics
            .errors
            .get_or_create(&KindLabels {
                kind: "invalid_spec"
            })
            .get(),
        1
    );
}

#[tokio::test]
async fn internal_error_is_500_without_its_details() {
    let mut state = state();
    state.hooks.sync = |_| {
        let error = crate::Error::Internal("child list lost its ingress".into());
        (Err(error), Default::default())
    };
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.error(), "internal error");
}

#[tokio::test]
async fn panic_in_the_hook_is_500_counted_without_panic_text_and_serving_goes_on() {
    // Inline (small bodies) and in the blocking pool (large ones).
    for inline_body_bytes in [crate::server::INLINE_BODY_BYTES, 0] {
        panic_is_500_and_serving_goes_on(inline_body_bytes).await;
    }
}

async fn panic_is_500_and_serving_goes_on(inline_body_bytes: usize) {
    let mut state = state();
    state.inline_body_bytes = inline_body_bytes;
    state.hooks.sync = |_| panic!("boom with private detail");
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.error(), "internal error");
    assert!(!answer.body.contains("boom"));
    assert_eq!(
        state
            .metrics
            .errors
            .get_or_create(&KindLabels { kind: "panic" })
            .get(),
        1
    );
    // The slot was given back and the next request is served.
    assert_eq!(state.metrics.in_flight.get(), 0);
    state.hooks.sync = |_| {
        let answer = br#"{"status":{},"children":[{}],"resyncAfterSeconds":0}"#.to_vec();
        (Ok(answer), Default::default())
    };
    assert_eq!(
        call(&state, post("/sync", EXAMPLE)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn slow_answer_is_500_after_the_request_timeout() {
    let mut state = state();
    // Only answers in the blocking pool can be given up on; small bodies are answered inline, fast.
    state.inline_body_bytes = 0;
    state.request_timeout = Duration::from_millis(50);
    state.hooks.sync = |_| {
        std::thread::sleep(Duration::from_millis(500));
        (Ok(b"{}".to_vec()), Default::default())
    };
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.error().contains("request timeout"),
        "{}",
        answer.body
    );
    assert_eq!(
        state
            .metrics
            .errors
            .get_or_create(&KindLabels { kind: "timeout" })
            .get(),
        1
    );
}

/// A body that never sends anything.
struct Silent;

impl axum::body::HttpBody for Silent {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn body_that_never_arrives_is_408_and_frees_its_slot() {
    let mut state = state();
    // Only answers in the blocking pool can be given up on; small bodies are answered inline, fast.
    state.inline_body_bytes = 0;
    state.request_timeout = Duration::from_millis(50);
    let answer = call(&state, post("/sync", Body::new(Silent))).await;
    assert_eq!(answer.status, StatusCode::REQUEST_TIMEOUT);
    answer.error();
    assert_eq!(state.metrics.in_flight.get(), 0);
}

#[tokio::test]
async fn unknown_path_is_404() {
    let state = state();
    let answer = call(&state, post("/hooks/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    answer.error();
    assert_eq!(counted(&state, "other", 404), 1);
}

#[tokio::test]
async fn wrong_method_is_405_allowing_post() {
    for path in ["/sync", "/customize"] {
        let request = Request::get(path)
            .body(Body::empty())
            .expect("valid request");
        let answer = call(&state(), request).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(answer.headers[header::ALLOW], "POST");
        answer.error();
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413_whether_declared_or_streamed() {
    let mut state = state();
    state.max_body_bytes = 1000;
    let big = vec![b' '; 1001];
    let declared = Request::post("/sync")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "1001")
        .body(Body::from(big.clone()))
        .expect("valid request");
    assert_eq!(
        call(&state, declared).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Without a Content-Length (chunked, or HTTP/2 without the header) the count is made while reading.
    let streamed = Request::post("/sync")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .expect("valid request");
    let answer = call(&state, streamed).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error(), "request body over 1000 bytes");
}

#[tokio::test]
async fn body_not_declared_json_is_415_without_a_slot() {
    let state = AppState::new(
        Arc::new(Metrics::new()),
        NonZeroUsize::MIN,
        1024 * 1024,
        Duration::from_secs(8),
    );
    // Every slot taken: a 415 shows the type is checked before the in-flight limit.
    let _held = state
        .slots
        .clone()
        .try_acquire_owned()
        .expect("a free slot");
    for path in ["/sync", "/customize"] {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            Some("application/yaml"),
            None,
        ] {
            let mut request = post(path, EXAMPLE);
            match content_type {
                Some(value) => {
                    request
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
                }
                None => {
                    request.headers_mut().remove(header::CONTENT_TYPE);
                }
            }
            let answer = call(&state, request).await;
            assert_eq!(
                answer.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {content_type:?}"
            );
            assert!(
                answer.error().contains("application/json"),
                "{}",
                answer.body
            );
        }
    }
    assert_eq!(counted(&state, "/sync", 415), 5);
    assert_eq!(state.metrics.throttled.get(), 0);
}

#[tokio::test]
async fn json_with_parameters_or_other_case_is_accepted() {
    let state = state();
    for value in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let mut request = post("/sync", EXAMPLE);
        request
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        assert_eq!(
            call(&state, request).await.status,
            StatusCode::OK,
            "{value}"
        );
    }
}

#[tokio::test]
async fn over_max_in_flight_is_429_with_retry_after() {
    let state = AppState::new(
        Arc::new(Metrics::new()),
        NonZeroUsize::MIN,
        1024,
        Duration::from_secs(8),
    );
    let held = state
        .slots
        .clone()
        .try_acquire_owned()
        .expect("a free slot");
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
    answer.error();
    assert_eq!(state.metrics.throttled.get(), 1);
    drop(held);
    assert_ne!(
        call(&state, post("/sync", "{")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn bearer_token_missing_is_401_wrong_is_403_right_passes() {
    let mut state = state();
    state.token = Some(Token::new("s3cret"));
    let with = |value: Option<&str>| {
        let mut request = post("/sync", "{");
        if let Some(value) = value {
            request.headers_mut().insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        request
    };
    let missing = call(&state, with(None)).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        call(&state, with(Some("Basic s3cret"))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&state, with(Some("Bearer s3cre"))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&state, with(Some("Bearer s3cret!"))).await.status,
        StatusCode::FORBIDDEN
    );
    // The right token reaches the hook, which finds the body malformed.
    assert_eq!(
        call(&state, with(Some("Bearer s3cret"))).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&state, with(Some("bearer s3cret"))).await.status,
        StatusCode::BAD_REQUEST
    );
    let refusals = |reason| {
        state
            .metrics
            .auth_refusals
            .get_or_create(&ReasonLabels { reason })
            .get()
    };
    assert_eq!(refusals("missing_token"), 2);
    assert_eq!(refusals("wrong_token"), 2);
}

#[tokio::test]
async fn long_error_messages_are_cut_short() {
    let mut state = state();
    state.hooks.sync = |_| {
        let error = crate::Error::invalid("spec.configMap", "x".repeat(10_000));
        (Err(error), Default::default())
    };
    let answer = call(&state, post("/sync", EXAMPLE)).await;
    assert!(answer.error().len() <= MAX_MESSAGE + 3);
}
