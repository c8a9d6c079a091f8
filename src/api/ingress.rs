//! The Ingresses made when `baseDomain` is set.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DNS1123_SUBDOMAIN_PATTERN;

/// Settings of the Ingresses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// IngressClass; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub class_name: Option<String>,
    /// One TLS Secret for every host: a certificate you provide that covers them all (a wildcard, say). Not
    /// for cert-manager's ingress-shim, which fills a Secret for one Ingress only: use `tlsPerHost`. Plain
    /// HTTP when neither is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub tls_secret_name: Option<String>,
    /// `true` gives each host a TLS Secret of its own, named after its Ingress: `<name>-query-tls`,
    /// `<name>-prometheus-tls`, `<name>-grafana-tls`, as cert-manager's ingress-shim needs (annotate
    /// `cert-manager.io/cluster-issuer`). Not together with `tlsSecretName`. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_per_host: Option<bool>,
    /// `true` also exposes Prometheus at `<name>-prometheus.<baseDomain>`, and gives it that URL as
    /// `--web.external-url` (the links in its alerts). Its HTTP API has no authentication: whoever reaches the
    /// host can query every series and read its configuration and targets, so add authentication through
    /// `annotations` first. The querier at `<name>-query.<baseDomain>` serves the same data, deduplicated.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_prometheus: Option<bool>,
    /// Annotations of every Ingress (for example for cert-manager or authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}
