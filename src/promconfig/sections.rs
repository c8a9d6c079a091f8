//! The rules Prometheus applies when it loads a section, beyond the keys and the kinds of their values: the
//! `Validate` and `UnmarshalYAML` methods of `config/config.go`, `model/relabel`, `common/config`'s HTTP client
//! and the service discoveries, each checked here on the parsed section.

use std::borrow::Cow;

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::value::{self, Names};
use super::{Invalid, Path, scalar, schema};

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

fn root(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    // Prometheus allows a `*` only in the last element of a rule or scrape config file path.
    for key in ["rule_files", "scrape_config_files"] {
        for (index, pattern) in map
            .get(key)
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .enumerate()
        {
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
    let items = map
        .get(list)
        .and_then(Yaml::as_sequence)
        .map_or(&[][..], Vec::as_slice);
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

fn protocols(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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

fn escaping_scheme(value: &str) -> Result<(), String> {
    match value {
        "allow-utf-8" | "underscores" | "dots" | "values" => Ok(()),
        other => Err(format!(
            "unknown escaping scheme {other:?}: use allow-utf-8, underscores, dots or values"
        )),
    }
}

fn scrape(map: &Mapping, path: &Path, global: &Global) -> Result<(), Invalid> {
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

const ACTIONS: [&str; 11] = [
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

/// `relabel.Config.Validate`, with the defaults of `DefaultRelabelConfig`.
fn relabel(map: &Mapping, path: &Path, names: Names) -> Result<(), Invalid> {
    let action = match map.get("action") {
        None | Some(Yaml::Null) => "replace".to_string(),
        Some(value) => scalar(value, path)?.to_lowercase(),
    };
    let at = path.key("action");
    if action.is_empty() {
        return Err(at.invalid("cannot be empty"));
    }
    if !ACTIONS.contains(&action.as_str()) {
        return Err(at.invalid(format!(
            "unknown relabel action {action:?}: use one of {}",
            ACTIONS.join(", ")
        )));
    }
    let target = text(map, "target_label").unwrap_or_default();
    let replacement = text(map, "replacement");
    let default = |key: &str, default: &str| text(map, key).is_none_or(|v| v == default);
    let modulus = text(map, "modulus")
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(0);
    if action == "hashmod" && modulus == 0 {
        return Err(path
            .key("modulus")
            .invalid("must be set and non-zero for action hashmod"));
    }
    let needs_target = [
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ];
    if needs_target.contains(&action.as_str()) && target.is_empty() {
        return Err(path
            .key("target_label")
            .invalid(format!("must be set for action {action}")));
    }
    let target_ok = match action.as_str() {
        "replace" if target.contains('$') => names == Names::Utf8 || legacy_template(&target),
        "replace" | "hashmod" | "lowercase" | "uppercase" | "keepequal" | "dropequal" => {
            names.label_name(&target)
        }
        _ => true,
    };
    if !target_ok {
        return Err(path.key("target_label").invalid(format!(
            "{target:?} is not a valid label name for action {action}"
        )));
    }
    if ["lowercase", "uppercase", "keepequal", "dropequal"].contains(&action.as_str())
        && !default("replacement", "$1")
    {
        return Err(path
            .key("replacement")
            .invalid(format!("cannot be set for action {action}")));
    }
    if action == "labelmap" {
        let replacement = replacement.as_deref().unwrap_or("$1");
        let ok = match names {
            Names::Utf8 => !replacement.is_empty(),
            Names::Legacy => legacy_template(replacement),
        };
        if !ok {
            return Err(path.key("replacement").invalid(format!(
                "{replacement:?} is not a valid label name for action labelmap"
            )));
        }
    }
    let only = |allowed: &[&str], what: &str| -> Result<(), Invalid> {
        let others = [
            ("regex", default("regex", "(.*)")),
            ("modulus", modulus == 0),
            ("separator", default("separator", ";")),
            ("replacement", default("replacement", "$1")),
            ("source_labels", map.get("source_labels").is_none()),
            ("target_label", target.is_empty()),
        ];
        match others
            .iter()
            .find(|(key, unset)| !allowed.contains(key) && !unset)
        {
            Some((key, _)) => Err(path
                .key(key)
                .invalid(format!("action {action} takes only {what}"))),
            None => Ok(()),
        }
    };
    match action.as_str() {
        "keepequal" | "dropequal" => only(
            &["source_labels", "target_label"],
            "source_labels and target_label",
        ),
        "labeldrop" | "labelkeep" => only(&["regex"], "regex"),
        _ => Ok(()),
    }
}

/// Prometheus's legacy rule for a label name that holds `$1`-style references: `[a-zA-Z_]`, `$name` or `${name}`
/// in sequence, then word characters.
fn legacy_template(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_${}".contains(c))
}

const SECRETS: [&str; 2] = ["bearer_token", "bearer_token_file"];

/// `HTTPClientConfig.Validate` of `common/config`.
fn http_client(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    at_most_one(map, path, &SECRETS)?;
    let bearer = SECRETS.iter().any(|k| set(map, k));
    let (basic, oauth2, authorization) = (
        set(map, "basic_auth"),
        set(map, "oauth2"),
        set(map, "authorization"),
    );
    if (basic || oauth2) && bearer {
        return Err(path.invalid(
            "at most one of basic_auth, oauth2, bearer_token and bearer_token_file may be set",
        ));
    }
    if authorization && bearer {
        return Err(
            path.invalid("authorization cannot be set with bearer_token or bearer_token_file")
        );
    }
    if [basic, oauth2, authorization]
        .iter()
        .filter(|s| **s)
        .count()
        > 1
    {
        return Err(path.invalid("at most one of basic_auth, oauth2 and authorization may be set"));
    }
    if let Some(auth) = map.get("basic_auth").and_then(Yaml::as_mapping) {
        let at = path.key("basic_auth");
        at_most_one(auth, &at, &["username", "username_file", "username_ref"])?;
        at_most_one(auth, &at, &["password", "password_file", "password_ref"])?;
    }
    if let Some(auth) = map.get("authorization").and_then(Yaml::as_mapping) {
        let at = path.key("authorization");
        at_most_one(
            auth,
            &at,
            &["credentials", "credentials_file", "credentials_ref"],
        )?;
        if text(auth, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("basic")) {
            return Err(at.key("type").invalid("cannot be Basic: use basic_auth"));
        }
    }
    if let Some(oauth2) = map.get("oauth2").and_then(Yaml::as_mapping) {
        let at = path.key("oauth2");
        required(oauth2, &at, "client_id")?;
        required(oauth2, &at, "token_url")?;
        if text(oauth2, "grant_type").as_deref()
            == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            at_most_one(
                oauth2,
                &at,
                &[
                    "client_certificate_key",
                    "client_certificate_key_file",
                    "client_certificate_key_ref",
                ],
            )?;
        } else {
            at_most_one(
                oauth2,
                &at,
                &["client_secret", "client_secret_file", "client_secret_ref"],
            )?;
        }
    }
    // `ProxyConfig.Validate`.
    let from_environment = map.get("proxy_from_environment").and_then(Yaml::as_bool) == Some(true);
    let proxy_url = set(map, "proxy_url");
    if set(map, "proxy_connect_header") && !from_environment && !proxy_url {
        return Err(path
            .key("proxy_connect_header")
            .invalid("needs proxy_url or proxy_from_environment"));
    }
    if from_environment && (proxy_url || set(map, "no_proxy")) {
        return Err(path.invalid("proxy_from_environment cannot be set with proxy_url or no_proxy"));
    }
    if set(map, "no_proxy") && !proxy_url {
        return Err(path.key("no_proxy").invalid("needs proxy_url"));
    }
    Ok(())
}

/// Headers Prometheus sets itself.
const RESERVED_HEADERS: [&str; 17] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "authorization",
];

fn headers(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
    for (name, _) in map
        .get(key)
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = scalar(name, path)?;
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(path.key(key).key(&name).invalid(
                "is a header Prometheus sets itself (authorization: use basic_auth, authorization, oauth2 or sigv4)",
            ));
        }
    }
    Ok(())
}

fn alertmanager(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    one_of(map, path, "api_version", &["v2"], false)?;
    at_most_one(
        map,
        path,
        &["basic_auth", "authorization", "oauth2", "sigv4"],
    )
}

fn remote_write(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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

fn queue(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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

fn retention(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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

fn tracing(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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
fn otlp(map: &Mapping, path: &Path, names: Names) -> Result<(), Invalid> {
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
    if map
        .get(unused)
        .and_then(Yaml::as_sequence)
        .is_some_and(|l| !l.is_empty())
    {
        return Err(path.key(unused).invalid(if promote_all {
            "cannot be set with promote_all_resource_attributes"
        } else {
            "needs promote_all_resource_attributes: true"
        }));
    }
    let attributes = map
        .get(used)
        .and_then(Yaml::as_sequence)
        .map_or(&[][..], Vec::as_slice);
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

/// Static targets are host:port, never URLs.
fn targets(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    for (index, target) in map
        .get("targets")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let list = path.key("targets");
        let at = list.index(index);
        let target = scalar(target, &at)?;
        if target.contains('/') {
            return Err(at.invalid(format!(
                "{target:?} is not a valid host:port (no scheme or path)"
            )));
        }
    }
    Ok(())
}

const KUBERNETES_ROLES: [&str; 6] = [
    "pod",
    "service",
    "endpoints",
    "endpointslice",
    "node",
    "ingress",
];

/// `kubernetes.SDConfig.UnmarshalYAML`.
fn kubernetes(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    one_of(map, path, "role", &KUBERNETES_ROLES, true)?;
    let role = text(map, "role").unwrap_or_default();
    let (api_server, kubeconfig) = (set(map, "api_server"), set(map, "kubeconfig_file"));
    if api_server && kubeconfig {
        return Err(path.invalid("at most one of api_server and kubeconfig_file may be set"));
    }
    // A custom HTTP client: any of its keys but the two booleans at their default, true.
    let custom_http = map.iter().any(|(key, value)| {
        let key = key.as_str().unwrap_or_default();
        schema().kind("config.HTTPClientConfig", key).is_some()
            && !(matches!(key, "follow_redirects" | "enable_http2")
                && value.as_bool() == Some(true))
    });
    if kubeconfig && custom_http {
        return Err(path
            .key("kubeconfig_file")
            .invalid("cannot be set with an HTTP client configuration"));
    }
    if !api_server && custom_http {
        return Err(path
            .key("api_server")
            .invalid("must be set to use an HTTP client configuration"));
    }
    let own_namespace = map
        .get("namespaces")
        .and_then(|n| n.get("own_namespace"))
        .and_then(Yaml::as_bool)
        == Some(true);
    if own_namespace && (api_server || kubeconfig) {
        return Err(path
            .key("namespaces")
            .key("own_namespace")
            .invalid("cannot be set with api_server or kubeconfig_file"));
    }
    let allowed: &[&str] = match role.as_ref() {
        "pod" => &["pod", "node"],
        "endpointslice" => &["pod", "service", "endpointslice"],
        "endpoints" => &["pod", "service", "endpoints"],
        other => &[if other == "service" {
            "service"
        } else if other == "node" {
            "node"
        } else {
            "ingress"
        }],
    };
    let selectors = map
        .get("selectors")
        .and_then(Yaml::as_sequence)
        .map_or(&[][..], Vec::as_slice);
    for (index, selector) in selectors.iter().enumerate() {
        let list = path.key("selectors");
        let at = list.index(index);
        let Some(selector) = selector.as_mapping() else {
            continue;
        };
        let selector_role = text(selector, "role").unwrap_or_default();
        if !allowed.contains(&selector_role.as_ref()) {
            return Err(at.key("role").invalid(format!(
                "role {role} supports only {} selectors",
                allowed.join(", ")
            )));
        }
        let earlier = selectors[..index].iter().any(|s| {
            s.as_mapping().and_then(|s| text(s, "role")).as_deref() == Some(&selector_role)
        });
        if earlier {
            return Err(at
                .key("role")
                .invalid(format!("a selector of role {selector_role} comes earlier")));
        }
        if let Some(field) = text(selector, "field") {
            field_selector(&field).map_err(|e| at.key("field").invalid(e))?;
        }
    }
    Ok(())
}

/// A Kubernetes field selector: `key=value`, `key==value` or `key!=value`, joined by commas.
fn field_selector(selector: &str) -> Result<(), String> {
    for term in selector.split(',').filter(|t| !t.trim().is_empty()) {
        let ok = ["!=", "==", "="].iter().any(|op| {
            term.split_once(op)
                .is_some_and(|(key, _)| !key.trim().is_empty())
        });
        if !ok {
            return Err(format!(
                "{term:?} is not a field selector term (key=value, key!=value)"
            ));
        }
    }
    Ok(())
}

/// The checks of the other service discoveries: required keys, enumerations, exclusive keys, URLs.
fn discovery(name: &str, map: &Mapping, path: &Path) -> Result<(), Invalid> {
    match name {
        "openstack.SDConfig" => {
            one_of(
                map,
                path,
                "role",
                &["hypervisor", "instance", "loadbalancer"],
                true,
            )?;
            one_of(
                map,
                path,
                "availability",
                &["public", "admin", "internal"],
                false,
            )?;
            required(map, path, "region")
        }
        "hetzner.SDConfig" => one_of(map, path, "role", &["robot", "hcloud"], true),
        "scaleway.SDConfig" => {
            one_of(map, path, "role", &["instance", "baremetal"], true)?;
            required(map, path, "project_id")?;
            exactly_one(map, path, &["secret_key", "secret_key_file"])?;
            required(map, path, "access_key")
        }
        "outscale.SDConfig" => {
            required(map, path, "region")?;
            required(map, path, "access_key")?;
            exactly_one(map, path, &["secret_key", "secret_key_file"])
        }
        "azure.SDConfig" => {
            required(map, path, "subscription_id")?;
            let method = text(map, "authentication_method");
            if method.as_deref().is_none_or(|m| m == "OAuth") {
                for key in ["tenant_id", "client_id", "client_secret"] {
                    required(map, path, key)?;
                }
            }
            one_of(
                map,
                path,
                "authentication_method",
                &["OAuth", "ManagedIdentity", "SDK", "WorkloadIdentity"],
                false,
            )
        }
        "oci.SDConfig" => {
            required(map, path, "region")?;
            one_of(map, path, "auth", &["api_key", "instance_principal"], false)
        }
        "ovhcloud.SDConfig" => {
            for key in [
                "endpoint",
                "application_key",
                "application_secret",
                "consumer_key",
            ] {
                required(map, path, key)?;
            }
            one_of(map, path, "service", &["vps", "dedicated_server"], true)
        }
        "puppetdb.SDConfig" => {
            http_url(map, path, "url")?;
            required(map, path, "query")
        }
        "http.SDConfig" => http_url(map, path, "url"),
        "eureka.SDConfig" => {
            required(map, path, "server")?;
            url_with_host(map, path, "server")
        }
        "uyuni.SDConfig" => {
            for key in ["server", "username", "password"] {
                required(map, path, key)?;
            }
            Ok(())
        }
        "ionos.SDConfig" => required(map, path, "datacenter_id"),
        "marathon.SDConfig" => {
            if map
                .get("servers")
                .and_then(Yaml::as_sequence)
                .is_none_or(Vec::is_empty)
            {
                return Err(path
                    .key("servers")
                    .invalid("must list at least one Marathon server"));
            }
            let tokens = ["auth_token", "auth_token_file"];
            at_most_one(map, path, &tokens)?;
            if tokens.iter().any(|k| set(map, k)) {
                for key in [
                    "basic_auth",
                    "bearer_token",
                    "bearer_token_file",
                    "authorization",
                ] {
                    if set(map, key) {
                        return Err(path
                            .key(key)
                            .invalid("cannot be set with auth_token or auth_token_file"));
                    }
                }
            }
            Ok(())
        }
        "aws.EC2SDConfig" | "aws.SDConfig" | "aws.RDSSDConfig" => {
            for (index, filter) in map
                .get("filters")
                .and_then(Yaml::as_sequence)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if filter
                    .get("values")
                    .and_then(Yaml::as_sequence)
                    .is_none_or(Vec::is_empty)
                {
                    return Err(path
                        .key("filters")
                        .index(index)
                        .key("values")
                        .invalid("cannot be empty"));
                }
            }
            Ok(())
        }
        "stackit.SDConfig" => {
            // The region defaults to eu01: only an explicit empty one leaves neither.
            if !set(map, "endpoint") && map.get("region").is_some() && !set(map, "region") {
                return Err(path.invalid("one of endpoint and region must be set"));
            }
            // What Go's url.Parse refuses most often: a URL that starts with `:`, so has no scheme.
            if text(map, "endpoint").is_some_and(|e| e.starts_with(':')) {
                return Err(path
                    .key("endpoint")
                    .invalid("is not a URL: it has no scheme"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn exactly_one(map: &Mapping, path: &Path, keys: &[&str]) -> Result<(), Invalid> {
    at_most_one(map, path, keys)?;
    if !keys.iter().any(|k| set(map, k)) {
        return Err(path.invalid(format!("one of {} must be set", keys.join(", "))));
    }
    Ok(())
}

/// A URL with an `http` or `https` scheme and a host.
fn http_url(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
    required(map, path, key)?;
    let url = text(map, key).unwrap_or_default();
    let (scheme, _) = url.split_once("://").unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(path
            .key(key)
            .invalid(format!("{url:?}: the scheme must be http or https")));
    }
    url_with_host(map, path, key)
}

fn url_with_host(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
    let url = text(map, key).unwrap_or_default();
    let host = url
        .split_once("://")
        .filter(|(scheme, _)| !scheme.is_empty())
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
    if host.is_none_or(str::is_empty) {
        return Err(path
            .key(key)
            .invalid(format!("{url:?} is not a URL with a scheme and a host")));
    }
    Ok(())
}
