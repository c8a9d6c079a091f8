//! The configuration's root, `global`'s scrape protocols and each scrape configuration.

use std::borrow::Cow;

use serde_yaml_ng::Mapping;

use super::{Global, Invalid, Names, Path, duration, items, required, scalar, text};

pub(super) fn root(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    // Prometheus allows a `*` only in the last element of a rule or scrape config file path.
    for key in ["rule_files", "scrape_config_files"] {
        for (index, pattern) in items(map, key).iter().enumerate() {
            let at = path.key(key);
            let pattern = scalar(pattern, &at.index(index))?;
            let last = pattern.rfind('/').map_or(0, |slash| slash + 1);
            if pattern[..last].contains('*') {
                return Err(at.index(index).invalid(format!(
                    "{pattern:?} is not a valid file path: a '*' may only be in its last element"
                )));
            }
        }
    }
    unique(map, path, "scrape_configs", "job_name")?;
    unique(map, path, "remote_write", "name")?;
    unique(map, path, "remote_read", "name")
}

/// No two entries of the list `list` with the same `key`.
fn unique(map: &Mapping, path: &Path, list: &str, key: &str) -> Result<(), Invalid> {
    let items = items(map, list);
    for (index, item) in items.iter().enumerate() {
        let Some(name) = item
            .as_mapping()
            .and_then(|m| text(m, key))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let earlier = items[..index]
            .iter()
            .filter_map(|i| i.as_mapping().and_then(|m| text(m, key)))
            .any(|n| n == name);
        if earlier {
            return Err(path.key(list).index(index).key(key).invalid(format!(
                "{name:?} is used by an earlier entry: each must be unique"
            )));
        }
    }
    Ok(())
}

const PROTOCOLS: [&str; 5] = [
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusProto",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];

pub(super) fn protocols(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    let Some(list) = map.get("scrape_protocols").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let at = path.key("scrape_protocols");
    let items = list.as_sequence().map_or(&[][..], Vec::as_slice);
    if items.is_empty() {
        return Err(at.invalid("cannot be empty"));
    }
    for (index, item) in items.iter().enumerate() {
        let protocol = scalar(item, &at.index(index))?;
        if !PROTOCOLS.contains(&protocol.as_ref()) {
            return Err(at.index(index).invalid(format!(
                "unknown scrape protocol {protocol:?}: use one of {}",
                PROTOCOLS.join(", ")
            )));
        }
        if items[..index].iter().any(|i| i.as_str() == Some(&protocol)) {
            return Err(at
                .index(index)
                .invalid(format!("{protocol} is listed twice")));
        }
    }
    Ok(())
}

pub(super) fn escaping_scheme(value: &str) -> Result<(), String> {
    match value {
        "allow-utf-8" | "underscores" | "dots" | "values" => Ok(()),
        other => Err(format!(
            "unknown escaping scheme {other:?}: use allow-utf-8, underscores, dots or values"
        )),
    }
}

pub(super) fn scrape(map: &Mapping, path: &Path, global: &Global) -> Result<(), Invalid> {
    required(map, path, "job_name")?;
    let interval = duration(map, "scrape_interval")
        .filter(|d| *d > 0)
        .unwrap_or(global.interval);
    if duration(map, "scrape_timeout").is_some_and(|t| t > interval) {
        return Err(path
            .key("scrape_timeout")
            .invalid("is greater than the scrape interval"));
    }
    protocols(map, path)?;
    if let Some(fallback) = text(map, "fallback_scrape_protocol").filter(|f| !f.is_empty())
        && !PROTOCOLS.contains(&fallback.as_ref())
    {
        return Err(path.key("fallback_scrape_protocol").invalid(format!(
            "unknown scrape protocol {fallback:?}: use one of {}",
            PROTOCOLS.join(", ")
        )));
    }
    // The escaping scheme: as set; else global's when the scrape config sets no validation scheme of its own;
    // else derived from the validation scheme. `allow-utf-8` needs the UTF-8 scheme.
    let local =
        text(map, "metric_name_validation_scheme").and_then(|s| Names::parse(&s).ok().flatten());
    let names = local.unwrap_or(global.names);
    let derived = if names == Names::Legacy {
        "underscores"
    } else {
        "allow-utf-8"
    };
    let escaping = match text(map, "metric_name_escaping_scheme").filter(|e| !e.is_empty()) {
        Some(escaping) => {
            escaping_scheme(&escaping)
                .map_err(|e| path.key("metric_name_escaping_scheme").invalid(e))?;
            escaping
        }
        None if local.is_none() => Cow::Borrowed(global.escaping.as_deref().unwrap_or(derived)),
        None => Cow::Borrowed(derived),
    };
    if escaping == "allow-utf-8" && names != Names::Utf8 {
        return Err(path
            .key("metric_name_escaping_scheme")
            .invalid("allow-utf-8 (UTF-8 metric names) needs metric_name_validation_scheme utf8"));
    }
    Ok(())
}
