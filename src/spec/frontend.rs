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

    let field = "spec.queryFrontend.splitInterval";
    let split_interval = frontend.split_interval.unwrap_or_else(|| "24h".into());
    // Thanos reads this flag with Go's time.ParseDuration: hours, minutes and seconds only. With a response
    // cache, 0 (no splitting) makes the frontend refuse to start.
    let go_units = !split_interval.is_empty()
        && split_interval.len() <= 32
        && split_interval
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'h' | 'm' | 's'))
        && !split_interval.contains("ms");
    match parse_duration(&split_interval).filter(|_| go_units) {
        None => {
            return Err(Error::invalid(
                field,
                format!(
                    "{:?} is not a duration in hours, minutes and seconds, such as 24h or 1h30m",
                    short(&split_interval)
                ),
            ));
        }
        Some(0) => return Err(Error::invalid(field, "must be longer than 0")),
        Some(_) => {}
    }

    let field = "spec.queryFrontend.cache.maxSize";
    let cache_max_size = frontend
        .cache
        .and_then(|c| c.max_size)
        .unwrap_or_else(|| "256MB".into());
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
    Ok(Some(QueryFrontend {
        replicas,
        split_interval,
        cache_max_size,
    }))
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
        ] {
            match frontend(spec.clone()) {
                Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field, "{spec}"),
                other => panic!("{spec}: expected an invalid field, got {other:?}"),
            }
        }
        assert!(frontend(json!({"queryFrontend": {"splitInterval": "1h30m"}})).is_ok());
    }
}
