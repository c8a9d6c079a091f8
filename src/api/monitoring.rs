//! The stack watching itself: self-monitoring, alerting and Grafana.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ALERTMANAGER_URL_PATTERN, DNS1123_SUBDOMAIN_PATTERN, RUNBOOK_URL_PATTERN};

/// Self-monitoring.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Scrape every pod of the stack (jobs named `promrep-<component>`, found through DNS SRV records of
    /// headless Services) and load alert rules for what breaks a Thanos stack. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Base URL of the runbooks: each alert's `runbook_url` annotation is this URL followed by `#` and the
    /// alert's name in lower case (the anchors of the project's `docs/runbooks.md`). Default: that file in
    /// the project's repository. Set it to a copy your notifications can open (an internal wiki or mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 512), regex(pattern = RUNBOOK_URL_PATTERN))]
    pub runbook_url: Option<String>,
}

/// Alert delivery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertingSpec {
    /// Alertmanager URLs, such as `http://alertmanager.monitoring.svc:9093`; they become the configuration's
    /// `alerting.alertmanagers`, added to the user's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), inner(length(max = 253), regex(pattern = ALERTMANAGER_URL_PATTERN)))]
    pub alertmanagers: Option<Vec<String>>,
}

/// Grafana.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaSpec {
    /// Run `<name>-grafana`, with an Ingress at `<name>-grafana.<baseDomain>` when `baseDomain` is set.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Secret in the same namespace with the admin credentials, keys `admin-user` and `admin-password`.
    /// Required when Grafana is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub admin_secret: Option<String>,
}
