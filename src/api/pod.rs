//! Scheduling of every pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Toleration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DNS1123_SUBDOMAIN_PATTERN;

/// Scheduling of every pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Node selector of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// PriorityClass of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub priority_class_name: Option<String>,
    /// Anti-affinity of the replicas of one component when there are several: `soft` (default) prefers
    /// distinct nodes, `hard` requires them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Spread of the replicas of one component over zones (`topology.kubernetes.io/zone`) when there are
    /// several: `soft` (default) prefers distinct zones, `hard` requires a balanced spread (a node without the
    /// zone label then takes none of them), `none` leaves it to the scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread: Option<TopologySpread>,
    /// An existing ServiceAccount of the namespace for every pod, with the permissions the user grants it
    /// (for example for cloud workload identity). When absent, Prometheus runs as the rendered
    /// `<name>-prometheus`, which may get, list and watch pods, services, endpoints and endpointslices of the
    /// namespace, and the Thanos pods mount no token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub service_account_name: Option<String>,
}

/// How strictly replicas are kept on distinct nodes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AntiAffinity {
    /// Preferred: replicas share a node only when they must.
    #[default]
    Soft,
    /// Required: a replica stays pending rather than share a node.
    Hard,
}

/// How strictly replicas are spread over zones.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TopologySpread {
    /// Preferred: `whenUnsatisfiable: ScheduleAnyway`.
    #[default]
    Soft,
    /// Required: `whenUnsatisfiable: DoNotSchedule`.
    Hard,
    /// No spread constraint.
    None,
}
