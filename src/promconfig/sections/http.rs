//! The HTTP client of `common/config`, the headers Prometheus reserves, and URLs.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::{Invalid, Path, at_most_one, required, scalar, set, text};

const SECRETS: [&str; 2] = ["bearer_token", "bearer_token_file"];

/// `HTTPClientConfig.Validate` of `common/config`.
pub(super) fn http_client(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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
pub(super) const RESERVED_HEADERS: [&str; 17] = [
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

pub(super) fn headers(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
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

/// A URL with an `http` or `https` scheme and a host.
pub(super) fn http_url(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
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

pub(super) fn url_with_host(map: &Mapping, path: &Path, key: &str) -> Result<(), Invalid> {
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
