//! The rules Prometheus applies when it loads a section, beyond the keys and the kinds of their values: the
//! `Validate` and `UnmarshalYAML` methods of `config/config.go`, `model/relabel`, `common/config`'s HTTP client
//! and the service discoveries, each checked here on the parsed section.

use std::borrow::Cow;

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::value::{self, Names};
use super::{Invalid, Path, scalar, schema};

mod discovery;
mod http;
mod relabel;
mod remote;
mod scrape;

use discovery::{discovery, kubernetes, targets};
use http::{headers, http_client};
use relabel::relabel;
use remote::{alertmanager, otlp, queue, remote_write, retention, tracing};
use scrape::{escaping_scheme, protocols, root, scrape};

/// What scrape configurations inherit from `global`.
pub struct Global {
    pub names: Names,
    /// Milliseconds.
    interval: u64,
    escaping: Option<String>,
}

impl Global {
    /// Prometheus's defaults, with what `global` sets; the values themselves are checked by the walk.
    pub fn read(global: Option<&Yaml>, path: &Path) -> Result<Self, Invalid> {
        let map = global.and_then(Yaml::as_mapping);
        let get = |key| map.and_then(|m| text(m, key));
        let names = match get("metric_name_validation_scheme") {
            Some(scheme) => Names::parse(&scheme)
                .map_err(|e| path.key("metric_name_validation_scheme").invalid(e))?
                .unwrap_or(Names::Utf8),
            None => Names::Utf8,
        };
        let duration = |key| {
            get(key)
                .and_then(|t| value::duration(&t).ok())
                .filter(|d| *d > 0)
        };
        let interval = duration("scrape_interval").unwrap_or(60_000);
        let timeout = duration("scrape_timeout");
        if timeout.is_some_and(|t| t > interval) {
            return Err(path
                .key("scrape_timeout")
                .invalid("is greater than global.scrape_interval"));
        }
        let escaping = get("metric_name_escaping_scheme").map(Cow::into_owned);
        if let Some(escaping) = &escaping {
            escaping_scheme(escaping)
                .map_err(|e| path.key("metric_name_escaping_scheme").invalid(e))?;
        }
        Ok(Self {
            names,
            interval,
            escaping,
        })
    }
}

/// The name validation scheme inside a section: a scrape configuration may set its own.
pub fn names_in(section: &str, map: &Mapping, path: &Path, names: Names) -> Result<Names, Invalid> {
    if section != "config.ScrapeConfig" {
        return Ok(names);
    }
    match text(map, "metric_name_validation_scheme") {
        Some(scheme) => Ok(Names::parse(&scheme)
            .map_err(|e| path.key("metric_name_validation_scheme").invalid(e))?
            .unwrap_or(names)),
        None => Ok(names),
    }
}

/// The rules of the section `name`.
pub fn check(
    name: &str,
    map: &Mapping,
    path: &Path,
    names: Names,
    global: &Global,
) -> Result<(), Invalid> {
    if schema().has_http_client(name) {
        http_client(map, path)?;
    }
    match name {
        "config.Config" => root(map, path),
        "config.GlobalConfig" => protocols(map, path),
        "config.ScrapeConfig" => scrape(map, path, global),
        "relabel.Config" => relabel(map, path, names),
        "config.AlertmanagerConfig" => alertmanager(map, path),
        "config.RemoteWriteConfig" => remote_write(map, path),
        "config.RemoteReadConfig" => {
            required(map, path, "url")?;
            headers(map, path, "headers")
        }
        "config.QueueConfig" => queue(map, path),
        "config.TSDBRetentionConfig" => retention(map, path),
        "config.ChunkEncodingConfig" => one_of(map, path, "floats", &["xor", "xor2"], false),
        "config.TracingConfig" => tracing(map, path),
        "targetgroup.Group" => targets(map, path),
        "config.OTLPConfig" => otlp(map, path, names),
        "kubernetes.SDConfig" => kubernetes(map, path),
        _ => discovery(name, map, path),
    }
}

/// A scalar value of `key` as text; `None` when absent or null.
fn text<'a>(map: &'a Mapping, key: &str) -> Option<Cow<'a, str>> {
    match map.get(key)? {
        Yaml::Null => None,
        value => scalar(value, &Path::ROOT).ok(),
    }
}

/// The items of the list `key`; none when absent or not a list.
fn items<'a>(map: &'a Mapping, key: &str) -> &'a [Yaml] {
    map.get(key)
        .and_then(Yaml::as_sequence)
        .map_or(&[][..], Vec::as_slice)
}

/// Whether `key` is set: present, not null and not an empty string.
fn set(map: &Mapping, key: &str) -> bool {
    match map.get(key) {
        None | Some(Yaml::Null) => false,
        Some(Yaml::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn required(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
    if set(map, key) {
        Ok(())
    } else {
        Err(path.key(key).invalid("must be set"))
    }
}

fn at_most_one(map: &Mapping, path: &Path, keys: &[&str]) -> Result<(), Invalid> {
    if keys.iter().filter(|k| set(map, k)).count() > 1 {
        return Err(path.invalid(format!("at most one of {} may be set", keys.join(", "))));
    }
    Ok(())
}

fn one_of(
    map: &Mapping,
    path: &Path,
    key: &str,
    values: &[&str],
    needed: bool,
) -> Result<(), Invalid> {
    match text(map, key) {
        None if needed => Err(path
            .key(key)
            .invalid(format!("must be set: one of {}", values.join(", ")))),
        Some(value) if !value.is_empty() && !values.contains(&value.as_ref()) => Err(path
            .key(key)
            .invalid(format!("{value:?} is not one of {}", values.join(", ")))),
        _ => Ok(()),
    }
}

fn duration(map: &Mapping, key: &str) -> Option<u64> {
    text(map, key).and_then(|t| value::duration(&t).ok())
}

fn exactly_one(map: &Mapping, path: &Path, keys: &[&str]) -> Result<(), Invalid> {
    at_most_one(map, path, keys)?;
    if !keys.iter().any(|k| set(map, k)) {
        return Err(path.invalid(format!("one of {} must be set", keys.join(", "))));
    }
    Ok(())
}
