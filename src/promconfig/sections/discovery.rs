//! Static targets and the service discoveries: Kubernetes's own rules, then a table of the others'.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::http::{http_url, url_with_host};
use super::{
    Invalid, Path, at_most_one, exactly_one, items, one_of, required, scalar, schema, set, text,
};

/// Static targets are host:port, never URLs.
pub(super) fn targets(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    for (index, target) in items(map, "targets").iter().enumerate() {
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
pub(super) fn kubernetes(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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
    let selectors = items(map, "selectors");
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

/// One rule of a service discovery's section.
enum Rule {
    /// The key must be set.
    Required(&'static str),
    /// The key must be set, to one of the values.
    OneOf(&'static str, &'static [&'static str]),
    /// The key, when set, must be one of the values.
    OneOfIfSet(&'static str, &'static [&'static str]),
    /// Exactly one of the keys must be set.
    ExactlyOne(&'static [&'static str]),
    /// The key must be set to a URL with an `http` or `https` scheme and a host.
    HttpUrl(&'static str),
    /// The key must be a URL with a scheme and a host.
    UrlWithHost(&'static str),
    /// A rule of the discovery's own.
    Own(fn(&Mapping, &Path) -> Result<(), Invalid>),
}

use Rule::{ExactlyOne, HttpUrl, OneOf, OneOfIfSet, Own, Required, UrlWithHost};

const SECRET_KEY: [&str; 2] = ["secret_key", "secret_key_file"];

/// The other service discoveries and their rules, checked in order: required keys, enumerations, exclusive
/// keys, URLs. A discovery not listed has none.
const DISCOVERIES: [(&str, &[Rule]); 17] = [
    (
        "openstack.SDConfig",
        &[
            OneOf("role", &["hypervisor", "instance", "loadbalancer"]),
            OneOfIfSet("availability", &["public", "admin", "internal"]),
            Required("region"),
        ],
    ),
    ("hetzner.SDConfig", &[OneOf("role", &["robot", "hcloud"])]),
    (
        "scaleway.SDConfig",
        &[
            OneOf("role", &["instance", "baremetal"]),
            Required("project_id"),
            ExactlyOne(&SECRET_KEY),
            Required("access_key"),
        ],
    ),
    (
        "outscale.SDConfig",
        &[
            Required("region"),
            Required("access_key"),
            ExactlyOne(&SECRET_KEY),
        ],
    ),
    (
        "azure.SDConfig",
        &[
            Required("subscription_id"),
            Own(azure_oauth),
            OneOfIfSet(
                "authentication_method",
                &["OAuth", "ManagedIdentity", "SDK", "WorkloadIdentity"],
            ),
        ],
    ),
    (
        "oci.SDConfig",
        &[
            Required("region"),
            OneOfIfSet("auth", &["api_key", "instance_principal"]),
        ],
    ),
    (
        "ovhcloud.SDConfig",
        &[
            Required("endpoint"),
            Required("application_key"),
            Required("application_secret"),
            Required("consumer_key"),
            OneOf("service", &["vps", "dedicated_server"]),
        ],
    ),
    ("puppetdb.SDConfig", &[HttpUrl("url"), Required("query")]),
    ("http.SDConfig", &[HttpUrl("url")]),
    (
        "eureka.SDConfig",
        &[Required("server"), UrlWithHost("server")],
    ),
    (
        "uyuni.SDConfig",
        &[
            Required("server"),
            Required("username"),
            Required("password"),
        ],
    ),
    ("ionos.SDConfig", &[Required("datacenter_id")]),
    ("marathon.SDConfig", &[Own(marathon)]),
    ("aws.EC2SDConfig", &[Own(aws_filters)]),
    ("aws.SDConfig", &[Own(aws_filters)]),
    ("aws.RDSSDConfig", &[Own(aws_filters)]),
    ("stackit.SDConfig", &[Own(stackit)]),
];

/// The checks of the other service discoveries, from [`DISCOVERIES`].
pub(super) fn discovery(name: &str, map: &Mapping, path: &Path) -> Result<(), Invalid> {
    let rules = DISCOVERIES
        .iter()
        .find(|(discovery, _)| *discovery == name)
        .map_or(&[][..], |(_, rules)| rules);
    rules.iter().try_for_each(|rule| rule.check(map, path))
}

impl Rule {
    fn check(&self, map: &Mapping, path: &Path) -> Result<(), Invalid> {
        match *self {
            Required(key) => required(map, path, key),
            OneOf(key, values) => one_of(map, path, key, values, true),
            OneOfIfSet(key, values) => one_of(map, path, key, values, false),
            ExactlyOne(keys) => exactly_one(map, path, keys),
            HttpUrl(key) => http_url(map, path, key),
            UrlWithHost(key) => url_with_host(map, path, key),
            Own(check) => check(map, path),
        }
    }
}

/// Azure's OAuth, the default authentication method, needs a tenant, a client and its secret.
fn azure_oauth(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    let method = text(map, "authentication_method");
    if method.as_deref().is_none_or(|m| m == "OAuth") {
        for key in ["tenant_id", "client_id", "client_secret"] {
            required(map, path, key)?;
        }
    }
    Ok(())
}

/// Marathon needs a server, and its own token excludes the HTTP client's credentials.
fn marathon(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    if no_items(map.get("servers")) {
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

/// An AWS filter needs values.
fn aws_filters(map: &Mapping, path: &Path) -> Result<(), Invalid> {
    for (index, filter) in items(map, "filters").iter().enumerate() {
        if no_items(filter.get("values")) {
            return Err(path
                .key("filters")
                .index(index)
                .key("values")
                .invalid("cannot be empty"));
        }
    }
    Ok(())
}

/// Whether a list is absent, not a list, or empty.
fn no_items(list: Option<&Yaml>) -> bool {
    list.and_then(Yaml::as_sequence).is_none_or(Vec::is_empty)
}

/// STACKIT needs an endpoint or a region, and an endpoint with a scheme.
fn stackit(map: &Mapping, path: &Path) -> Result<(), Invalid> {
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
