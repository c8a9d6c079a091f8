//! Where Prometheus sends: Alertmanager, remote write and read, their queues, tracing and OTLP; and the
//! TSDB's retention.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::http::{RESERVED_HEADERS, headers};
use super::{
    Invalid, Names, Path, at_most_one, duration, items, one_of, required, scalar, text, value,
};

pub(super) fn alertmanager(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    one_of(map, path, "api_version", &["v2"], false)?;
    at_most_one(
        map,
        path,
        &["basic_auth", "authorization", "oauth2", "sigv4"],
    )
}

pub(super) fn remote_write(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    required(map, path, "url")?;
    headers(map, path, "headers")?;
    one_of(
        map,
        path,
        "protobuf_message",
        &["prometheus.WriteRequest", "io.prometheus.write.v2.Request"],
        false,
    )?;
    at_most_one(
        map,
        path,
        &[
            "basic_auth",
            "authorization",
            "oauth2",
            "sigv4",
            "azuread",
            "google_iam",
        ],
    )
}

pub(super) fn queue(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    let int = |key, default: i64| {
        text(map, key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    for (key, default) in [
        ("max_shards", 50),
        ("min_shards", 1),
        ("max_samples_per_send", 2000),
        ("capacity", 10_000),
    ] {
        if map.get(key).is_some() && int(key, default) <= 0 {
            return Err(path.key(key).invalid("must be positive"));
        }
    }
    if int("min_shards", 1) > int("max_shards", 50) {
        return Err(path
            .key("min_shards")
            .invalid("must not be greater than max_shards"));
    }
    if duration(map, "max_backoff").unwrap_or(5_000) < duration(map, "min_backoff").unwrap_or(30) {
        return Err(path
            .key("max_backoff")
            .invalid("must not be less than min_backoff"));
    }
    Ok(())
}

pub(super) fn retention(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    if text(map, "size").is_some_and(|s| value::size(&s) == Ok(true)) {
        return Err(path
            .key("size")
            .invalid("must be greater than or equal to 0"));
    }
    if let Some(percentage) = text(map, "percentage").and_then(|p| p.parse::<f64>().ok())
        && !(0.0..=100.0).contains(&percentage)
    {
        return Err(path
            .key("percentage")
            .invalid("must be in the range 0 to 100"));
    }
    Ok(())
}

pub(super) fn tracing(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    one_of(map, path, "client_type", &["grpc", "http"], false)?;
    for (name, _) in map
        .get("headers")
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = scalar(name, path)?;
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(path
                .key("headers")
                .key(&name)
                .invalid("is a header Prometheus sets itself"));
        }
    }
    required(map, path, "endpoint")?;
    one_of(map, path, "compression", &["gzip"], false)
}

/// `OTLPConfig.UnmarshalYAML`, and the translation strategies of `config.Load`.
pub(super) fn otlp(map: &Mapping, path: &Path, names: Names) -> Result<(), Invalid> {
    let strategies = [
        "UnderscoreEscapingWithSuffixes",
        "UnderscoreEscapingWithoutSuffixes",
        "NoUTF8EscapingWithSuffixes",
        "NoTranslation",
    ];
    let legacy = &strategies[..2];
    one_of(
        map,
        path,
        "translation_strategy",
        if names == Names::Legacy {
            legacy
        } else {
            &strategies
        },
        false,
    )?;
    let promote_all = map
        .get("promote_all_resource_attributes")
        .and_then(Yaml::as_bool)
        == Some(true);
    let (used, unused) = if promote_all {
        ("ignore_resource_attributes", "promote_resource_attributes")
    } else {
        ("promote_resource_attributes", "ignore_resource_attributes")
    };
    if !items(map, unused).is_empty() {
        return Err(path.key(unused).invalid(if promote_all {
            "cannot be set with promote_all_resource_attributes"
        } else {
            "needs promote_all_resource_attributes: true"
        }));
    }
    let attributes = items(map, used);
    for (index, attribute) in attributes.iter().enumerate() {
        let list = path.key(used);
        let at = list.index(index);
        let trimmed = |v: &Yaml| v.as_str().map(str::trim).unwrap_or_default().to_owned();
        let name = trimmed(attribute);
        if name.is_empty() {
            return Err(at.invalid("is empty"));
        }
        if attributes[..index].iter().any(|a| trimmed(a) == name) {
            return Err(at.invalid(format!("{name:?} is listed twice")));
        }
    }
    Ok(())
}
