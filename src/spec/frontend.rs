//! The query frontend's settings, checked and defaulted.

use super::{check_range, parse_duration, short};
use crate::api::PrometheusReplicaSpec;
use crate::{Error, Result};

/// The query frontend, when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryFrontend {
    pub replicas: i32,
    /// `--query-range.split-interval`, a duration Go's `time.ParseDuration` reads.
    pub split_interval: String,
    /// `max_size` of the in-memory response cache, such as `256MB`.
    pub cache_max_size: String,
    /// `cache_max_size` in bytes (`MB` is 10^6 bytes to the frontend's parser, `go-humanize`).
    pub cache_bytes: u128,
    /// How long a cached response is served, a duration Go's `time.ParseDuration` reads.
    pub cache_validity: String,
}

/// The query frontend of `spec`, or `None` when `queryFrontend.enabled` is false. `query_replicas` is its
/// default replica count.
pub fn query_frontend(
    spec: &PrometheusReplicaSpec,
    query_replicas: i32,
) -> Result<Option<QueryFrontend>> {
    let frontend = spec.query_frontend.clone().unwrap_or_default();
    if !frontend.enabled.unwrap_or(true) {
        return Ok(None);
    }
    let replicas = spec
        .replicas
        .as_ref()
        .and_then(|r| r.query_frontend)
        .unwrap_or(query_replicas);
    check_range("spec.replicas.queryFrontend", replicas, 1, 100)?;

    let split_interval = frontend.split_interval.unwrap_or_else(|| "24h".into());
    // With a response cache, 0 (no splitting) makes the frontend refuse to start.
    go_duration("spec.queryFrontend.splitInterval", &split_interval)?;
    let cache = frontend.cache.unwrap_or_default();
    // kube-thanos's default for the in-memory cache: long enough to serve a day's dashboards from the cache,
    // short enough that an answer computed while a store gateway was unreachable does not linger for a day.
    let cache_validity = cache.validity.unwrap_or_else(|| "6h".into());
    go_duration("spec.queryFrontend.cache.validity", &cache_validity)?;

    let field = "spec.queryFrontend.cache.maxSize";
    let cache_max_size = cache.max_size.unwrap_or_else(|| "256MB".into());
    let (digits, unit) = cache_max_size.split_at(
        cache_max_size
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(cache_max_size.len()),
    );
    let valid = (1..=6).contains(&digits.len())
        && !digits.starts_with('0')
        && matches!(unit, "KB" | "MB" | "GB");
    if !valid {
        return Err(Error::invalid(
            field,
            format!(
                "{:?} is not a cache size: use a number and KB, MB or GB, such as 256MB",
                short(&cache_max_size)
            ),
        ));
    }
    let power = match unit {
        "KB" => 3,
        "MB" => 6,
        _ => 9,
    };
    let cache_bytes = digits.parse::<u128>().expect("at most six digits") * 10u128.pow(power);
    Ok(Some(QueryFrontend {
        replicas,
        split_interval,
        cache_max_size,
        cache_bytes,
        cache_validity,
    }))
}

/// Check a duration that Thanos reads with Go's `time.ParseDuration` (hours, minutes and seconds only) and
/// that must be longer than 0.
fn go_duration(field: &str, value: &str) -> Result<()> {
    let go_units = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'h' | 'm' | 's'))
        && !value.contains("ms");
    match parse_duration(value).filter(|_| go_units) {
        None => Err(Error::invalid(
            field,
            format!(
                "{:?} is not a duration in hours, minutes and seconds, such as 24h or 1h30m",
                short(value)
            ),
        )),
        Some(0) => Err(Error::invalid(field, "must be longer than 0")),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn frontend(spec: Value) -> Result<Option<QueryFrontend>> {
        let mut full = json!({"configMap": "c", "bucketSecret": "b"});
        for (key, value) in spec.as_object().unwrap() {
            full[key] = value.clone();
        }
        query_frontend(&serde_json::from_value(full).unwrap(), 2)
    }

    #[test]
    fn the_frontend_runs_by_default_with_the_queriers_replica_count() {
        let frontend = frontend(json!({})).unwrap().unwrap();
        assert_eq!(frontend.replicas, 2);
        assert_eq!(frontend.split_interval, "24h");
        assert_eq!(frontend.cache_max_size, "256MB");
        assert_eq!(frontend.cache_bytes, 256_000_000);
        assert_eq!(frontend.cache_validity, "6h");
        let off = self::frontend(json!({"queryFrontend": {"enabled": false}})).unwrap();
        assert!(off.is_none());
        let three = self::frontend(json!({"replicas": {"queryFrontend": 3}})).unwrap();
        assert_eq!(three.unwrap().replicas, 3);
    }

    #[test]
    fn bad_frontend_settings_name_the_field() {
        for (spec, field) in [
            (
                json!({"queryFrontend": {"splitInterval": "1d"}}),
                "spec.queryFrontend.splitInterval",
            ),
            (
                json!({"queryFrontend": {"splitInterval": "0h"}}),
                "spec.queryFrontend.splitInterval",
            ),
            (
                json!({"queryFrontend": {"cache": {"maxSize": "256"}}}),
                "spec.queryFrontend.cache.maxSize",
            ),
            (
                json!({"queryFrontend": {"cache": {"maxSize": "1TB"}}}),
                "spec.queryFrontend.cache.maxSize",
            ),
            (
                json!({"replicas": {"queryFrontend": 0}}),
                "spec.replicas.queryFrontend",
            ),
            (
                json!({"queryFrontend": {"cache": {"validity": "1d"}}}),
                "spec.queryFrontend.cache.validity",
            ),
            (
                json!({"queryFrontend": {"cache": {"validity": "0s"}}}),
                "spec.queryFrontend.cache.validity",
            ),
        ] {
            match frontend(spec.clone()) {
                Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field, "{spec}"),
                other => panic!("{spec}: expected an invalid field, got {other:?}"),
            }
        }
        assert!(frontend(json!({"queryFrontend": {"splitInterval": "1h30m"}})).is_ok());
    }
}
