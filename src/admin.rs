//! The plain-HTTP admin port: `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! It carries no request data, so it needs neither TLS nor authentication; keep it off the Service that
//! Metacontroller calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Whether the hook port should receive traffic.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    /// Not ready: the state until the TLS listener is bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mark ready (the TLS listener is accepting) or not (shutdown has begun).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the admin routes read.
#[derive(Clone, Debug)]
pub struct AdminState {
    pub readiness: Arc<Readiness>,
    pub metrics: Arc<Metrics>,
}

/// The admin routes. `/healthz` is 200 while the process serves at all; `/readyz` is 200 only between the TLS
/// listener coming up and the start of shutdown, 503 otherwise.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.readiness.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(app: &Router, path: &str) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(
                Request::get(path)
                    .body(Body::empty())
                    .expect("valid request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn state() -> AdminState {
        AdminState {
            readiness: Arc::new(Readiness::new()),
            metrics: Arc::new(Metrics::new()),
        }
    }

    #[tokio::test]
    async fn readyz_is_false_until_set_and_false_again_after() {
        let state = state();
        let app = router(state.clone());
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.readiness.set(true);
        assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
        state.readiness.set(false);
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn healthz_is_true_whatever_the_readiness() {
        let app = router(state());
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics_text() {
        let (status, body) = get(&router(state()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("prometheus_replica_operator_build_info"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
