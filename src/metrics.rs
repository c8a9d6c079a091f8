//! The server's Prometheus metrics, served on the admin port's `/metrics`.
//!
//! Every name starts with `prometheus_replica_operator_`. Label values come from a fixed set (routes, status
//! codes, error kinds), never from a request, so the number of series is bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `/sync`, `/customize` or `other`.
    pub route: &'static str,
    /// The HTTP status code.
    pub code: u16,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// Labels of an error of the hook.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// [`crate::Error::kind`], or `panic`, `timeout`.
    pub kind: &'static str,
}

/// Labels of a refused request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `missing_token` (401) or `wrong_token` (403).
    pub reason: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// All metrics of one server. Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Finished requests on the hook port.
    pub requests: Family<RequestLabels, Counter>,
    /// Seconds from the request's headers to its response.
    pub duration: HistogramFamily,
    /// Requests the hook could not answer with the desired state.
    pub errors: Family<KindLabels, Counter>,
    /// Requests holding an in-flight slot.
    pub in_flight: Gauge,
    /// Requests answered 429 because every slot was taken.
    pub throttled: Counter,
    /// Requests refused for their bearer token.
    pub auth_refusals: Family<ReasonLabels, Counter>,
    /// Serving certificates loaded again after the files changed.
    pub tls_reloads: Counter,
    /// Changed certificate files that could not be loaded (the previous pair stays in use).
    pub tls_reload_failures: Counter,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: Counter,
    /// Open connections on the hook port, from accept to close.
    pub connections: Gauge,
    /// Times `--max-connections` was reached and a new connection had to wait.
    pub connection_limit_reached: Counter,
    /// Hook requests answered from the memo of answers (`server::memo`).
    pub memo_hits: Counter,
    /// Hook requests looked up in the memo and computed.
    pub memo_misses: Counter,
    /// Answers evicted from the memo to stay within `--memo-bytes`.
    pub memo_evictions: Counter,
    /// Bytes the memo holds, as counted against `--memo-bytes`.
    pub memo_bytes: Gauge,
    /// Answers the memo holds.
    pub memo_entries: Gauge,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s: the request timeout is 8 s by default, Metacontroller's 10 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    /// Fresh metrics, with `build_info` set.
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("prometheus_replica_operator"),
            requests: Family::default(),
            duration: HistogramFamily::new_with_constructor(latency_histogram),
            errors: Family::default(),
            in_flight: Gauge::default(),
            throttled: Counter::default(),
            auth_refusals: Family::default(),
            tls_reloads: Counter::default(),
            tls_reload_failures: Counter::default(),
            tls_handshake_failures: Counter::default(),
            connections: Gauge::default(),
            connection_limit_reached: Counter::default(),
            memo_hits: Counter::default(),
            memo_misses: Counter::default(),
            memo_evictions: Counter::default(),
            memo_bytes: Gauge::default(),
            memo_entries: Gauge::default(),
        };
        // Registered in this order, which is the order of the exposition.
        metrics.register_requests();
        metrics.register_tls_and_connections();
        metrics.register_memo();
        let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        metrics
            .registry
            .register("build", "The running version", build);
        metrics
    }

    /// The hook requests: finished, timed, failed, in flight, throttled and refused.
    fn register_requests(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "requests",
            "Finished hook requests by route and HTTP status code",
            self.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a hook request's headers to its response",
            self.duration.clone(),
        );
        registry.register(
            "hook_errors",
            "Hook requests answered without the desired state, by error kind",
            self.errors.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Hook requests being served",
            self.in_flight.clone(),
        );
        registry.register(
            "throttled_requests",
            "Hook requests answered 429 because --max-in-flight was reached",
            self.throttled.clone(),
        );
        registry.register(
            "auth_refusals",
            "Hook requests refused for a missing (401) or wrong (403) bearer token",
            self.auth_refusals.clone(),
        );
    }

    /// The serving certificate and the hook port's connections.
    fn register_tls_and_connections(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "tls_reloads",
            "Serving certificates reloaded after their files changed",
            self.tls_reloads.clone(),
        );
        registry.register(
            "tls_reload_failures",
            "Changed certificate files that could not be loaded; the previous certificate stays in use",
            self.tls_reload_failures.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes on the hook port that failed or timed out",
            self.tls_handshake_failures.clone(),
        );
        registry.register(
            "connections",
            "Open connections on the hook port",
            self.connections.clone(),
        );
        registry.register(
            "connection_limit_reached",
            "Times --max-connections was reached: idle connections were closed and a new one waited",
            self.connection_limit_reached.clone(),
        );
    }

    /// The memo of answers.
    fn register_memo(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "memo_hits",
            "Hook requests answered from the memo of earlier answers to the same request",
            self.memo_hits.clone(),
        );
        registry.register(
            "memo_misses",
            "Hook requests not found in the memo of answers, and computed",
            self.memo_misses.clone(),
        );
        registry.register(
            "memo_evictions",
            "Answers evicted from the memo, least recently used first, to stay within --memo-bytes",
            self.memo_evictions.clone(),
        );
        registry.register(
            "memo_bytes",
            "Bytes held by the memo of answers, as counted against --memo-bytes",
            self.memo_bytes.clone(),
        );
        registry.register(
            "memo_entries",
            "Answers held by the memo",
            self.memo_entries.clone(),
        );
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric_the_readme_lists() {
        let metrics = Metrics::new();
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route: "/sync",
                code: 200,
            })
            .inc();
        metrics
            .duration
            .get_or_create(&RouteLabels { route: "/sync" })
            .observe(0.01);
        metrics
            .errors
            .get_or_create(&KindLabels { kind: "internal" })
            .inc();
        metrics
            .auth_refusals
            .get_or_create(&ReasonLabels {
                reason: "wrong_token",
            })
            .inc();
        let text = metrics.encode();
        for name in [
            "prometheus_replica_operator_requests_total{route=\"/sync\",code=\"200\"} 1",
            "prometheus_replica_operator_request_duration_seconds_bucket{le=",
            "prometheus_replica_operator_hook_errors_total{kind=\"internal\"} 1",
            "prometheus_replica_operator_in_flight_requests 0",
            "prometheus_replica_operator_throttled_requests_total 0",
            "prometheus_replica_operator_auth_refusals_total{reason=\"wrong_token\"} 1",
            "prometheus_replica_operator_tls_reloads_total 0",
            "prometheus_replica_operator_tls_reload_failures_total 0",
            "prometheus_replica_operator_tls_handshake_failures_total 0",
            "prometheus_replica_operator_connections 0",
            "prometheus_replica_operator_connection_limit_reached_total 0",
            "prometheus_replica_operator_memo_hits_total 0",
            "prometheus_replica_operator_memo_misses_total 0",
            "prometheus_replica_operator_memo_evictions_total 0",
            "prometheus_replica_operator_memo_bytes 0",
            "prometheus_replica_operator_memo_entries 0",
            "prometheus_replica_operator_build_info{version=",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
