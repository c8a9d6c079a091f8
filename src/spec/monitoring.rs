//! Self-monitoring and alert delivery, checked and defaulted.

use super::short;
use crate::api::PrometheusReplicaSpec;
use crate::{Error, Result};

/// One Alertmanager, from a URL of `spec.alerting.alertmanagers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alertmanager {
    /// `http` or `https`.
    pub scheme: String,
    /// `host` or `host:port`.
    pub host: String,
    /// The path under which the Alertmanager API is served, when not `/`.
    pub path_prefix: Option<String>,
}

/// Where the alerts' runbooks are by default: `docs/runbooks.md` of the project's repository (Cargo.toml's
/// `repository`, the GitHub organization of the image `ghcr.io/prometheus-replica-operator/...`), on its main
/// branch, whose anchors are the alert names.
pub const RUNBOOK_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/runbooks.md");

/// Whether self-monitoring is on (`spec.monitoring.enabled`, default true).
pub fn enabled(spec: &PrometheusReplicaSpec) -> bool {
    spec.monitoring
        .as_ref()
        .and_then(|m| m.enabled)
        .unwrap_or(true)
}

/// The runbooks' base URL (`spec.monitoring.runbookUrl`, checked as
/// [`crate::api::RUNBOOK_URL_PATTERN`] says), or [`RUNBOOK_URL`].
pub fn runbook_url(spec: &PrometheusReplicaSpec) -> Result<String> {
    let Some(url) = spec
        .monitoring
        .as_ref()
        .and_then(|m| m.runbook_url.as_ref())
    else {
        return Ok(RUNBOOK_URL.into());
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or_default();
    let fits = (8..=512).contains(&url.len())
        && !rest.is_empty()
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '#' | '{' | '}'));
    if !fits {
        return Err(Error::invalid(
            "spec.monitoring.runbookUrl",
            format!(
                "{:?} is not a runbooks URL: use http:// or https:// and at most 512 characters, with no space, \
                 '#' (each alert adds its anchor) or braces, such as https://wiki.example.org/runbooks.md",
                short(url)
            ),
        ));
    }
    Ok(url.clone())
}

/// The Alertmanagers of `spec.alerting.alertmanagers`, each URL checked.
pub fn alertmanagers(spec: &PrometheusReplicaSpec) -> Result<Vec<Alertmanager>> {
    let urls = spec
        .alerting
        .as_ref()
        .and_then(|a| a.alertmanagers.clone())
        .unwrap_or_default();
    if urls.len() > 10 {
        return Err(Error::invalid(
            "spec.alerting.alertmanagers",
            format!("has {} URLs; at most 10", urls.len()),
        ));
    }
    urls.iter()
        .enumerate()
        .map(|(index, url)| {
            alertmanager(url).ok_or_else(|| {
                Error::invalid(
                    format!("spec.alerting.alertmanagers[{index}]"),
                    format!(
                        "{:?} is not an Alertmanager URL: use http:// or https://, a host, an optional port and \
                         path, such as http://alertmanager.monitoring.svc:9093",
                        short(url)
                    ),
                )
            })
        })
        .collect()
}

/// The rule of [`crate::api::ALERTMANAGER_URL_PATTERN`].
fn alertmanager(url: &str) -> Option<Alertmanager> {
    if url.len() > 253 {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && host.starts_with(|c: char| c.is_ascii_alphanumeric())
        && host.ends_with(|c: char| c.is_ascii_alphanumeric());
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b));
    (host_ok && port_ok && path_ok).then(|| Alertmanager {
        scheme: scheme.into(),
        host: authority.into(),
        path_prefix: Some(path.trim_end_matches('/'))
            .filter(|p| !p.is_empty())
            .map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(urls: serde_json::Value) -> PrometheusReplicaSpec {
        serde_json::from_value(json!({"configMap": "c", "bucketSecret": "b",
            "alerting": {"alertmanagers": urls}}))
        .unwrap()
    }

    #[test]
    fn alertmanager_urls_split_into_scheme_host_and_path() {
        let managers = alertmanagers(&spec(json!([
            "http://alertmanager.monitoring.svc:9093",
            "https://am.example.org/alertmanager/"
        ])))
        .unwrap();
        assert_eq!(
            managers,
            [
                Alertmanager {
                    scheme: "http".into(),
                    host: "alertmanager.monitoring.svc:9093".into(),
                    path_prefix: None
                },
                Alertmanager {
                    scheme: "https".into(),
                    host: "am.example.org".into(),
                    path_prefix: Some("/alertmanager".into())
                },
            ]
        );
    }

    #[test]
    fn a_bad_alertmanager_url_names_its_index() {
        for bad in [
            "alertmanager:9093",
            "ftp://am",
            "http://",
            "http://am:port",
            "http://am/a b",
            "http://-am",
        ] {
            match alertmanagers(&spec(json!(["http://ok:9093", bad]))) {
                Err(Error::Invalid { field, .. }) => {
                    assert_eq!(field, "spec.alerting.alertmanagers[1]", "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_runbook_url_defaults_to_the_projects_runbooks_and_is_checked() {
        let spec = |url: serde_json::Value| -> PrometheusReplicaSpec {
            serde_json::from_value(json!({"configMap": "c", "bucketSecret": "b",
                "monitoring": {"runbookUrl": url}}))
            .unwrap()
        };
        assert_eq!(runbook_url(&spec(json!(null))).unwrap(), RUNBOOK_URL);
        // The default is an absolute URL of this repository's file, and passes the check a user's URL gets.
        assert!(
            RUNBOOK_URL.starts_with("https://github.com/")
                && RUNBOOK_URL.ends_with("/blob/main/docs/runbooks.md"),
            "{RUNBOOK_URL}"
        );
        assert_eq!(runbook_url(&spec(json!(RUNBOOK_URL))).unwrap(), RUNBOOK_URL);
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("docs/runbooks.md")
                .is_file()
        );
        assert_eq!(
            runbook_url(&spec(json!("https://wiki.example.org/ops/runbooks"))).unwrap(),
            "https://wiki.example.org/ops/runbooks"
        );
        for bad in [
            "docs/runbooks.md",
            "https://",
            "ftp://wiki/runbooks",
            "https://wiki/runbooks#top",
            "https://wiki/{{ $labels.job }}",
            "https://wiki/a b",
        ] {
            match runbook_url(&spec(json!(bad))) {
                Err(Error::Invalid { field, .. }) => {
                    assert_eq!(field, "spec.monitoring.runbookUrl", "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn monitoring_is_on_unless_turned_off() {
        assert!(enabled(&spec(json!([]))));
        let off: PrometheusReplicaSpec = serde_json::from_value(
            json!({"configMap": "c", "bucketSecret": "b", "monitoring": {"enabled": false}}),
        )
        .unwrap();
        assert!(!enabled(&off));
    }
}
